"""`gnocchi-rs serve` on a fresh data directory, driven by the real
`gnocchi` command line client; `gnocchi-rs config` and `gnocchi-rs
upgrade`."""
from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid


BIN = os.path.dirname(sys.executable)
GNOCCHI_RS = os.path.join(BIN, "gnocchi-rs")
GNOCCHI_CLIENT = os.path.join(BIN, "gnocchi")

RESOURCE_ID = "5a301761-f78b-46e2-8900-8b4f6fe6675a"
# (timestamp, value) posted to each metric, over two minutes.
CPU_MEASURES = [("2026-11-21T10:00:00", 1.0), ("2026-11-21T10:00:01", 3.0),
                ("2026-11-21T10:00:30", 5.0), ("2026-11-21T10:01:10", 10.0),
                ("2026-11-21T10:01:50", 4.0)]
MEM_MEASURES = [("2026-11-21T10:00:10", 100.0),
                ("2026-11-21T10:00:20", 300.0)]


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _children(pid):
    path = "/proc/%d/task/%d/children" % (pid, pid)
    with open(path) as f:
        return [int(p) for p in f.read().split()]


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


class Serve:
    def __init__(self, data_dir, port):
        self.url = "http://127.0.0.1:%d" % port
        self.log = open(os.path.join(data_dir + "-serve.log"), "ab")
        self.proc = subprocess.Popen(
            [GNOCCHI_RS, "serve", "--data-dir", data_dir, "--port",
             str(port), "--sacks-number", "8"],
            stdout=subprocess.PIPE, stderr=self.log, text=True)

    def status(self):
        request = urllib.request.Request(self.url + "/v1/status", headers={
            "Authorization": "Basic " + base64.b64encode(b"admin:").decode()})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)

    def wait_ready(self, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, "serve exited: %s" % self.logs()
            try:
                return self.status()
            except OSError:
                time.sleep(0.3)
        raise AssertionError("no /v1/status after %ds: %s"
                             % (timeout, self.logs()))

    def logs(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read()[-3000:].decode(errors="replace")

    def stop(self, timeout=60):
        children = _children(self.proc.pid)
        assert len(children) == 2          # api and metricd
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(timeout)
        self.log.close()
        return status, children


def gnocchi(url, *args, output=True):
    out = subprocess.run(
        [GNOCCHI_CLIENT, "--endpoint", url, "--os-auth-type",
         "gnocchi-basic", "--user", "admin", *args,
         *(["-f", "json"] if output else [])],
        capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else None


def _points(rows):
    return [(r["timestamp"][:19], r["granularity"], r["value"]) for r in rows]


def test_serve_end_to_end_with_gnocchiclient(tmp_path):
    # gnocchiclient comes with the test extra: a missing one is a failure.
    assert os.path.exists(GNOCCHI_CLIENT), "no %s" % GNOCCHI_CLIENT
    data_dir = str(tmp_path / "data")
    serve = Serve(data_dir, _free_port())
    status = serve.wait_ready()
    banner = serve.proc.stdout.readline() + serve.proc.stdout.readline()
    assert serve.url in banner
    # Nothing waits: no age, nothing to drain; file:// coordination keeps
    # no worker rates.
    assert status["storage"]["summary"] == {
        "metrics": 0, "measures": 0, "oldest_measure_age": None,
        "processing_rate": None, "drain_estimate": 0}
    # metricd joins its group on its own time.
    deadline = time.monotonic() + 60
    while not status["metricd"]["processors"]:
        assert time.monotonic() < deadline, serve.logs()
        time.sleep(0.3)
        status = serve.status()
    assert len(status["metricd"]["processors"]) == 1
    conf = open(os.path.join(data_dir, "gnocchi.conf")).read()
    assert "driver = rs-file" in conf and "sqlite:///" in conf
    assert len(os.listdir(os.path.join(data_dir, "incoming"))) >= 8

    url = serve.url
    policy = gnocchi(url, "archive-policy", "create", "two-grains",
                     "-d", "granularity:1s,points:3600",
                     "-d", "granularity:60s,points:60",
                     "-m", "mean", "-m", "max", "-m", "count")
    assert set(policy["aggregation_methods"]) == {"mean", "max", "count"}
    resource = gnocchi(url, "resource", "create", "generic",
                       "--attribute", "id:" + RESOURCE_ID,
                       "-n", "cpu:two-grains", "-n", "mem:two-grains")
    assert set(resource["metrics"]) == {"cpu", "mem"}
    for name, measures in (("cpu", CPU_MEASURES), ("mem", MEM_MEASURES)):
        gnocchi(url, "measures", "add", "-r", RESOURCE_ID, name,
                *[arg for ts, v in measures for arg in ("-m", "%s@%s" % (
                    ts, v))], output=False)

    # Processed by metricd in the background: the backlog drains.
    deadline = time.monotonic() + 60
    while serve.status()["storage"]["summary"]["measures"]:
        assert time.monotonic() < deadline, serve.logs()
        time.sleep(0.5)

    cpu_mean = gnocchi(url, "measures", "show", "-r", RESOURCE_ID, "cpu",
                       "--aggregation", "mean", "--granularity", "60")
    assert _points(cpu_mean) == [("2026-11-21T10:00:00", 60.0, 3.0),
                                 ("2026-11-21T10:01:00", 60.0, 7.0)]
    cpu_max = gnocchi(url, "measures", "show", "-r", RESOURCE_ID, "cpu",
                      "--aggregation", "max", "--granularity", "1")
    assert _points(cpu_max) == [(ts, 1.0, v) for ts, v in CPU_MEASURES]
    mem_count = gnocchi(url, "measures", "show", "-r", RESOURCE_ID, "mem",
                        "--aggregation", "count", "--granularity", "60")
    assert _points(mem_count) == [("2026-11-21T10:00:00", 60.0, 2.0)]
    total = gnocchi(url, "aggregates",
                    "(+ (metric %s mean) (metric %s mean))" % (
                        resource["metrics"]["cpu"],
                        resource["metrics"]["mem"]),
                    "--granularity", "60")
    assert [row["value"] for row in total] == [203.0]

    status, children = serve.stop()
    assert status == 0, serve.logs()
    assert not [pid for pid in children if _alive(pid)]

    # The data directory is kept and reused as it is.
    serve = Serve(data_dir, _free_port())
    serve.wait_ready()
    again = gnocchi(serve.url, "measures", "show", "-r", RESOURCE_ID, "cpu",
                    "--aggregation", "mean", "--granularity", "60")
    assert again == cpu_mean
    assert serve.stop()[0] == 0


def _prepare(*conf_paths):
    from gnocchi import service
    from oslo_config import cfg
    args = [arg for path in conf_paths for arg in ("--config-file", path)]
    return service.prepare_service(args=args, conf=cfg.ConfigOpts(),
                                   skip_log_opts=True)


def test_config_sample_is_parseable_and_names_rs_drivers(tmp_path):
    from gnocchi import utils

    sample = tmp_path / "gnocchi.conf"
    subprocess.run([GNOCCHI_RS, "config", "--output-file", str(sample)],
                   check=True, timeout=60)
    text = sample.read_text()
    for section in ("[DEFAULT]", "[api]", "[indexer]", "[metricd]",
                    "[storage]", "[incoming]"):
        assert section in text
    # The indexer URL is the one required option the sample cannot guess.
    site = tmp_path / "site.conf"
    site.write_text("[indexer]\nurl = sqlite:///%s/index.sqlite\n" % tmp_path)
    conf = _prepare(str(sample), str(site))
    assert conf.storage.driver == "rs-file"
    # [incoming] driver follows [storage] driver.
    assert conf.incoming.driver == "rs-file"
    assert conf.api.auth_mode == "basic"
    driver = utils.get_driver_class("gnocchi.storage", conf.storage)
    assert driver.__module__ == "gnocchi_rs.storage.file"
    stdout = subprocess.run([GNOCCHI_RS, "config"], check=True,
                            capture_output=True, text=True).stdout
    assert stdout == text


def test_upgrade_fresh_data_dir(tmp_path):
    from gnocchi import incoming
    from gnocchi import indexer

    data = tmp_path / "data"
    data.mkdir()
    conf_path = tmp_path / "gnocchi.conf"
    conf_path.write_text(
        "[DEFAULT]\ncoordination_url = file://%s/coordination\n"
        "[indexer]\nurl = sqlite:///%s/index.sqlite\n"
        "[storage]\ndriver = rs-file\nfile_basepath = %s/storage\n"
        % (data, data, data))
    for sacks in ("8", "16"):
        out = subprocess.run([GNOCCHI_RS, "upgrade", "--config-file",
                              str(conf_path), "--sacks-number", sacks],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
    conf = _prepare(str(conf_path))
    # The second upgrade kept the sacks of the first.
    assert incoming.get_driver(conf).NUM_SACKS == 8
    sack_dirs = {d for d in os.listdir(data / "storage")
                 if d.startswith("incoming")}
    assert sack_dirs == {"incoming8-%d" % i for i in range(8)}
    index = indexer.get_driver(conf)
    names = {ap.name for ap in index.list_archive_policies()}
    assert {"low", "medium", "high", "bool"} <= names
    assert [r.name for r in index.list_archive_policy_rules()] == ["default"]
    metric = index.create_metric(uuid.uuid4(), "admin", "low")
    assert index.list_metrics(attribute_filter={"in": {"id": [metric.id]}})
    index.disconnect()
    # metricd's group exists before any metricd ran: upstream's /v1/status
    # answers 500 without it.
    from tooz import coordination
    coord = coordination.get_coordinator(conf.coordination_url, b"test")
    coord.start()
    try:
        assert coord.get_members(b"gnocchi-processing").get() == set()
    finally:
        coord.stop()
    shutil.rmtree(data)


def _http(url, method, path, body=None, raw=None):
    """(status, body text) of a request as admin; errors are answers too."""
    data = raw if raw is not None else (
        None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url + path, data=data, method=method, headers={
        "Authorization": "Basic " + base64.b64encode(b"admin:").decode(),
        "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_bad_input_at_the_service_edge(tmp_path):
    """Malformed JSON, wrong types, unknown metrics: upstream's status codes
    and messages; a huge batch is taken whole and every measure lands."""
    serve = Serve(str(tmp_path / "data"), _free_port())
    try:
        serve.wait_ready()
        url = serve.url
        status, body = _http(url, "POST", "/v1/metric",
                             raw=b'{"archive_policy_name": "low"')
        assert status == 400 and "Unable to decode body" in body
        status, body = _http(url, "POST", "/v1/metric",
                             {"archive_policy_name": 42})
        assert status == 400 and "Invalid input" in body
        status, metric = _http(url, "POST", "/v1/metric",
                               {"archive_policy_name": "medium"})
        assert status == 201
        metric = json.loads(metric)["id"]
        status, body = _http(url, "POST", "/v1/metric/%s/measures" % metric,
                             [{"timestamp": "yesterday-ish", "value": 1}])
        assert status == 400 and "Invalid input" in body
        status, body = _http(url, "POST", "/v1/metric/%s/measures" % metric,
                             [{"timestamp": "2026-11-21T10:00:00",
                               "value": "NaN-ish"}])
        assert status == 400 and "Invalid input" in body
        unknown = str(uuid.uuid4())
        status, body = _http(url, "POST", "/v1/batch/metrics/measures",
                             {unknown: [{"timestamp": "2026-11-21T10:00:00",
                                         "value": 1}]})
        assert status == 400 and "Unknown metrics: %s" % unknown in body
        # 200 000 measures in one request (a day and more at 1 s).
        start = 1_790_000_000
        huge = [{"timestamp": start + i, "value": float(i % 10)}
                for i in range(200_000)]
        status, body = _http(url, "POST", "/v1/metric/%s/measures" % metric,
                             huge)
        assert status == 202, body
        deadline = time.monotonic() + 120
        while serve.status()["storage"]["summary"]["measures"]:
            assert time.monotonic() < deadline, serve.logs()
            time.sleep(0.5)
        status, body = _http(
            url, "GET", "/v1/metric/%s/measures?aggregation=count"
            "&granularity=3600" % metric)
        assert status == 200
        # The medium policy keeps 1 h buckets for 30 days: all of them.
        assert sum(row[2] for row in json.loads(body)) == 200_000
    finally:
        assert serve.stop()[0] == 0
