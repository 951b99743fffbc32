"""The native ingest path (gnocchi_rs.rest.ingest, src/api/) against
upstream's own application: the same sequence of requests, valid and not,
sent to upstream's Pecan application and to gnocchi-rs' application, each
over its own index and storage holding the same metrics and resources,
gives the same status, content type and body, and leaves the same measures
in the incoming store. Upstream's side has gnocchi-rs' request guards too
(gnocchi_rs.rest.wrap), whose deliberate differences are tested in
test_request_guard.py; what is compared here is the native path alone.

The body parser alone is tested in test_native_parser.py, the policy
shortcut in test_ingest_policy.py.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import uuid

import numpy
import pytest
import webtest

from gnocchi.indexer import sqlalchemy_base

import gnocchi_rs.rest as rs_rest
import rest_harness
from gnocchi_rs import records
from gnocchi_rs.rest import app as rs_app
from gnocchi_rs.rest import ingest
from gnocchi_rs.rest import seam

ADMIN = "Basic " + base64.b64encode(b"admin:").decode()
OTHER = "Basic " + base64.b64encode(b"bob:").decode()
JSON = {"Authorization": ADMIN, "Content-Type": "application/json",
        "Accept": "application/json"}

METRICS = [uuid.UUID(int=0x5A301761F78B46E289008B4F6FE66700 + i)
           for i in range(4)]
# Relative timestamps ("-5 minutes") depend on the clock: their measures
# are compared by count only.
CLOCK_METRIC = uuid.UUID(int=0x5A301761F78B46E289008B4F6FE667FF)
RESOURCES = ["host-1", "host-2", str(uuid.UUID(int=77))]


def _populate(conf):
    """The same archive policies, resources and metrics (same ids) on
    both sides."""
    from gnocchi import utils

    index = rest_harness.set_up(conf)
    for metric_id in METRICS + [CLOCK_METRIC]:
        index.create_metric(metric_id, "admin", archive_policy_name="low")
    for original in RESOURCES:
        rid = utils.ResourceUUID(original, "admin")
        index.create_resource("generic", rid, "admin",
                              original_resource_id=original)
        for name in ("cpu", "mem"):
            index.create_metric(uuid.uuid5(rid, name), "admin",
                                archive_policy_name="low", name=name,
                                resource_id=rid)
    index.disconnect()


@pytest.fixture(scope="module")
def sides(tmp_path_factory):
    """((upstream's app, ours), their incoming drivers, their confs)."""
    from gnocchi import incoming
    from gnocchi.rest import api as upstream_api
    from gnocchi.rest import app as upstream_app

    utils_before = upstream_api.utils
    apps, drivers, confs = [], [], []
    for name, load in (("upstream", lambda c: rs_rest.wrap(
            upstream_app.load_app(c))), ("native", rs_app.load_app)):
        conf = rest_harness.embedded_conf(str(tmp_path_factory.mktemp(name)))
        _populate(conf)
        apps.append(webtest.TestApp(load(conf)))
        drivers.append(incoming.get_driver(conf))
        confs.append(conf)
    yield apps, drivers, confs
    upstream_api.utils = utils_before


def _both(sides, path, body, headers=JSON, compare_body=True):
    upstream, native = sides[0]
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    answers = []
    for app in (upstream, native):
        try:
            answers.append(app.post(path, body, headers=headers,
                                    expect_errors=True))
        except Exception as e:
            # Upstream lets some bad bodies raise (a 500 from the server),
            # e.g. a measure without "timestamp": so must ours.
            answers.append(type(e).__name__)
    up, ours = answers
    if isinstance(up, str) or isinstance(ours, str):
        assert up == ours, (path, body[:200])
        return None
    assert ours.status == up.status, (path, body[:200], up.body[:300],
                                      ours.body[:300])
    assert ours.content_type == up.content_type
    if compare_body:
        assert ours.body == up.body, (path, body[:200])
    return ours


def _measures(*pairs):
    return [{"timestamp": t, "value": v} for t, v in pairs]


ISO = _measures(("2017-01-01T00:00:00", 1), ("2017-01-01 00:01:00", 2.5),
                ("2017-01-01T00:02:00Z", -3), ("2017-01-01T03:03:00+02:00",
                                               1e300),
                ("2017-01-01T00:04:00.123456789123", 0),
                ("2017-01-01T00:05", -0.0), ("2017-01-02", 12345678901234567))
EPOCH = _measures((1500000000, 1), (1500000000.5, 2), (1.9e-9, 3),
                  (0, 4), (1500000001, 12345678901234567890123))


# A corpus of bodies for one measure list: valid ones upstream accepts,
# ones it accepts but the native path declines (its answer, then), and
# invalid ones.
LISTS = [
    ISO, EPOCH, [],
    _measures(("1500000000", 1)),                     # number as a string
    _measures((1500000000, "2.5")),                   # value as a string
    _measures((1500000000, True)),                    # value as a boolean
    _measures((True, 1)),
    _measures(("2017-01-01T00:00:00", 1), (1500000000, 2)),   # mixed kinds
    _measures((1500000000, 1), ("2017-01-01T00:00:00", 2)),
    _measures((-1, 1)),                               # before the epoch
    _measures(("1969-12-31T23:59:59", 1)),
    _measures(("2017-13-01T00:00:00", 1)),            # no such month
    _measures(("2017-01-01t00:00:00", 1)),
    _measures(("yesterday", 1)),
    _measures((None, 1)), _measures((1500000000, None)),
    _measures(({"a": 1}, 1)), _measures((1500000000, [1])),
    [{"timestamp": 1500000000}], [{"value": 1}],      # missing keys
    [{"timestamp": 1500000000, "value": 1, "extra": "ignored"}],
    [[1500000000, 1]], ["x"], [1], {"timestamp": 1, "value": 1}, "x", 1,
]
RAW_BODIES = [
    b"[", b"", b"nope", b"\xff\xfe[]", b'[{"timestamp": 1, "value": NaN}]',
    b'[{"timestamp": 1e400, "value": 1}]',
    b'[{"timestamp": 1, "value": 1}, {"timestamp": 1, "value": 1},]',
    b'\xef\xbb\xbf[]', b' [] ', b'[{"timestamp": 1, "value": 1, "value": 2}]',
    # Integers have no negative zero: upstream stores 0.0 for -0.
    b'[{"timestamp": 1500000000, "value": -0},'
    b' {"timestamp": 1500000001, "value": -0.0}]',
]


def test_measure_lists_on_a_metric(sides):
    path = "/v1/metric/%s/measures" % METRICS[0]
    for body in LISTS + RAW_BODIES:
        _both(sides, path, body)


def test_measure_lists_on_a_named_metric(sides):
    path = "/v1/resource/generic/%s/metric/cpu/measures" % RESOURCES[0]
    for body in LISTS[:12] + RAW_BODIES[:3]:
        _both(sides, path, body)
    for path in ("/v1/resource/generic/%s/metric/nope/measures" % RESOURCES[0],
                 "/v1/resource/generic/no-such-host/metric/cpu/measures",
                 "/v1/resource/nosuchtype/%s/metric/cpu/measures"
                 % RESOURCES[0]):
        _both(sides, path, EPOCH)


def test_metric_batches(sides):
    path = "/v1/batch/metrics/measures"
    a, b, c, _ = (str(m) for m in METRICS)
    for body in [
        {a: ISO, b: EPOCH, c: []}, {}, {a: EPOCH, b: []},
        {a.replace("-", ""): EPOCH},                  # 32 hex digits
        {a.upper(): EPOCH},
        {a: EPOCH, a.upper(): ISO},                   # the same metric twice
        {"{%s}" % a: EPOCH},                          # spellings upstream reads
        {a: EPOCH, str(uuid.uuid4()): EPOCH},         # an unknown metric
        {"not-a-uuid": EPOCH}, [EPOCH], {a: {"measures": EPOCH}},
    ] + [{a: body} for body in LISTS[3:]]:
        _both(sides, path, body)
    for raw in RAW_BODIES + [('{"%s": []}' % a).encode("utf-16")]:
        _both(sides, path, raw)


def test_resource_batches(sides):
    path = "/v1/batch/resources/metrics/measures"
    h1, h2, h3 = RESOURCES
    for query in ("", "?create_metrics=true", "?create_metrics=false",
                  "?create_metrics=maybe", "?other=1"):
        for body in [
            {h1: {"cpu": EPOCH, "mem": ISO}, h2: {"cpu": []}},
            {h1: {"cpu": {"measures": EPOCH, "archive_policy_name": "low",
                          "unit": "%"}}},
            {h1: {"cpu": {"measures": EPOCH, "bogus": 1}}},
            {h1: {"cpu": {"measures": EPOCH, "unit": 3}}},
            {h3: {"mem": EPOCH}}, {h1: {}}, {},
            {h1: {"cpu": EPOCH}, "no-such-host": {"cpu": EPOCH}},
            {h1: {"nope": EPOCH}}, {h1: {"cpu": LISTS[3]}},
            {h1: [EPOCH]}, [EPOCH],
        ]:
            _both(sides, path + query, body)


def test_metrics_created_by_a_resource_batch(sides):
    path = "/v1/batch/resources/metrics/measures?create_metrics=true"
    body = {RESOURCES[1]: {"new": {"measures": EPOCH,
                                   "archive_policy_name": "low"},
                           "cpu": ISO},
            RESOURCES[2]: {"new": {"measures": ISO,
                                   "archive_policy_name": "nope"}}}
    _both(sides, path, body)
    body[RESOURCES[2]]["new"]["archive_policy_name"] = "medium"
    _both(sides, path, body)
    _both(sides, path, body)        # now they exist: the native path's


def _created(conf, names):
    """{(original resource id, name): (creator, unit, archive policy,
    status, truncation flag, measures stored)} of the metrics named
    ``names`` (ids are random on both sides)."""
    from gnocchi import incoming
    from gnocchi import indexer
    from gnocchi import utils

    index = indexer.get_driver(conf)
    by_rid = {utils.ResourceUUID(o, "admin"): o for o in RESOURCES}
    found = index.list_metrics(attribute_filter={"in": {"name": names}})
    driver = incoming.get_driver(conf)
    with driver.process_measure_for_metrics([m.id for m in found]) as got:
        measures = {m: sorted(records.to_records(v).reshape(-1, 2).tolist())
                    for m, v in got.items()}
    rows = {}
    for m in found:
        with index.facade.independent_reader() as session:
            flag = session.execute(
                sqlalchemy_base.Metric.__table__.select().where(
                    sqlalchemy_base.Metric.__table__.c.id == m.id)
            ).one().needs_raw_data_truncation
        rows[(by_rid.get(m.resource_id), m.name)] = (
            m.creator, m.unit, m.archive_policy_name, m.status, flag,
            measures.get(m.id))
    index.disconnect()
    return rows


def test_metrics_created_natively_are_upstreams(sides, monkeypatch):
    """Ceilometer's batch creating metrics: policies given or found by an
    archive policy rule, units, several resources, some metrics existing;
    the same metrics (creator, unit, policy, status, flags) and measures
    on both sides, and the native path did create them."""
    from gnocchi import archive_policy
    from gnocchi import indexer
    from gnocchi_rs.rest import metric_creation

    for conf in sides[2]:
        index = indexer.get_driver(conf)
        try:
            index.create_archive_policy_rule("made", "rule.*", "medium")
        except indexer.ArchivePolicyRuleAlreadyExists:
            pass
        index.disconnect()
    inserted = []
    real_insert = metric_creation.insert
    monkeypatch.setattr(metric_creation, "insert", lambda i, new: (
        real_insert(i, new), inserted.extend(new))[0])
    path = "/v1/batch/resources/metrics/measures?create_metrics=true"
    h1, h2, h3 = RESOURCES
    bodies = [
        {h1: {"made.a": {"measures": EPOCH, "archive_policy_name": "low",
                         "unit": "ns"},
              "cpu": {"measures": ISO, "unit": "ignored"}},
         h2: {"made.a": {"measures": ISO, "archive_policy_name": "medium"},
              "rule.b": {"measures": EPOCH},
              "rule.c": EPOCH}},
        {h3: {"made.b": {"measures": EPOCH, "archive_policy_name": "low",
                         "unit": "u" * 31}}},
        # What upstream answers otherwise: declined, then upstream's 400s.
        {h1: {"made.c": {"measures": EPOCH}}},              # no rule
        {h1: {"made/d": {"measures": EPOCH,
                         "archive_policy_name": "low"}}},
        {h1: {"made.e": {"measures": EPOCH, "archive_policy_name": "low",
                         "unit": "u" * 32}}},
        {"no-such-host": {"made.f": {"measures": EPOCH,
                                     "archive_policy_name": "low"}}},
        {h1: {"made.g": {"measures": EPOCH,
                         "archive_policy_name": "nope"}}},
    ]
    for body in bodies:
        _both(sides, path, body)
    assert sorted((m.name, m.archive_policy_name) for m in inserted) == [
        ("made.a", "low"), ("made.a", "medium"), ("made.b", "low"),
        ("rule.b", "medium"), ("rule.c", "medium")]
    names = ["made.a", "made.b", "made.c", "made/d", "made.e", "made.f",
             "made.g", "rule.b", "rule.c"]
    upstream, ours = (_created(conf, names) for conf in sides[2])
    assert len(ours) == 5 and ours == upstream


def test_a_metric_created_meanwhile_is_upstreams_to_answer(sides,
                                                          monkeypatch):
    """Another request creates the metric between the native lookup and
    its insert: the insert fails whole, nothing is written, and
    upstream's code (which then finds the metric) answers."""
    from gnocchi import indexer
    from gnocchi import utils
    from gnocchi_rs.rest import metric_creation

    conf = sides[2][1]
    real_insert = metric_creation.insert

    def racing(index, new):
        other = indexer.get_driver(conf)
        other.create_metric(uuid.uuid4(), "admin", "low", name="raced",
                            resource_id=utils.ResourceUUID(RESOURCES[0],
                                                           "admin"))
        other.disconnect()
        return real_insert(index, new)
    monkeypatch.setattr(metric_creation, "insert", racing)
    body = {RESOURCES[0]: {"raced": {"measures": EPOCH,
                                     "archive_policy_name": "low"},
                           "raced.too": {"measures": ISO,
                                         "archive_policy_name": "low"}}}
    answer = sides[0][1].post(
        "/v1/batch/resources/metrics/measures?create_metrics=true",
        json.dumps(body), headers=JSON, expect_errors=True)
    assert answer.status_int == 202
    created = _created(conf, ["raced", "raced.too"])
    assert sorted(created) == [(RESOURCES[0], "raced"),
                               (RESOURCES[0], "raced.too")]
    assert len(created[(RESOURCES[0], "raced")][-1]) == len(EPOCH)
    assert len(created[(RESOURCES[0], "raced.too")][-1]) == len(ISO)


# Rules that read what the targets of a created metric hold: "create
# metric" the body's archive policy (None when a rule chose it), "post
# measures" what upstream's fresh ORM metric renders (archive_policy_name,
# resource_id), which a metric loaded with its policy does not have.
CREATION_RULES = {
    "create metric": "'low':%(archive_policy_name)s",
    "post measures": "user:%(creator)s and 'low':%(archive_policy_name)s "
                     "and '" + str(uuid.UUID(int=77)) + "':%(resource_id)s",
}


@pytest.fixture(scope="module")
def policed_sides(tmp_path_factory):
    """(upstream's app, ours) as ``sides``, under CREATION_RULES."""
    from gnocchi.rest import app as upstream_app
    from oslo_policy import opts as policy_opts

    apps, confs = [], []
    for name, load in (("upstream", lambda c: rs_rest.wrap(
            upstream_app.load_app(c))), ("native", rs_app.load_app)):
        directory = tmp_path_factory.mktemp("policed-" + name)
        conf = rest_harness.embedded_conf(str(directory))
        policy_opts.set_defaults(conf)
        path = directory / "policy.json"
        path.write_text(json.dumps(CREATION_RULES))
        conf.set_override("policy_file", str(path), "oslo_policy")
        _populate(conf)
        apps.append(webtest.TestApp(load(conf)))
        confs.append(conf)
    return apps, None, confs


def test_created_metrics_are_authorized_as_upstream(policed_sides,
                                                    monkeypatch):
    """Not admin: the "create metric" and "post measures" decisions on a
    created metric's targets are upstream's (a wrong key in either
    target turns a 202 into a 403 or the other way round)."""
    from gnocchi_rs.rest import metric_creation

    inserted = []
    real_insert = metric_creation.insert
    monkeypatch.setattr(metric_creation, "insert", lambda i, new: (
        real_insert(i, new), inserted.extend(new))[0])
    path = "/v1/batch/resources/metrics/measures?create_metrics=true"
    bob = dict(JSON, Authorization=OTHER)
    h3 = RESOURCES[2]             # a UUID: the same resource id for bob
    answers = [_both(policed_sides, path, body, headers=bob).status_int
               for body in (
                   {h3: {"bob.a": {"measures": EPOCH,
                                   "archive_policy_name": "low"}}},
                   {h3: {"bob.b": {"measures": EPOCH,
                                   "archive_policy_name": "medium"}}},
                   # An existing metric renders archive_policy.name only.
                   {h3: {"bob.c": {"measures": EPOCH,
                                   "archive_policy_name": "low"},
                         "cpu": EPOCH}})]
    assert answers == [202, 403, 403]
    assert [m.name for m in inserted] == ["bob.a"]
    upstream, ours = (_created(conf, ["bob.a", "bob.b", "bob.c"])
                      for conf in policed_sides[2])
    assert ours == upstream and len(ours) == 2


def test_requests_upstream_refuses(sides):
    path = "/v1/batch/metrics/measures"
    body = {str(METRICS[1]): EPOCH}
    _both(sides, path, body, headers=dict(JSON, Authorization=OTHER))
    no_auth = {k: v for k, v in JSON.items() if k != "Authorization"}
    _both(sides, path, body, headers=no_auth)
    for content_type in ("text/plain", "application/json-patch+json",
                         "application/jsonx"):
        _both(sides, path, body, headers=dict(JSON,
                                              **{"Content-Type": content_type}))
    _both(sides, path, body, headers=dict(JSON, Accept="text/html"))
    _both(sides, path, b"[", headers=dict(JSON, Accept="text/html"))
    _both(sides, "/v1/metric/%s/measures" % METRICS[0], EPOCH,
          headers=dict(JSON, Authorization=OTHER))
    _both(sides, "/v1/metric/not-a-uuid/measures", EPOCH)
    _both(sides, "/v1/metric/%s/measures" % uuid.uuid4(), EPOCH)
    _both(sides, "/v1/metric/%s/measures?x=1" % METRICS[0], EPOCH)


def test_relative_timestamps(sides):
    path = "/v1/metric/%s/measures" % CLOCK_METRIC
    _both(sides, path, _measures(("-5 minutes", 1), ("-1 minute", 2)))
    _both(sides, path, _measures(("-5 minutes", 1), ("2017-01-01", 2)))


def test_out_of_range_timestamps_are_refused_on_both(sides):
    path = "/v1/metric/%s/measures" % METRICS[2]
    for ts in (1e20, "2262-04-12T00:00:00", "9999-01-01"):
        assert _both(sides, path, _measures((ts, 1))).status_int == 400


class _FakePanic(BaseException):
    """Stands for pyo3's PanicException, a BaseException."""


def test_a_native_panic_is_handed_over(sides, monkeypatch, caplog):
    def panic(body):
        raise _FakePanic("a bug of ours")
    monkeypatch.setattr(ingest._native, "parse_metric_batch", panic)
    caplog.set_level(logging.WARNING, logger="gnocchi_rs.rest.seam")
    answer = _both(sides, "/v1/batch/metrics/measures",
                   {str(METRICS[1]): EPOCH})
    assert answer.status_int == 202
    assert [r for r in caplog.records if "panicked" in r.getMessage()]


def test_a_driver_that_is_not_native_is_said_once(sides, monkeypatch,
                                                  caplog):
    native_app = sides[0][1]
    real = seam.NativeSeam._backend
    monkeypatch.setattr(seam.NativeSeam, "_backend", lambda self, name:
                        object() if name == "incoming" else real(self, name))
    monkeypatch.setattr(seam, "_said_not_native", set())
    caplog.set_level(logging.WARNING, logger="gnocchi_rs.rest.seam")
    for _ in range(3):
        native_app.post("/v1/metric/not-a-uuid/measures", "[]",
                        headers=JSON, expect_errors=True)
    said = [r for r in caplog.records if "is not native" in r.getMessage()]
    assert len(said) == 1


def _stored(driver, metric_ids):
    def rows(series):
        pairs = records.to_records(series).reshape(-1, 2)
        return pairs[numpy.lexsort((pairs[:, 1], pairs[:, 0]))]
    with driver.process_measure_for_metrics(metric_ids) as measures:
        return {m: rows(v) for m, v in measures.items()}


def test_zz_the_same_measures_are_stored(sides):
    """Runs last (module order): everything the tests above posted."""
    upstream, native = sides[1]
    from gnocchi import utils
    metric_ids = list(METRICS)
    for original in RESOURCES:
        rid = utils.ResourceUUID(original, "admin")
        metric_ids += [uuid.uuid5(rid, n) for n in ("cpu", "mem")]
    up, ours = _stored(upstream, metric_ids), _stored(native, metric_ids)
    assert sum(len(v) for v in up.values()) > 100
    for metric_id in metric_ids:
        assert numpy.array_equal(up[metric_id], ours[metric_id]), metric_id
    clock = [len(_stored(d, [CLOCK_METRIC])[CLOCK_METRIC])
             for d in (upstream, native)]
    assert clock[0] == clock[1] > 0


def test_the_native_path_served_the_valid_requests(sides, caplog):
    """Not a fallback in disguise: the valid batch is not handed over."""
    caplog.set_level(logging.DEBUG, logger="gnocchi_rs.rest.seam")
    _both(sides, "/v1/batch/metrics/measures", {str(METRICS[3]): EPOCH})
    _both(sides, "/v1/batch/resources/metrics/measures",
          {RESOURCES[0]: {"cpu": ISO}})
    _both(sides, "/v1/metric/%s/measures" % METRICS[3], ISO)
    _both(sides, "/v1/resource/generic/%s/metric/mem/measures"
          % RESOURCES[0], EPOCH)
    assert not [r for r in caplog.records if "declined" in r.getMessage()
                or "handed over" in r.getMessage()]
    _both(sides, "/v1/batch/metrics/measures", {str(METRICS[3]): LISTS[3]})
    assert [r for r in caplog.records if "declined" in r.getMessage()]


def test_the_paste_file_ships_with_the_package():
    """gnocchi-rs api points upstream's paste_config option at it."""
    assert os.path.isfile(rs_app.PASTE_CONFIG)
    with open(rs_app.PASTE_CONFIG) as f:
        assert "gnocchi_rs.rest.app:app_factory" in f.read()


def test_the_switch_turns_the_native_path_off(monkeypatch):
    monkeypatch.setenv(seam.ENV_SWITCH, "0")
    assert not seam.enabled_by_environment()
    sentinel = object()
    assert rs_app.app_factory.__module__ == "gnocchi_rs.rest.app"
    monkeypatch.setattr(rs_app.upstream_app, "app_factory",
                        lambda g, **l: sentinel)
    assert rs_app.app_factory({}) is sentinel


# -- the lookup, against upstream's list_metrics ------------------------------

def test_metric_rows_are_upstreams_metrics(sides):
    """The batch routes' lookup gives upstream's metrics and targets."""
    from gnocchi import indexer
    from gnocchi import utils
    from gnocchi_rs.rest import lookup
    from gnocchi_rs.rest import policy
    index = indexer.get_driver(sides[2][0])
    rids = [utils.ResourceUUID(h, "admin") for h in RESOURCES]
    lookups = [
        (lookup.metrics_by_ids(index, METRICS + [uuid.uuid4()],
                               details=False),
         {"in": {"id": METRICS + [uuid.uuid4()]}}),
        (lookup.metrics_of_resources(index, rids + [uuid.uuid4()],
                                     ["cpu", "nope"]),
         {"and": [{"in": {"resource_id": rids}},
                  {"in": {"name": ["cpu"]}}]}),
    ]
    for rows, attribute_filter in lookups:
        cache = {}
        ours = {m.id: m.flattened_target(cache) for m in rows}
        theirs = {m.id: policy.flattened(m.jsonify()) for m in
                  index.list_metrics(attribute_filter=attribute_filter)}
        assert len(ours) >= 3 and ours == theirs
        assert "archive_policy.back_window" in ours[rows[0].id]
        assert {m.id: m.jsonify()["name"] for m in rows} == {
            m.id: m.name for m in
            index.list_metrics(attribute_filter=attribute_filter)}
