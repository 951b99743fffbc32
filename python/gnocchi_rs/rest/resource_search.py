"""The resources side of a ``POST /v1/aggregates`` search (``resource_type``
and ``search`` in the body): upstream's policy filter, the resources'
grouping and the metric references their wildcards name, as upstream's
``AggregatesController`` builds them.
"""
from __future__ import annotations

import fnmatch
import itertools

import webob
from gnocchi.rest import auth_helper
from gnocchi.rest.aggregates import processor

from gnocchi_rs.rest import policy
from gnocchi_rs.rest.routing import Declined

SEARCH_RULE = "search resource"
_NO_FILTER = (auth_helper.BasicAuthHelper.get_resource_policy_filter,
              auth_helper.RemoteUserAuthHelper.get_resource_policy_filter)
_KEYSTONE_FILTER = auth_helper.KeystoneAuthHelper.get_resource_policy_filter


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
