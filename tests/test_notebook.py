"""gnocchi_rs.notebook: the same queries answered over HTTP by a running
`gnocchi-rs api` and read locally in process from the same deployment give
equal frames, on rs-file and rs-redis, with measures still pending and
after processing; the frames hold what was written; bad use raises the
notebook's errors."""
import os
import socket
import subprocess
import sys
import time
import uuid

import numpy
import pytest

import pandas

from gnocchi_rs import notebook as gn

BIN = os.path.dirname(sys.executable)
DAY = 1440
START = pandas.Timestamp("2026-12-06T00:00:00Z")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _conf(directory, backend, redis_url):
    if backend == "rs-file":
        storage = "driver = rs-file\nfile_basepath = %s/storage" % directory
    else:
        # A database of its own on the session's Redis.
        storage = "driver = rs-redis\nredis_url = %s" % _redis_db(redis_url)
    path = os.path.join(directory, "gnocchi.conf")
    with open(path, "w") as f:
        f.write("[DEFAULT]\ncoordination_url = file://{d}/coordination\n"
                "[api]\nauth_mode = basic\n"
                "[indexer]\nurl = sqlite:///{d}/index.sqlite\n"
                "[storage]\n{s}\n[incoming]\n{s}\n".format(
                    d=directory, s=storage))
    return path


def _redis_db(url):
    import redis

    base = url.split("?")[0].rstrip("/")
    redis.Redis.from_url(base + "/7").flushdb()
    return base + "?db=7"


@pytest.fixture(scope="module", params=["rs-file", "rs-redis"])
def deployment(request, tmp_path_factory):
    """`gnocchi-rs api` (no metricd: measures stay pending until a refresh
    processes them) on a new deployment; (http source, local source)."""
    directory = str(tmp_path_factory.mktemp("notebook"))
    redis_url = request.getfixturevalue("redis_url") \
        if request.param == "rs-redis" else None
    conf = _conf(directory, request.param, redis_url)
    gnocchi_rs = os.path.join(BIN, "gnocchi-rs")
    subprocess.run([gnocchi_rs, "upgrade", "--config-file", conf],
                   check=True, capture_output=True)
    port = _free_port()
    log_path = os.path.join(directory, "api.log")
    with open(log_path, "ab") as log:
        server = subprocess.Popen(
            [gnocchi_rs, "api", "--config-file", conf, "--host",
             "127.0.0.1", "--port", str(port), "--workers", "1"],
            stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, open(log_path).read()[-3000:]
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        http = gn.connect("http://127.0.0.1:%d" % port, user="admin")
        local = gn.open_local(conf)
        yield http, local, _populate(http)
    finally:
        server.terminate()
        server.wait(30)


def _values(seed, n):
    rng = numpy.random.default_rng(seed)
    return numpy.round(50 + numpy.cumsum(rng.normal(0, 1, n)), 3)


def _populate(http):
    """Two hosts, two resources each with cpu and mem (medium policy: 60 s
    and 1 h); the first 20 hours processed, the last 4 still pending."""
    written = {}
    for i in range(4):
        rid = str(uuid.uuid4())
        http.create_resource("generic", id=rid, user_id="u%d" % (i % 2),
                             project_id="p")
        for name, unit in (("cpu", "%"), ("mem", "MB")):
            mid = http.create_metric(name=name, unit=unit, resource_id=rid,
                                     archive_policy_name="medium")
            index = pandas.date_range(START, periods=DAY, freq="60s")
            keep = numpy.ones(DAY, bool)
            keep[100 + 7 * i:130 + 7 * i] = False  # a gap per metric
            written[mid] = pandas.Series(_values(len(written), DAY),
                                         index=index)[keep]
    processed_until = START + pandas.Timedelta(hours=20)
    http.write({m: s[s.index < processed_until] for m, s in written.items()})
    for metric in written:  # a refresh processes through the API
        http.measures(metric, granularity=3600, refresh=True)
    http.write({m: s[s.index >= processed_until]
                for m, s in written.items()})
    return {"series": written, "processed_until": processed_until,
            "pending": True}


def _process(http, state):
    if state["pending"]:
        for metric in state["series"]:
            http.measures(metric, granularity=3600, refresh=True)
        state["pending"] = False


QUERIES = [
    ("measures, every granularity", lambda g, ids: g.measures(ids)),
    ("measures at 60 s", lambda g, ids: g.measures(ids, granularity=60)),
    ("max, 1 h, a time range", lambda g, ids: g.measures(
        ids[:2], aggregation="max", granularity=3600,
        start="2026-12-06T03:00:00", stop=START + pandas.Timedelta(hours=9))),
    ("resampled to 10 min", lambda g, ids: g.measures(
        ids[0], granularity=60, resample="10min")),
    ("long", lambda g, ids: g.measures(ids, granularity=60, shape="long")),
    ("from a metrics frame", lambda g, ids: g.measures(
        g.metrics(name="cpu"), granularity=60)),
    ("by resource and name, numpy times", lambda g, ids: g.measures(
        [(r, "mem") for r in sorted(set(g.metrics()["resource_id"]))],
        granularity=3600, start=numpy.datetime64("2026-12-06T05:00"))),
    ("aggregates of ids", lambda g, ids: g.aggregates(
        "(aggregate mean (metric %s))" % " ".join(
            "(%s mean)" % i for i in ids[:3]), granularity=60)),
    ("aggregates, metric list", lambda g, ids: g.aggregates(
        ["metric", [ids[0], "mean"], [ids[1], "max"]])),
    ("aggregates, search and groupby", lambda g, ids: g.aggregates(
        "(aggregate mean (metric cpu mean))", search={"=": {"project_id":
                                                             "p"}},
        groupby=["user_id"], granularity=60, fill=0)),
    ("aggregates, arithmetic over a search", lambda g, ids: g.aggregates(
        "(* (metric mem mean) 2)", resource_type="generic",
        search="project_id='p'", granularity=3600, shape="long")),
    ("aggregates, ffill with overlap", lambda g, ids: g.aggregates(
        "(aggregate sum (metric (%s mean) (%s mean)))" % tuple(ids[:2]),
        granularity=60, fill="ffill", needed_overlap=0)),
]


def _frames_equal(a, b):
    pandas.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.attrs == b.attrs


def test_pending_measures_are_not_read(deployment):
    http, local, state = deployment
    assert state["pending"], "tests ran out of order"
    metric = sorted(state["series"])[0]
    written = state["series"][metric]
    before = local.measures(metric, granularity=60)
    assert before.index.max() < state["processed_until"]
    assert len(before) == (written.index < state["processed_until"]).sum()


# Every query with measures pending, then every query after processing
# (the decorator nearest the function varies slowest).
@pytest.mark.parametrize("name,query", QUERIES, ids=[q[0] for q in QUERIES])
@pytest.mark.parametrize("phase", ["pending", "processed"])
def test_local_and_http_reads_are_equal(deployment, phase, name, query):
    http, local, state = deployment
    if phase == "processed":
        _process(http, state)
    else:
        assert state["pending"], "tests ran out of order"
    ids = sorted(state["series"])
    from_http, from_local = query(http, ids), query(local, ids)
    _frames_equal(from_http, from_local)
    assert len(from_http) > 0


def test_processed_measures_are_read(deployment):
    http, local, state = deployment
    metric = sorted(state["series"])[0]
    written = state["series"][metric]
    _process(http, state)
    after = local.measures(metric, granularity=60)
    assert len(after) == len(written)
    # At 60 s a point's mean is the point.
    numpy.testing.assert_array_equal(after[metric].to_numpy(),
                                     written.to_numpy())
    assert (after.index == written.index).all()
    assert str(after.index.tz) == "UTC"
    hourly = local.measures(metric, granularity=3600)
    numpy.testing.assert_allclose(
        hourly[metric].to_numpy(),
        written.resample("1h").mean().dropna().to_numpy(), rtol=1e-12)


def test_arrow_and_numpy_outputs_hold_the_frames_values(deployment):
    http, local, state = deployment
    _process(http, state)
    ids = sorted(state["series"])[:3]
    frame = local.measures(ids)
    table = local.measures(ids, output="arrow")
    assert table.column_names == ["granularity", "timestamp"] + ids
    for metric in ids:
        numpy.testing.assert_array_equal(
            table.column(metric).to_numpy(), frame[metric].to_numpy())
    arrays = http.measures(ids, output="numpy")
    for metric in ids:
        got = arrays[metric]
        column = frame[metric].dropna()
        assert len(got) == len(column)
        numpy.testing.assert_array_equal(got["value"], column.to_numpy())
    long_table = http.aggregates("(metric (%s mean) (%s mean))"
                                 % tuple(ids[:2]), granularity=60,
                                 shape="long", output="arrow")
    long_frame = local.aggregates("(metric (%s mean) (%s mean))"
                                  % tuple(ids[:2]), granularity=60,
                                  shape="long")
    assert long_table.num_rows == len(long_frame)
    numpy.testing.assert_array_equal(long_table.column("value").to_numpy(),
                                     long_frame["value"].to_numpy())


def test_listings(deployment):
    http, local, state = deployment
    metrics = local.metrics()
    assert sorted(metrics["id"]) == sorted(state["series"])
    assert set(metrics["name"]) == {"cpu", "mem"}
    _frames_equal(http.metrics(unit="MB"), local.metrics(unit="MB"))
    assert len(local.metrics(unit="MB")) == 4
    resources = local.resources(user_id="u1")
    assert len(resources) == 2 and set(resources["user_id"]) == {"u1"}
    assert str(resources["started_at"].dt.tz) == "UTC"
    _frames_equal(http.resources(search={"=": {"user_id": "u0"}}),
                  local.resources(search="user_id='u0'"))


@pytest.mark.parametrize("source", ["http", "local"])
def test_bad_use_gets_the_notebooks_errors(deployment, source):
    http, local, state = deployment
    g = http if source == "http" else local
    metric = sorted(state["series"])[0]
    with pytest.raises(gn.NotFound, match="does not exist"):
        g.measures(str(uuid.uuid4()))
    with pytest.raises(gn.NotFound, match="granularity"):
        g.measures(metric, granularity=7)
    with pytest.raises(gn.BadQuery, match="start"):
        g.measures(metric, start="yesterday-ish")
    with pytest.raises(gn.BadQuery):
        g.aggregates("(aggregate mean (metric")
    with pytest.raises(gn.BadQuery, match="not a metric id"):
        g.measures("cpu")
    with pytest.raises(gn.BadQuery, match="a frame of resources"):
        g.measures(g.resources())
    with pytest.raises(gn.NotFound):
        g.aggregates("(metric (%s mean))" % uuid.uuid4())


def test_permissions_and_a_read_only_local_source(deployment):
    http, local, state = deployment
    metric = sorted(state["series"])[0]
    stranger = gn.connect(http._transport.url, user="somebody")
    with pytest.raises(gn.Forbidden):
        stranger.measures(metric)
    with pytest.raises(gn.ReadOnly):
        local.create_metric(name="x", archive_policy_name="low")
    with pytest.raises(gn.ReadOnly):
        local.measures(metric, refresh=True)


def test_a_keystoneauth_session_reaches_the_catalogs_endpoint(deployment):
    from keystoneauth1 import http_basic
    from keystoneauth1 import session

    http, local, state = deployment
    auth = http_basic.HTTPBasicAuth(endpoint=http._transport.url,
                                    username="admin", password="")
    g = gn.connect(session=session.Session(auth=auth))
    metric = sorted(state["series"])[0]
    _frames_equal(g.measures(metric), http.measures(metric))
    with pytest.raises(gn.NotFound):
        g.measures(str(uuid.uuid4()))


def test_sources_that_cannot_be_used(tmp_path):
    with pytest.raises(gn.Unavailable, match="does not answer"):
        gn.connect("http://127.0.0.1:%d" % _free_port(),
                   user="admin").metrics()
    with pytest.raises(gn.GnocchiError, match="neither"):
        gn.open_local(str(tmp_path / "nothing"))
