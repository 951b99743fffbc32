"""gnocchi_rs.rest.policy.remember_policy_search: oslo.policy's search for
its files is remembered for a second, and the decisions stay upstream's:
an edited policy file counts at the next check, a created one within the
period."""
from __future__ import annotations

import json
import os
import time

import pytest

from gnocchi_rs.rest import policy

CREDS = {"roles": ["member"], "user_id": "u", "project_id": "p"}
TARGET = {"created_by_project_id": "other"}


@pytest.fixture
def enforcer(tmp_path):
    from gnocchi.rest import policies
    from oslo_config import cfg
    from oslo_policy import opts

    conf = cfg.ConfigOpts()
    opts.set_defaults(conf)
    conf([], project="gnocchi-test")
    conf.set_override("policy_file", str(tmp_path / "policy.json"),
                      "oslo_policy")
    conf.set_override("policy_dirs", [str(tmp_path / "policy.d")],
                      "oslo_policy")
    found = policies.init(conf)
    searches = []
    search = found._get_policy_path

    def counted(path):
        searches.append(path)
        return search(path)

    found._get_policy_path = counted
    policy.remember_policy_search(found)
    policy.remember_policy_search(found)  # installs once
    return found, searches, tmp_path


def _write(path, rules):
    path.write_text(json.dumps(rules))
    # A distinct mtime, as an operator's later edit has.
    stamp = time.time() + len(path.read_text())
    os.utime(path, (stamp, stamp))


def test_absent_files_are_searched_once_per_period(enforcer):
    found, searches, _ = enforcer
    for _ in range(50):
        assert found.enforce("get metric", TARGET, CREDS) is False
    assert len(searches) == 2  # the policy file and the policy.d directory


def test_a_created_file_counts_after_the_period_and_edits_at_once(
        enforcer, monkeypatch):
    found, searches, tmp_path = enforcer
    monkeypatch.setattr(policy._RememberedSearch, "PERIOD", 0.05)
    assert found.enforce("get metric", TARGET, CREDS) is False
    _write(tmp_path / "policy.json", {"get metric": ""})
    time.sleep(0.06)
    assert found.enforce("get metric", TARGET, CREDS) is True
    _write(tmp_path / "policy.json", {"get metric": "!"})
    assert found.enforce("get metric", TARGET, CREDS) is False
