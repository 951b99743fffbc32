"""`gnocchi-rs upgrade` brings an SQLite index made at an older schema
(upstream 4.6's head, 04eba72e4f90: before the three migrations of 4.7) to
the current one without losing a row (gnocchi_rs.indexer_sqlite_schema).

The old data directory is built by replaying the old DDL: a populated
directory is made with the current code (resources of two types with
history, metrics, archive policies and a rule, processed measures), then
its index is rebuilt at the old definitions (the current CREATE TABLE
statements without the columns 4.7 added, original_resource_id 255
characters wide) and stamped with the old revision."""
from __future__ import annotations

import datetime
import os
import sqlite3
import subprocess
import sys
import uuid

import numpy
import pytest

import rest_harness

from gnocchi_rs import indexer_sqlite_schema as schema

BIN = os.path.dirname(sys.executable)
AGGREGATIONS = ("mean", "max", "count")


def old_statements():
    """The tables at revision 04eba72e4f90, from the current statements
    (each edit must apply: the test notices if the models move)."""
    statements = dict(schema.model_statements())
    create, indexes = statements["metric"]
    old = create
    for column in ("needs_raw_data_truncation", "last_measure_timestamp"):
        lines = [line for line in old.split("\n")
                 if not line.strip().startswith(column + " ")]
        assert len(lines) == len(old.split("\n")) - 1, column
        old = "\n".join(lines)
    statements["metric"] = (old, indexes)
    for table in ("resource", "resource_history"):
        create, indexes = statements[table]
        old = create.replace("original_resource_id VARCHAR(289)",
                             "original_resource_id VARCHAR(255)")
        assert old != create
        statements[table] = (old, indexes)
    return statements


def downgrade_to_oldest(path):
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA foreign_keys = OFF")
        db.execute("BEGIN IMMEDIATE")
        rebuilt = schema.rebuild_tables(db, old_statements())
        assert sorted(rebuilt) == ["metric", "resource", "resource_history"]
        db.execute("UPDATE alembic_version SET version_num = ?",
                   (schema.OLDEST,))
        db.execute("COMMIT")
    finally:
        db.close()


def table_shapes(path):
    """Each table's columns (name, type, not null, default, pk) and
    indexes, and each index's columns."""
    db = sqlite3.connect(path)
    try:
        shapes = {}
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE "
                                  "type = 'table' ORDER BY name"):
            columns = db.execute('PRAGMA table_info("%s")' % name).fetchall()
            indexes = sorted(
                (row[1], row[2], tuple(c[2] for c in db.execute(
                    'PRAGMA index_info("%s")' % row[1])))
                for row in db.execute('PRAGMA index_list("%s")' % name))
            keys = sorted(db.execute(
                'PRAGMA foreign_key_list("%s")' % name).fetchall())
            shapes[name] = (columns, indexes, keys)
        return shapes
    finally:
        db.close()


def revision_of(path):
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        db.close()


def populate(directory):
    """A data directory with everything an index holds, processed measures
    included; returns what the index and the storage hold."""
    from gnocchi import archive_policy
    from gnocchi import chef
    from gnocchi import incoming
    from gnocchi import storage
    from gnocchi import utils
    from tooz import coordination

    conf = rest_harness.embedded_conf(directory)
    index = rest_harness.set_up(conf, [archive_policy.ArchivePolicy(
        "two", 0, [archive_policy.ArchivePolicyItem(granularity=60,
                                                     points=1440),
                   archive_policy.ArchivePolicyItem(granularity=3600,
                                                    points=48)],
        aggregation_methods=list(AGGREGATIONS))])
    index.create_archive_policy_rule("disks", "disk.*", "two")
    index.create_resource_type(
        index.get_resource_type_schema().resource_type_from_dict(
            "host", {"hostname": {"type": "string", "required": True,
                                  "min_length": 0, "max_length": 64},
                     "cores": {"type": "number", "required": False,
                               "min": 0, "max": 1000}},
            "creating"))
    metrics = []
    for n in range(6):
        original = "instance-%d-%s" % (n, "x" * 200)
        rid = utils.ResourceUUID(original, "admin")
        kind = "host" if n % 2 else "generic"
        extra = {"hostname": "h%d" % n, "cores": n} if kind == "host" else {}
        index.create_resource(kind, rid, "admin", user_id="u%d" % n,
                              project_id="p%d" % (n % 2),
                              original_resource_id=original, **extra)
        if kind == "host":   # a second revision in the history
            index.update_resource(kind, rid, cores=n * 10)
        for name, policy in (("cpu", "two"), ("disk.read", "two"),
                             ("mem", "low")):
            metric_id = uuid.uuid4()
            index.create_metric(metric_id, "admin", policy, name=name,
                                unit="B" if name == "mem" else None,
                                resource_id=rid)
            metrics.append(metric_id)
    loose = uuid.uuid4()
    index.create_metric(loose, "admin", "two")
    metrics.append(loose)

    inc = incoming.get_driver(conf)
    start = numpy.datetime64("2026-12-01T00:00:00")
    for k, metric_id in enumerate(metrics):
        inc.add_measures(metric_id, [
            incoming.Measure(start + numpy.timedelta64(37 * i, "s"),
                             float((i * (k + 3)) % 101))
            for i in range(300)])
    coord = coordination.get_coordinator(conf.coordination_url, b"t")
    coord.start(start_heart=True)
    store = storage.get_driver(conf)
    chef.Chef(coord, inc, index, store).refresh_metrics(
        index.list_metrics(details=True), timeout=60, sync=True)
    coord.stop()
    snapshot = holdings(index, store)
    index.disconnect()
    return snapshot


def holdings(index, store):
    """What the index says and what the storage returns through it."""
    def plain(resource):
        return resource.jsonify()

    metrics = sorted(index.list_metrics(details=True), key=lambda m: m.id)
    measures = {}
    for metric in metrics:
        for definition in metric.archive_policy.definition:
            for method in metric.archive_policy.aggregation_methods:
                aggregation = metric.archive_policy.get_aggregation(
                    method, definition.granularity)
                series = store.get_aggregated_measures(
                    {metric: [aggregation]})[metric][aggregation]
                measures[(metric.id, method, definition.granularity)] = (
                    series.timestamps.tolist(), series.values.tolist())
    return {
        "archive policies": sorted(
            (p.name, p.back_window, [dict(d) for d in p.definition],
             sorted(p.aggregation_methods))
            for p in index.list_archive_policies()),
        "rules": sorted((r.name, r.metric_pattern, r.archive_policy_name)
                        for r in index.list_archive_policy_rules()),
        "resource types": sorted(
            (t.name, t.state, t.tablename,
             repr(sorted(t.attributes.jsonify().items())))
            for t in index.list_resource_types()),
        "resources": sorted(
            (repr(sorted(plain(r).items())) for kind in ("generic", "host")
             for r in index.list_resources(kind, details=True,
                                           history=True))),
        "metrics": [(m.id, m.creator, m.name, m.unit, m.resource_id,
                     m.archive_policy_name, m.status) for m in metrics],
        "measures": measures,
        "count": sum(len(v[0]) for v in measures.values()),
    }


def reopened(directory):
    from gnocchi import indexer
    from gnocchi import storage
    conf = rest_harness.embedded_conf(directory)
    index = indexer.get_driver(conf)
    return conf, index, storage.get_driver(conf)


def run_upgrade(directory):
    return subprocess.run(
        [os.path.join(BIN, "gnocchi-rs"), "upgrade", "--config-file",
         os.path.join(directory, "gnocchi.conf"), "--skip-storage",
         "--skip-incoming", "--skip-archive-policies-creation"],
        capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def fresh_shapes(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("fresh"))
    rest_harness.set_up(rest_harness.embedded_conf(directory)).disconnect()
    path = os.path.join(directory, "index.sqlite")
    return table_shapes(path), revision_of(path)


def test_an_index_of_the_older_schema_is_upgraded_without_losing_a_row(
        tmp_path, fresh_shapes):
    directory = str(tmp_path)
    path = os.path.join(directory, "index.sqlite")
    before = populate(directory)
    assert before["count"] > 1000
    head_shapes, head = fresh_shapes
    downgrade_to_oldest(path)
    old_shapes = table_shapes(path)
    assert [c[1] for c in old_shapes["metric"][0]].count(
        "last_measure_timestamp") == 0
    assert revision_of(path) == schema.OLDEST

    result = run_upgrade(directory)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Upgraded the SQLite index" in result.stderr
    assert "18fff4509e3e, 94544ca86c7e, f89ed2e3c2ec" in result.stderr
    assert revision_of(path) == head

    shapes = table_shapes(path)
    for table, shape in head_shapes.items():
        assert shapes[table] == shape, table
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        db.close()

    conf, index, store = reopened(directory)
    try:
        assert holdings(index, store) == before
        # The columns 4.7 added hold their defaults.
        metrics = index.list_metrics(details=True)
        assert all(m.needs_raw_data_truncation for m in metrics)
        now = datetime.datetime.now(datetime.timezone.utc).replace(
            tzinfo=None)
        assert all(abs(m.last_measure_timestamp - now)
                   < datetime.timedelta(minutes=10) for m in metrics)
        # And the index works as a new one does.
        from gnocchi import utils
        original = "y" * 289
        rid = utils.ResourceUUID(original, "admin")
        index.create_resource("generic", rid, "admin",
                              original_resource_id=original)
        metric_id = uuid.uuid4()
        index.create_metric(metric_id, "admin", "two", name="new",
                            resource_id=rid)
        index.update_last_measure_timestamp(metric_id)
        assert index.get_resource("generic", rid).original_resource_id == \
            original
    finally:
        index.disconnect()

    # A second upgrade finds nothing to do.
    result = run_upgrade(directory)
    assert result.returncode == 0 and "Upgraded" not in result.stderr


def test_an_upgrade_that_would_break_a_reference_changes_nothing(tmp_path):
    directory = str(tmp_path)
    path = os.path.join(directory, "index.sqlite")
    rest_harness.set_up(rest_harness.embedded_conf(directory)).disconnect()
    downgrade_to_oldest(path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA foreign_keys = OFF")
    db.execute("INSERT INTO metric (id, archive_policy_name, creator, "
               "status) VALUES (?, 'no-such-policy', 'admin', 'active')",
               (uuid.uuid4().hex,))
    db.close()
    shapes = table_shapes(path)

    result = run_upgrade(directory)
    assert result.returncode != 0
    assert "foreign key references nothing" in result.stderr
    assert table_shapes(path) == shapes
    assert revision_of(path) == schema.OLDEST


@pytest.mark.parametrize("revision, message", [
    ("1c98ac614015", "not yet checked for SQLite"),
    ("0123456789ab", "does not know"),
])
def test_revisions_it_cannot_upgrade_from_are_refused_unchanged(
        tmp_path, revision, message):
    from gnocchi import indexer

    directory = str(tmp_path)
    path = os.path.join(directory, "index.sqlite")
    conf = rest_harness.embedded_conf(directory)
    rest_harness.set_up(conf).disconnect()
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    db.close()
    shapes = table_shapes(path)
    driver = indexer.get_driver(conf)
    try:
        with pytest.raises(indexer.IndexerException, match=message):
            driver.upgrade()
    finally:
        driver.disconnect()
    assert table_shapes(path) == shapes
    assert revision_of(path) == revision
