"""The policy check call with its arity kept (gnocchi_rs.rest.policy
.keep_check_arity) against oslo.policy's own: the same decisions for
checks whose ``__call__`` takes the current rule and for legacy ones that
do not, and the same arguments passed."""
from __future__ import annotations

from oslo_config import cfg
from oslo_policy import _checks
from oslo_policy import policy as oslo_policy

from gnocchi_rs.rest import policy

ORIGINAL = _checks._check
seen = []


class LegacyCheck(_checks.Check):
    def __call__(self, target, creds, enforcer):
        seen.append(("legacy", self.match))
        return target.get("owner") == self.match


class CurrentRuleCheck(_checks.Check):
    def __call__(self, target, creds, enforcer, current_rule=None):
        seen.append(("current", current_rule))
        return creds.get("user") == self.match


def _enforcer():
    conf = cfg.ConfigOpts()
    conf([], project="test")
    enforcer = oslo_policy.Enforcer(conf, use_conf=False)
    enforcer.set_rules(oslo_policy.Rules.from_dict({
        "read": "(legacy:alice or current:bob) and not legacy:mallory",
        "write": "rule:read and current:bob",
    }), overwrite=True, use_conf=False)
    return enforcer


def test_same_decisions_and_arguments_as_oslo_policy(monkeypatch):
    oslo_policy.register("legacy", LegacyCheck)
    oslo_policy.register("current", CurrentRuleCheck)
    cases = [(rule, {"owner": owner}, {"user": user})
             for rule in ("read", "write")
             for owner in ("alice", "mallory", "carol")
             for user in ("bob", "eve")]
    enforcer = _enforcer()
    monkeypatch.setattr(_checks, "_check", ORIGINAL)
    seen.clear()
    expected = [enforcer.enforce(*case) for case in cases]
    expected_calls = list(seen)
    assert policy.keep_check_arity()
    assert _checks._check is policy._check_with_known_arity
    seen.clear()
    assert [enforcer.enforce(*case) for case in cases] == expected
    assert seen == expected_calls
    assert True in expected and False in expected
    assert ("current", "write") in seen and ("legacy", "alice") in seen


def test_not_installed_over_another_check_function(monkeypatch):
    def _check(rule, target, creds):
        return True

    monkeypatch.setattr(_checks, "_check", _check)
    assert not policy.keep_check_arity()
    assert _checks._check is _check
