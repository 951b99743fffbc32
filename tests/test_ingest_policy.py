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
