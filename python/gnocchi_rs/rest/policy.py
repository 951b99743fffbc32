"""Upstream's authorization decisions for many targets at the price of a
few: an oslo.policy rule reads only some attributes of its target (the
``%(name)s`` of its checks); targets that agree on those get the same
decision, so the enforcer runs once per distinct set of those values.

A rule with a check whose reads cannot be known (a custom or ``http:``
check, which may read the whole target) is enforced for every target, as
upstream does.
"""
from __future__ import annotations

import inspect
import re
import time
from collections import abc

from gnocchi import json as gnocchi_json
from gnocchi.rest import api as upstream_api
from oslo_config import cfg
from oslo_policy import _checks

_TARGET_REFERENCE = re.compile(r"%\(([^)]*)\)s")
_MISSING = object()


def _references(match):
    """The target keys a check's ``match % target`` reads, or None when the
    template reads more than named ``%(key)s`` values (``%s`` formats the
    whole target, ``%(key)r`` or ``%(key)d`` more than the value's text)."""
    template = match.replace("%%", "")
    keys = _TARGET_REFERENCE.findall(template)
    if template.count("%") != len(keys):
        return None
    return set(keys)


def _target_keys(check, rules, seen):
    """The target keys ``check`` reads, or None when that cannot be told."""
    if isinstance(check, (_checks.TrueCheck, _checks.FalseCheck)):
        return set()
    if isinstance(check, (_checks.AndCheck, _checks.OrCheck)):
        keys = set()
        for sub in check.rules:
            sub_keys = _target_keys(sub, rules, seen)
            if sub_keys is None:
                return None
            keys |= sub_keys
        return keys
    if isinstance(check, _checks.NotCheck):
        return _target_keys(check.rule, rules, seen)
    if isinstance(check, _checks.RuleCheck):
        if check.match in seen:
            return set()
        try:
            # Indexing, not .get(): oslo's Rules answer a missing name with
            # the default rule.
            rule = rules[check.match]
        except KeyError:
            return set()                # fails closed, reads nothing
        return _target_keys(rule, rules, seen | {check.match})
    if type(check) in (_checks.GenericCheck, _checks.RoleCheck):
        return _references(check.match)
    return None


def _plain(target):
    """Whether ``target`` is plain dictionaries down to its leaves, with
    string keys without dots: then a flattened key names one path."""
    for key, value in target.items():
        if not isinstance(key, str) or "." in key:
            return False
        if isinstance(value, upstream_api.FLATTEN_DICT_TYPES):
            if not isinstance(value, abc.Mapping) or not _plain(value):
                return False
    return True


def _projection(target, keys):
    """``tuple(flatten(target).get(k) for k in keys)`` without flattening,
    or None when ``target`` is not plain."""
    if not _plain(target):
        return None
    values = []
    for key in keys:
        node = target
        for part in key.split("."):
            if isinstance(node, abc.Mapping) and part in node:
                node = node[part]
            else:
                node = _MISSING
                break
        # A dictionary is no leaf: flattening descends into it.
        values.append(_text(_MISSING if isinstance(node, abc.Mapping)
                            else node))
    return tuple(values)


def _text(value):
    """What a check sees of a value: ``%(key)s`` formats it with str(), so
    values with the same text (1 and "1", not 1 and True) decide alike."""
    return value if value is _MISSING else str(value)


def flattened(target):
    """The target as upstream's ``api.enforce`` hands it to oslo.policy."""
    return dict(upstream_api.flatten_dict_to_keypairs(d=target,
                                                      separator="."))


class Decisions:
    """The decisions of ``enforcer`` on ``rule`` for one set of
    credentials, remembered by the values the rule reads (at most
    ``MAX_KNOWN`` of them)."""

    MAX_KNOWN = 4096

    def __init__(self, enforcer, rule, creds, load=True):
        self.enforcer = enforcer
        self.rule = rule
        self.creds = creds
        if load:
            enforcer.load_rules()
        # The rules the keys below are read from: a decision is kept only
        # while they are the enforcer's (enforce itself may reload them).
        self._rules = enforcer.rules
        try:
            check = enforcer.rules[rule]
        except KeyError:
            check = None
        keys = None if check is None else _target_keys(
            check, enforcer.rules, frozenset((rule,)))
        self.keys = None if keys is None else tuple(sorted(keys))
        self._known = {}

    def allowed_by(self, values, flattened):
        """``enforcer.enforce(rule, flattened(), creds)``, remembered by
        ``values(keys)``: the texts of the flattened target's values of
        the keys the rule reads (``_MISSING`` for an absent one)."""
        key = None if self.keys is None else values(self.keys)
        if key is not None:
            try:
                return self._known[key]
            except KeyError:
                pass
        decision = self.enforcer.enforce(self.rule, flattened(), self.creds)
        if key is not None and self.enforcer.rules is self._rules:
            if len(self._known) >= self.MAX_KNOWN:
                self._known.clear()
            self._known[key] = decision
        return decision

    def allowed_flattened(self, flat):
        """``enforcer.enforce(rule, flat, creds)`` for a target already
        flattened."""
        return self.allowed_by(
            lambda keys: tuple(_text(flat.get(k, _MISSING)) for k in keys),
            lambda: flat)

    def allowed(self, target):
        """``enforcer.enforce(rule, flattened(target), creds)``, for a
        target dictionary as upstream's ``api.enforce`` receives it."""
        return self.allowed_by(lambda keys: _projection(target, keys),
                               lambda: flattened(target))


def primitive_values(subject, keys):
    """``tuple(_text(flattened(to_primitive(subject)).get(k, _MISSING))
    for k in keys)`` without converting or flattening the whole subject:
    each key's path followed as ``to_primitive`` would convert the nodes
    on it (``jsonify()``, ``items()``), only its leaf converted. For
    subjects whose dictionaries have string keys without dots (a metric
    and its resource and archive policy), where a flattened key names
    one path."""
    values = []
    for key in keys:
        node = subject
        for part in key.split("."):
            node = _mapping_of(node)
            if node is None or part not in node:
                node = _MISSING
                break
            node = node[part]
        if node is not _MISSING:
            node = gnocchi_json.to_primitive(node)
        # A dictionary is no leaf: flattening descends into it.
        values.append(_text(_MISSING if isinstance(node, abc.Mapping)
                            else node))
    return tuple(values)


def _mapping_of(node):
    """The dictionary ``to_primitive`` makes of ``node``'s own level, or
    None for a leaf (its order of tests)."""
    if isinstance(node, (str, int, type(None), bool, float)):
        return None
    if hasattr(node, "jsonify"):
        return _mapping_of(node.jsonify())
    if isinstance(node, dict):
        return node
    if hasattr(node, "items"):
        return dict(node.items())
    return None


def _frozen(value):
    """``value`` as a hashable key that tells apart what a check could
    (types included), or TypeError."""
    if isinstance(value, (str, int, float, bool, type(None))):
        return (type(value), value)
    if isinstance(value, (list, tuple)):
        return (type(value), tuple(_frozen(v) for v in value))
    if isinstance(value, dict):
        return (dict, tuple(sorted((k, _frozen(v))
                                   for k, v in value.items())))
    raise TypeError("not a plain value: %r" % type(value))


class SharedDecisions:
    """``Decisions`` kept across requests, per rule and credentials, for
    as long as the enforcer's rules are the ones they were made under.

    A decision of oslo.policy's enforcer depends on the rule's checks,
    the credentials and the target's values its checks read; the first
    two are the key of a ``Decisions``, which remembers the third. Each
    call reloads the rules as ``enforce`` does (a changed policy file is
    read), and compares them with the ones the kept decisions were made
    under: the rules object, its default rule, every (name, check) pair
    (checks are new objects when parsed again; the pairs are held, so no
    identity is reused) and the two options that change how the enforcer
    reads them. On any difference all kept decisions are dropped.
    Credentials that are not plain values, and rules whose reads cannot be
    known, get a ``Decisions`` of their own, as before."""

    MAX_CREDENTIALS = 512

    def __init__(self, enforcer):
        self.enforcer = enforcer
        self._snapshot = None
        self._kept = {}

    def _rules_snapshot(self):
        enforcer = self.enforcer
        rules = enforcer.rules
        options = getattr(getattr(enforcer, "conf", None), "oslo_policy",
                          None)
        return (rules, rules.default_rule,
                getattr(options, "enforce_scope", None),
                getattr(options, "enforce_new_defaults", None),
                tuple(rules.items()))

    def decisions(self, rule, creds):
        self.enforcer.load_rules()
        snapshot = self._rules_snapshot()
        if snapshot != self._snapshot:
            # A new generation: decisions in flight keep the old dict.
            self._kept = {}
            self._snapshot = snapshot
        try:
            key = (rule, _frozen(creds))
        except TypeError:
            return Decisions(self.enforcer, rule, creds, load=False)
        kept = self._kept
        found = kept.get(key)
        if found is None:
            if len(kept) >= self.MAX_CREDENTIALS:
                kept.clear()
            found = kept[key] = Decisions(self.enforcer, rule, creds,
                                          load=False)
        return found


_EXPECTED_CHECK_PARAMETERS = ("rule", "target", "creds", "enforcer",
                              "current_rule")
_takes_current_rule = {}


def _check_with_known_arity(rule, target, creds, enforcer, current_rule):
    """oslo.policy's ``_checks._check``, which inspects the signature of
    the check's ``__call__`` at every call (``getfullargspec``, about a
    quarter of a small request's policy cost), with the answer kept per
    ``__call__`` function: the same call, the same decision."""
    call = rule.__call__
    function = getattr(call, "__func__", None)
    takes = _takes_current_rule.get(function) if function else None
    if takes is None:
        takes = len(inspect.getfullargspec(call).args) > 4
        if function is not None:
            _takes_current_rule[function] = takes
    if takes:
        return rule(target, creds, enforcer, current_rule)
    return rule(target, creds, enforcer)


def keep_check_arity():
    """Installs ``_check_with_known_arity`` in oslo.policy, when its
    ``_check`` is the one it replaces (same parameters); returns whether
    it did."""
    original = getattr(_checks, "_check", None)
    if original is _check_with_known_arity:
        return True
    if original is None or tuple(inspect.signature(
            original).parameters) != _EXPECTED_CHECK_PARAMETERS:
        return False
    _checks._check = _check_with_known_arity
    return True


class _RememberedSearch:
    """oslo.policy's search for the policy file and the policy.d
    directories (``Enforcer._get_policy_path``), its answers kept for a
    second. While they are absent (the embedded default has neither) the
    enforcer searches every configuration directory on every check:
    about a third of a small request's CPU. A found file is still
    checked for changes on every check (oslo.policy reads its mtime);
    only a file created or removed takes up to a second to be seen."""

    PERIOD = 1.0

    def __init__(self, search):
        self.search = search
        self.answers = {}

    def __call__(self, path):
        now = time.monotonic()
        known = self.answers.get(path)
        if known is None or now - known[0] >= self.PERIOD:
            try:
                found = self.search(path)
            except cfg.ConfigFilesNotFoundError:
                found = None
            known = self.answers[path] = (now, found)
        if known[1] is None:
            raise cfg.ConfigFilesNotFoundError([path])
        return known[1]


def remember_policy_search(enforcer):
    """Install ``_RememberedSearch`` on ``enforcer`` (once)."""
    search = getattr(enforcer, "_get_policy_path", None)
    if search is not None and not isinstance(search, _RememberedSearch):
        enforcer._get_policy_path = _RememberedSearch(search)
