"""The native path's authorization shortcut (gnocchi_rs.rest.policy)
against oslo.policy's enforcer itself: for any rules, targets and
credentials, the same decisions, with the enforcer run once per distinct
set of the values the rule reads, or for every target when what the rule
reads cannot be told.
"""
from __future__ import annotations

import hypothesis
import pytest
from hypothesis import strategies as st
from oslo_config import cfg
from oslo_policy import policy as oslo_policy

from gnocchi_rs.rest import policy

_RULES = {
    "admin": "role:admin",
    "owner": "project_id:%(resource.project_id)s",
    "post measures": "rule:admin or user:%(creator)s or rule:owner "
                     "or (role:reader and 'x':%(name)s)",
    "opaque": "rule:admin or @",
    # A rule naming an undefined rule: oslo's Rules answer with the
    # default rule, which reads the creator.
    "via default": "rule:undefined",
    "default": "user:%(creator)s",
    # A whole-target template, and conversions other than str().
    "whole": "'{}':%s",
    "repr": "user:%(creator)r",
    "escaped": "'%%(x)s':%(name)s",
    "numbers": "'1':%(count)s",
    # A check that may read the whole target (never enforced here).
    "remote": "http://127.0.0.1:9/%(name)s",
}
_targets = st.fixed_dictionaries({
    "creator": st.sampled_from(["a", "b", None]),
    "name": st.sampled_from(["x", "y", "%(x)s"]),
    "count": st.sampled_from([1, "1", True, 1.0, 0]),
    "id": st.uuids(),
}, optional={"resource": st.one_of(
    st.fixed_dictionaries({"project_id": st.sampled_from(["p", "q"])}),
    st.just({}), st.just("flat"))})
_creds = st.fixed_dictionaries({
    "user": st.sampled_from(["a", "b", "'a'"]),
    "project_id": st.sampled_from(["p", "q", None]),
    "roles": st.lists(st.sampled_from(["admin", "reader", "member"]),
                      max_size=2)})


def _enforcer(default_rule=None):
    conf = cfg.ConfigOpts()
    conf([])
    # The enforcer's default rule (oslo's option says "default") is the
    # one its Rules answer a missing name with.
    enforcer = oslo_policy.Enforcer(
        conf, use_conf=False, default_rule=default_rule or "not defined")
    enforcer.set_rules(oslo_policy.Rules.from_dict(_RULES), overwrite=True)
    enforcer.load_rules = lambda *a, **k: None       # the rules set above
    return enforcer


@hypothesis.settings(max_examples=300, deadline=None)
@hypothesis.given(st.lists(_targets, min_size=1, max_size=20), _creds,
                  st.sampled_from(sorted(set(_RULES) - {"remote"}) + ["missing"]),
                  st.sampled_from([None, "default"]))
def test_policy_decisions_are_the_enforcers(targets, creds, rule,
                                            default_rule):
    enforcer = _enforcer(default_rule)
    calls = []
    enforce = enforcer.enforce
    enforcer.enforce = lambda r, t, c: calls.append(t) or enforce(r, t, c)
    decisions = policy.Decisions(enforcer, rule, creds)
    got = [decisions.allowed(t) for t in targets]
    assert got == [enforce(rule, policy.flattened(t), creds)
                   for t in targets]
    flat = [decisions.allowed_flattened(policy.flattened(t))
            for t in targets]
    assert flat == got
    if rule == "post measures":
        assert decisions.keys == ("creator", "name", "resource.project_id")
        assert len(calls) <= 3 * 3 * 3


@pytest.mark.parametrize("rule, default_rule, keys", [
    ("post measures", None, ("creator", "name", "resource.project_id")),
    ("via default", "default", ("creator",)),
    ("via default", None, ()),          # fails closed, reads nothing
    ("missing", "default", ("creator",)),
    ("numbers", None, ("count",)),
    ("escaped", None, ("name",)),
    ("opaque", None, ()),
    ("whole", None, None), ("repr", None, None), ("remote", None, None),
])
def test_what_a_rule_reads(rule, default_rule, keys):
    decisions = policy.Decisions(_enforcer(default_rule), rule, {})
    assert decisions.keys == keys


def test_values_decide_by_their_text():
    """1 and True are equal in Python but format differently."""
    enforcer = _enforcer()
    decisions = policy.Decisions(enforcer, "numbers", {})
    got = [decisions.allowed({"count": c}) for c in (1, True, "1", 1.0)]
    assert got == [True, False, True, False]


# -- decisions kept across requests -------------------------------------------

@hypothesis.settings(max_examples=200, deadline=None)
@hypothesis.given(st.lists(st.tuples(_creds, _targets), min_size=1,
                           max_size=30),
                  st.sampled_from(sorted(set(_RULES) - {"remote"})))
def test_shared_decisions_are_the_enforcers(requests, rule):
    """One SharedDecisions for a run of requests with varying credentials
    and targets: every answer the enforcer's."""
    enforcer = _enforcer("default")
    shared = policy.SharedDecisions(enforcer)
    for creds, target in requests:
        decisions = shared.decisions(rule, creds)
        assert decisions.allowed(target) == enforcer.enforce(
            rule, policy.flattened(target), creds)


def test_shared_decisions_follow_a_changed_policy_file(tmp_path):
    """The enforcer reads its policy file again when it changes; the kept
    decisions go with the old rules."""
    import os

    path = tmp_path / "policy.yaml"
    path.write_text('"post measures": "user:%(creator)s"\n')
    conf = cfg.ConfigOpts()
    conf([])
    enforcer = oslo_policy.Enforcer(conf, policy_file=str(path))
    shared = policy.SharedDecisions(enforcer)
    creds = {"user": "a", "roles": []}
    target = {"creator": "a", "name": "x"}
    assert shared.decisions("post measures", creds).allowed(target)
    assert shared.decisions("post measures", creds).allowed(target)
    path.write_text('"post measures": "user:%(name)s"\n')
    stat = os.stat(path)
    os.utime(path, (stat.st_atime, stat.st_mtime + 10))
    assert not shared.decisions("post measures", creds).allowed(target)
    assert shared.decisions("post measures", creds).allowed(
        {"creator": "b", "name": "a"})


def test_credentials_that_are_not_plain_are_not_shared():
    enforcer = _enforcer()
    shared = policy.SharedDecisions(enforcer)
    odd = {"user": "a", "roles": {"admin"}}
    assert shared.decisions("admin", odd) is not \
        shared.decisions("admin", odd)
    plain = {"user": "a", "roles": ["admin"]}
    assert shared.decisions("admin", plain) is \
        shared.decisions("admin", dict(plain))
    # A tuple is not a list to a check: not the same credentials.
    assert shared.decisions("admin", plain) is not \
        shared.decisions("admin", {"user": "a", "roles": ("admin",)})


class _Jsonified:
    def __init__(self, value):
        self.value = value

    def jsonify(self):
        return self.value


_leaves = st.one_of(st.none(), st.booleans(), st.integers(-2, 2),
                    st.floats(allow_nan=False), st.text(max_size=3),
                    st.uuids(), st.datetimes(),
                    st.lists(st.integers(0, 2), max_size=2))
_subjects = st.recursive(
    _leaves,
    lambda children: st.one_of(
        st.dictionaries(st.sampled_from(["a", "b", "c"]), children,
                        max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "c"]), children,
                        max_size=3).map(_Jsonified)),
    max_leaves=12)


@hypothesis.settings(max_examples=400, deadline=None)
@hypothesis.given(st.dictionaries(st.sampled_from(["a", "b", "c"]),
                                  _subjects, max_size=3).map(_Jsonified),
                  st.lists(st.sampled_from(
                      ["a", "b", "a.b", "b.c", "a.b.c", "c.a.a", "z"]),
                      max_size=4))
def test_primitive_values_are_those_of_the_flattened_primitive(subject,
                                                               keys):
    from gnocchi import json as gnocchi_json

    flat = policy.flattened(gnocchi_json.to_primitive(subject))
    assert policy.primitive_values(subject, tuple(keys)) == tuple(
        policy._text(flat.get(k, policy._MISSING)) for k in keys)
