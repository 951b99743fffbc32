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
    """The decisions of ``enforcer`` on ``rule`` for one request's
    credentials, remembered by the values the rule reads."""

    def __init__(self, enforcer, rule, creds):
        self.enforcer = enforcer
        self.rule = rule
        self.creds = creds
        enforcer.load_rules()
        try:
            check = enforcer.rules[rule]
        except KeyError:
            check = None
        keys = None if check is None else _target_keys(
            check, enforcer.rules, frozenset((rule,)))
        self.keys = None if keys is None else tuple(sorted(keys))
        self._known = {}

    def allowed_flattened(self, flat):
        """``enforcer.enforce(rule, flat, creds)`` for a target already
        flattened."""
        key = None if self.keys is None else tuple(
            _text(flat.get(k, _MISSING)) for k in self.keys)
        if key is not None:
            try:
                return self._known[key]
            except KeyError:
                pass
        decision = self.enforcer.enforce(self.rule, flat, self.creds)
        if key is not None:
            self._known[key] = decision
        return decision

    def allowed(self, target):
        """``enforcer.enforce(rule, flattened(target), creds)``, for a
        target dictionary as upstream's ``api.enforce`` receives it."""
        key = None if self.keys is None else _projection(target, self.keys)
        if key is not None:
            try:
                return self._known[key]
            except KeyError:
                pass
        decision = self.enforcer.enforce(self.rule, flattened(target),
                                         self.creds)
        if key is not None:
            self._known[key] = decision
        return decision


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
