"""The resources side of a ``POST /v1/aggregates`` search (``resource_type``
and ``search`` in the body): upstream's policy filter, the resources'
grouping and the metric references their wildcards name, as upstream's
``AggregatesController`` builds them.
"""
from __future__ import annotations

import copy
import fnmatch
import functools
import itertools
import json

import pecan
import voluptuous
import webob
from gnocchi.rest import api
from gnocchi.rest import auth_helper
from gnocchi.rest.aggregates import api as aggregates_api
from gnocchi.rest.aggregates import processor

from gnocchi_rs.rest import policy
from gnocchi_rs.rest.routing import Declined

SEARCH_RULE = "search resource"
_NO_FILTER = (auth_helper.BasicAuthHelper.get_resource_policy_filter,
              auth_helper.RemoteUserAuthHelper.get_resource_policy_filter)
_KEYSTONE_FILTER = auth_helper.KeystoneAuthHelper.get_resource_policy_filter


def search_schema(search):
    """``api.ResourceSearchSchema(search)``: upstream builds and compiles
    its schema at every call (a third of a grouped search's checks), for
    the user of ``pecan.request``, whose resource ids it reads; here the
    compiled schema is kept per user. Nested ``and``/``or`` terms go
    through upstream's function, as they do upstream."""
    request = pecan.request
    return _compiled_search_schema(
        request.auth_helper.get_current_user(request))(search)


@functools.lru_cache(maxsize=256)
def _compiled_search_schema(user):
    # Upstream's builder reads the same user from pecan.request.
    return api._ResourceSearchSchema()


# Longest operations tree (as JSON) or search string whose check is kept.
_LARGEST_KEPT = 8192


@functools.lru_cache(maxsize=256)
def _parsed_kept(query):
    return api.QueryStringSearchAttrFilter._parse(query)


def _parsed(query):
    if len(query) > _LARGEST_KEPT:
        return api.QueryStringSearchAttrFilter._parse(query)
    return _parsed_kept(query)


def search_string(query):
    """``QueryStringSearchAttrFilter.parse``: the string's parse (pyparsing,
    most of a search's cost) remembered, its validation (which reads the
    user) done each time."""
    if not isinstance(query, str):
        raise voluptuous.Invalid("not a search string")
    return api.validate(search_schema, copy.deepcopy(_parsed(query)),
                        required=True)


def _any_resource_type(resource_type):
    # Upstream's schema looks the type up here; the search that follows
    # does too, and a type it does not find is upstream's to answer.
    return resource_type


_OPERATIONS_LISTS = voluptuous.Schema(
    voluptuous.Any(*aggregates_api.OperationsSchemaBase), required=True)


def _operations(value):
    """``OperationsSchema``, its schema compiled once (upstream compiles
    it at every call) for operations already lists, and its answer kept
    for the trees it accepted: the schema reads nothing but the tree, and
    clients send the same trees again (an alarm at every evaluation, a
    dashboard at every refresh). Refusals are not kept: the schema runs
    again and raises its own error."""
    if isinstance(value, str):
        return aggregates_api.OperationsSchema(value)
    try:
        key = json.dumps(value)
    except (TypeError, ValueError):
        return _OPERATIONS_LISTS(value)
    if len(key) > _LARGEST_KEPT:
        # Bodies may be large: the cache holds small trees only.
        return _OPERATIONS_LISTS(value)
    # The evaluation's own copy: nothing it does reaches the kept one.
    return copy.deepcopy(_checked_operations(key))


@functools.lru_cache(maxsize=1024)
def _checked_operations(tree_json):
    # A refusal raises and is not kept.
    return _OPERATIONS_LISTS(json.loads(tree_json))


# Upstream's ``AggregatesController.FetchSchema``, but for those three.
FETCH_SCHEMA = voluptuous.Schema(voluptuous.Any({
    "operations": _operations,
}, {
    "operations": _operations,
    "resource_type": _any_resource_type,
    "search": voluptuous.Any(search_schema, search_string),
}), required=True)


def policy_filter(hook, environ, resource_type):
    """What ``auth_helper.get_resource_policy_filter`` returns for this
    request: None (every resource), or the ``{"or": [...]}`` of the
    project's resources; Declined where upstream answers 403, or for an
    auth helper of another kind (upstream's code decides)."""
    helper = hook.auth_helper
    method = type(helper).get_resource_policy_filter
    if method in _NO_FILTER:
        return None
    if method is not _KEYSTONE_FILTER:
        raise Declined("an auth helper of its own")
    request = webob.Request(environ)
    creds = helper.get_auth_info(request)

    def allowed(target):
        return hook.policy_enforcer.enforce(
            SEARCH_RULE, policy.flattened(target), creds)

    if allowed({"resource_type": resource_type}):
        return None
    project_id = request.headers.get("X-Project-Id")
    filters = []
    if allowed({"resource_type": resource_type, "project_id": project_id}):
        filters.append({"=": {"project_id": project_id}})
    if allowed({"resource_type": resource_type,
                "created_by_project_id": project_id}):
        filters.append({"like": {"creator": "%:" + project_id}}
                       if project_id else {"=": {"creator": None}})
    if not filters:
        raise Declined("insufficient privileges")
    return {"or": filters}


def attribute_filter(search, policy_filter):
    """The indexer's filter: the body's ``search`` within the policy's."""
    if not policy_filter:
        return search
    if search:
        return {"and": [policy_filter, search]}
    return policy_filter


def groups(resources, groupby):
    """[(group dict, resources)] of resources sorted by ``groupby``, as
    upstream's ``itertools.groupby`` over them makes it."""
    def key(resource):
        return tuple((attribute, resource[attribute])
                     for attribute in groupby)

    return [(dict(found), list(members))
            for found, members in itertools.groupby(resources, key)]


def references(resources, wildcards):
    """The metric references of ``resources`` for the body's
    [(wildcard, aggregation)], in upstream's order."""
    return [processor.MetricReference(metric, aggregation, resource,
                                      wildcard)
            for resource in resources
            for wildcard, aggregation in wildcards
            for metric in resource.metrics
            if fnmatch.fnmatch(metric.name, wildcard)]
