"""The SQLite indexer (gnocchi_rs.indexer_sqlite) on real database files:
schema creation, the behaviours SQLite breaks in upstream's indexer, and
several processes writing to one file."""
from __future__ import annotations

import datetime
import os
import sqlite3
import subprocess
import sys
import time
import uuid

import pytest
import sqlalchemy
from gnocchi import archive_policy
from gnocchi import indexer
from gnocchi import service

from gnocchi_rs import indexer_sqlite


def write_config(directory):
    (directory / "gnocchi.conf").write_text(
        "[DEFAULT]\n"
        "coordination_url = file://%s/coordination\n"
        "[indexer]\n"
        "url = sqlite:///%s/index.sqlite\n" % (directory, directory))


def load_conf(directory):
    return service.prepare_service(
        [], default_config_files=[str(directory / "gnocchi.conf")],
        skip_log_opts=True)


def make_conf(directory):
    write_config(directory)
    return load_conf(directory)


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "index.sqlite"


@pytest.fixture
def index(tmp_path):
    driver = indexer.get_driver(make_conf(tmp_path))
    driver.upgrade()
    driver.create_archive_policy(archive_policy.ArchivePolicy(
        "low", 0, [archive_policy.ArchivePolicyItem(granularity=60,
                                                     points=10)]))
    yield driver
    driver.disconnect()


def utc(*args):
    return datetime.datetime(*args, tzinfo=datetime.timezone.utc)


def schema_of(db_path):
    with sqlite3.connect(db_path) as db:
        return sorted(db.execute("SELECT type, name, sql FROM sqlite_master"))


def table_names(db_path):
    with sqlite3.connect(db_path) as db:
        return {row[0] for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}


# ------------------------------------------------------------------ schema

def test_url_scheme_selects_the_sqlite_indexer(tmp_path):
    driver = indexer.get_driver(make_conf(tmp_path))
    assert isinstance(driver, indexer_sqlite.SQLiteIndexer)
    assert str(driver) == "SQLiteIndexer: sqlite:///%s/index.sqlite" % tmp_path


def test_missing_directories_of_the_database_are_created(tmp_path):
    nested = tmp_path / "not" / "there" / "yet"
    (tmp_path / "gnocchi.conf").write_text(
        "[DEFAULT]\ncoordination_url = file://%s/coordination\n"
        "[indexer]\nurl = sqlite:///%s/index.sqlite\n" % (tmp_path, nested))
    driver = indexer.get_driver(load_conf(tmp_path))
    driver.upgrade()
    driver.disconnect()
    assert (nested / "index.sqlite").is_file()


def test_fresh_upgrade_then_second_upgrade_is_a_no_op(tmp_path, db_path):
    driver = indexer.get_driver(make_conf(tmp_path))
    driver.upgrade()
    schema = schema_of(db_path)
    assert {"resource", "metric", "archive_policy", "alembic_version"} <= (
        table_names(db_path))
    with sqlite3.connect(db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        (revision,), = db.execute("SELECT version_num FROM alembic_version")

    started = time.monotonic()
    driver.upgrade()
    assert time.monotonic() - started < 1
    assert schema_of(db_path) == schema
    with sqlite3.connect(db_path) as db:
        assert db.execute(
            "SELECT version_num FROM alembic_version").fetchall() == [
                (revision,)]
    assert [rt.name for rt in driver.list_resource_types()] == ["generic"]


# Databases at other revisions: tests/test_sqlite_upgrade.py.


def test_building_the_schema_by_migrations_is_refused(tmp_path, db_path):
    driver = indexer.get_driver(make_conf(tmp_path))
    with pytest.raises(indexer.IndexerException, match="migrations"):
        driver.upgrade(nocreate=True)
    driver.upgrade()
    driver.upgrade(nocreate=True)   # at head already: nothing to migrate


# ---------------------------------------------------------- archive policies

def test_archive_policy_in_use_is_refused(index):
    metric_id = uuid.uuid4()
    index.create_metric(metric_id, "creator", "low")
    with pytest.raises(indexer.ArchivePolicyInUse):
        index.delete_archive_policy("low")

    index.expunge_metric(metric_id)
    index.create_archive_policy_rule("all", "*", "low")
    with pytest.raises(indexer.ArchivePolicyInUse):
        index.delete_archive_policy("low")

    index.delete_archive_policy_rule("all")
    index.delete_archive_policy("low")
    assert index.get_archive_policy("low") is None


def test_unknown_references_are_named(index):
    with pytest.raises(indexer.NoSuchArchivePolicy):
        index.create_metric(uuid.uuid4(), "creator", "nope")
    with pytest.raises(indexer.NoSuchResource):
        index.create_metric(uuid.uuid4(), "creator", "low",
                            resource_id=uuid.uuid4())
    with pytest.raises(indexer.NoSuchArchivePolicy):
        index.create_archive_policy_rule("rule", "*", "nope")
    with pytest.raises(indexer.NoSuchArchivePolicy):
        index.create_resource("generic", uuid.uuid4(), "creator",
                              metrics={"cpu": {"archive_policy_name": "nope"}})


# ----------------------------------------------------------------- resources

def test_ended_at_before_started_at_is_a_resource_value_error(index):
    resource_id = uuid.uuid4()
    index.create_resource("generic", resource_id, "creator",
                          started_at=utc(2020, 1, 1))
    with pytest.raises(indexer.ResourceValueError):
        index.update_resource("generic", resource_id,
                              ended_at=utc(2019, 1, 1))
    assert index.get_resource("generic", resource_id).ended_at is None


def test_lifespan_filter(index):
    resource_id = uuid.uuid4()
    index.create_resource("generic", resource_id, "creator",
                          started_at=utc(2020, 1, 1, 12),
                          ended_at=utc(2020, 1, 1, 13))

    def matching(op, seconds):
        found = index.list_resources("generic", attribute_filter={
            op: {"lifespan": seconds}})
        return [r.id for r in found]

    assert matching(">", 1800) == [resource_id]
    assert matching("=", 3600) == [resource_id]
    assert matching(">", 3600) == []
    assert matching("<", 7200) == [resource_id]
    assert matching("!=", 3600) == []


def test_deleting_a_resource_cascades(index, db_path):
    mgr = index.get_resource_type_schema()
    index.create_resource_type(mgr.resource_type_from_dict("host", {
        "name": {"type": "string", "required": True, "max_length": 20,
                 "min_length": 1}}, "creating"))
    resource_id = uuid.uuid4()
    index.create_resource("host", resource_id, "creator", name="a",
                          metrics={"cpu": {"archive_policy_name": "low"}})
    index.update_resource("host", resource_id, name="b")
    (metric,) = index.list_metrics(attribute_filter={"=": {"name": "cpu"}})

    index.delete_resource(resource_id)

    tablename = index.get_resource_type("host").tablename
    with sqlite3.connect(db_path) as db:
        for table in (tablename, tablename + "_history", "resource_history"):
            assert db.execute("SELECT count(*) FROM %s" % table).fetchone() \
                == (0,), table
    (metric,) = index.list_metrics(status="delete",
                                   attribute_filter={"=": {"id": metric.id}})
    assert metric.resource_id is None


# ------------------------------------------------------------ resource types

def test_resource_type_create_update_delete(index, db_path):
    mgr = index.get_resource_type_schema()
    index.create_resource_type(mgr.resource_type_from_dict("host", {
        "name": {"type": "string", "required": True, "max_length": 20,
                 "min_length": 1},
        "flavor": {"type": "string", "required": False, "max_length": 20,
                   "min_length": 1},
    }, "creating"))
    tablename = index.get_resource_type("host").tablename
    resource_id = uuid.uuid4()
    index.create_resource("host", resource_id, "creator", name="a")
    index.update_resource("host", resource_id, name="b")  # one history row

    # Add a required attribute (filled) and an optional one, drop one,
    # and make an optional attribute required (filling its nulls).
    added = mgr.resource_type_from_dict("host", {
        "cores": {"type": "number", "required": True, "min": 0, "max": 64,
                  "options": {"fill": 4}},
        "since": {"type": "datetime", "required": False,
                  "options": {"fill": "2020-01-02T03:04:05+00:00"}},
    }, "creating").attributes
    now_required = mgr.resource_type_from_dict("host", {
        "flavor": {"type": "string", "required": True, "max_length": 20,
                   "min_length": 1, "options": {"fill": "small"}},
    }, "creating").attributes
    old_flavor = [a for a in index.get_resource_type("host").attributes
                  if a.name == "flavor"]
    rt = index.update_resource_type(
        "host", add_attributes=added, del_attributes=["name"],
        update_attributes=list(zip(now_required, old_flavor)))

    assert sorted(a.name for a in rt.attributes) == ["cores", "flavor",
                                                     "since"]
    assert {a.name: a.required for a in index.get_resource_type(
        "host").attributes} == {"cores": True, "flavor": True,
                                "since": False}
    resource = index.get_resource("host", resource_id)
    assert resource.cores == 4
    assert resource.flavor == "small"
    assert resource.since == utc(2020, 1, 2, 3, 4, 5)
    assert not hasattr(resource, "name")
    history = index.list_resources("host", {"=": {"id": resource_id}},
                                   history=True)
    assert [r.cores for r in history] == [4, 4]
    with sqlite3.connect(db_path) as db:
        columns = {row[1]: row[3] for row in db.execute(
            "PRAGMA table_info(%s)" % tablename)}   # name: notnull
        assert columns == {"id": 1, "flavor": 1, "cores": 1, "since": 0}
        # The foreign key survives the table's recreation.
        assert db.execute("PRAGMA foreign_key_list(%s)" % tablename
                          ).fetchone()[2] == "resource"
        with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
            db.execute("UPDATE %s SET cores = NULL" % tablename)

    with pytest.raises(indexer.ResourceTypeInUse):
        index.delete_resource_type("host")
    index.delete_resource(resource_id)
    index.delete_resource_type("host")
    with pytest.raises(indexer.NoSuchResourceType):
        index.get_resource_type("host")
    assert not {tablename, tablename + "_history"} & table_names(db_path)


# --------------------------------------------------------------- concurrency

WRITER = r"""
import os, sys, time, uuid
sys.path.insert(0, os.path.dirname(sys.argv[1]))
from pathlib import Path
from gnocchi import indexer
from test_sqlite_indexer import load_conf

directory, go_file = Path(sys.argv[2]), Path(sys.argv[3])
count = int(sys.argv[4])
index = indexer.get_driver(load_conf(directory))
print("ready", flush=True)
while not go_file.exists():
    time.sleep(0.01)
index.upgrade()
for i in range(count):
    metric_id = uuid.uuid4()
    index.create_metric(metric_id, "writer", "low")
    index.update_last_measure_timestamp(metric_id)
    if i % 4 == 0:
        # Reads then writes in one transaction: a reader turning writer
        # fails at once under contention unless writers begin IMMEDIATE.
        resource_id = uuid.uuid4()
        index.create_resource("generic", resource_id, "writer")
        index.update_resource("generic", resource_id, user_id=str(i))
print("done", flush=True)
"""


def run_writers(directory, processes, count):
    """Start the processes, then let them all go at once."""
    write_config(directory)
    go_file = directory / "go"
    writers = [subprocess.Popen(
        [sys.executable, "-c", WRITER, __file__, str(directory), str(go_file),
         str(count)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True) for _ in range(processes)]
    try:
        for writer in writers:
            assert writer.stdout.readline() == "ready\n", \
                writer.stderr.read()
        go_file.touch()
        for writer in writers:
            out, err = writer.communicate(timeout=120)
            assert writer.returncode == 0, err
            assert out == "done\n"
            assert "database is locked" not in err
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()


def test_concurrent_upgrades_of_a_fresh_database(tmp_path, db_path):
    run_writers(tmp_path, processes=3, count=0)
    with sqlite3.connect(db_path) as db:
        assert db.execute("SELECT count(*) FROM alembic_version"
                          ).fetchone() == (1,)
        assert db.execute("SELECT name FROM resource_type").fetchall() == [
            ("generic",)]


def test_two_processes_write_concurrently(index, tmp_path):
    run_writers(tmp_path, processes=2, count=200)

    metrics = index.list_metrics(attribute_filter={"=": {"creator":
                                                         "writer"}})
    assert len(metrics) == 400
    assert all(m.last_measure_timestamp is not None for m in metrics)
    resources = index.list_resources("generic", attribute_filter={
        "=": {"creator": "writer"}}, history=True)
    assert len(resources) == 2 * 50 * 2   # each with one history revision


# ------------------------------------------------- metricd's batched updates

def test_batched_update_after_processing(index):
    from gnocchi_rs import indexer_batch

    def ns(moment):
        return int(moment.timestamp()) * 10 ** 9

    ended_before, ended_after = uuid.uuid4(), uuid.uuid4()
    for resource_id in (ended_before, ended_after):
        index.create_resource("generic", resource_id, "creator",
                              started_at=utc(2020, 1, 1),
                              ended_at=utc(2020, 1, 2),
                              metrics={"cpu": {"archive_policy_name": "low"}})
    loose = index.create_metric(uuid.uuid4(), "creator", "low")
    metrics = index.list_metrics(attribute_filter={"in": {"id": [
        index.get_resource("generic", r, with_metrics=True).metrics[0].id
        for r in (ended_before, ended_after)] + [loose.id]}})
    by_resource = {m.resource_id: m for m in metrics}
    stamped_before = {m.id: m.last_measure_timestamp for m in metrics}
    index.update_needs_raw_data_truncation(loose.id, True)
    loose = index.list_metrics(attribute_filter={"=": {"id": loose.id}})[0]
    assert loose.needs_raw_data_truncation

    indexer_batch.update_metrics_after_processing(index, {
        # A measure after the end: the resource is alive again.
        by_resource[ended_before]: ns(utc(2020, 1, 3)),
        # Measures from before the end: it stays ended.
        by_resource[ended_after]: ns(utc(2020, 1, 1, 12)),
        loose: ns(utc(2020, 1, 3)),
    })

    assert index.get_resource("generic", ended_before).ended_at is None
    assert (index.get_resource("generic", ended_after).ended_at
            == utc(2020, 1, 2))
    after = index.list_metrics(attribute_filter={"in": {"id": [
        m.id for m in metrics]}})
    assert all(m.last_measure_timestamp > stamped_before[m.id]
               for m in after)
    assert not [m for m in after if m.id == loose.id][0] \
        .needs_raw_data_truncation


def test_active_metrics_matches_list_metrics(index):
    from gnocchi_rs import indexer_batch

    index.create_archive_policy(archive_policy.ArchivePolicy(
        "rated", 2, [{"granularity": 60, "points": 10},
                     {"granularity": 3600, "timespan": 86400}],
        ["mean", "rate:max", "95pct"]))
    # Every default method removed: stored as no method at all.
    index.create_archive_policy(archive_policy.ArchivePolicy(
        "nothing", 0, [{"granularity": 60, "points": 10}],
        ["-" + m for m in archive_policy.ArchivePolicy
         .DEFAULT_AGGREGATION_METHODS]))
    resource_id = uuid.uuid4()
    index.create_resource("generic", resource_id, "creator", metrics={
        "cpu": {"archive_policy_name": "rated"},
        "mem": {"archive_policy_name": "low", "unit": "B"},
        "none": {"archive_policy_name": "nothing"}})
    loose = index.create_metric(uuid.uuid4(), "other", "rated", name="x")
    deleted = index.create_metric(uuid.uuid4(), "other", "low")
    index.delete_metric(deleted.id)
    ids = [m.id for m in index.get_resource(
        "generic", resource_id, with_metrics=True).metrics]
    ids += [loose.id, deleted.id, uuid.uuid4()]

    def described(metric):
        ap = metric.archive_policy
        return (metric.id, metric.creator, metric.name, metric.resource_id,
                metric.needs_raw_data_truncation, ap.name, ap.back_window,
                [d.serialize() for d in ap.definition],
                sorted(ap.aggregation_methods),
                sorted((a.method, a.granularity, a.timespan)
                       for a in ap.aggregations),
                ap.max_block_size)

    expected = index.list_metrics(attribute_filter={"in": {"id": ids}})
    found = indexer_batch.active_metrics(index, ids)
    assert len(expected) == 4
    assert [m.archive_policy.aggregation_methods for m in expected
            if m.archive_policy.name == "nothing"] == [set()]
    assert (sorted(map(described, found))
            == sorted(map(described, expected)))
    # Metrics of one policy share its object.
    assert len({id(m.archive_policy) for m in found}) == 3
    assert indexer_batch.active_metrics(index, []) == []


def _engine(index):
    with index.facade.independent_reader() as session:
        return session.get_bind()


def test_connections_are_kept_between_transactions(index):
    engine = _engine(index)
    opened = []
    sqlalchemy.event.listen(engine, "connect",
                            lambda dbapi, record: opened.append(dbapi))
    for _ in range(5):
        index.list_metrics()
        index.create_metric(uuid.uuid4(), "admin", "low")
    assert len(opened) <= 1
    assert isinstance(engine.pool, sqlalchemy.pool.QueuePool)


def test_a_pooled_connection_comes_back_out_of_transaction(index):
    """A connection returned without a commit or rollback event does not
    carry the transaction marker (and so skip BEGIN) to its next user."""
    engine = _engine(index)
    with engine.connect() as connection:
        connection.info["in_transaction"] = True
    with engine.connect() as connection:
        assert "in_transaction" not in connection.info
    metric_id = uuid.uuid4()
    index.create_metric(metric_id, "admin", "low")
    assert [m.id for m in index.list_metrics(
        attribute_filter={"=": {"id": metric_id}})] == [metric_id]


def test_a_forked_child_opens_its_own_connection(index):
    """oslo.db's fork guard, kept on the pool: the child does not use the
    connection the parent holds open."""
    index.list_metrics()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            engine = _engine(index)
            opened = []
            sqlalchemy.event.listen(engine, "connect",
                                    lambda dbapi, record: opened.append(1))
            index.create_metric(uuid.uuid4(), "admin", "low")
            status = 0 if opened else 2
        finally:
            os.write(write, bytes([status]))
            os._exit(0)
    os.close(write)
    status = os.read(read, 1)
    os.waitpid(pid, 0)
    assert status == b"\x00"
    assert len(index.list_metrics()) == 1
