"""A `gnocchi-rs api` worker SIGKILLed mid-request loses no accepted
measure: every measure of every post answered 202 is in the incoming
store afterwards, read back by upstream's own file driver.

Two workers (granian's, the default, and gunicorn's) serve single-measure
posts and batches (the native ingest path) from two clients while a third
thread kills a random worker every few hundred milliseconds; the server's
master starts new ones, however often it happens. A post whose connection
dies gets no answer and may or may not be stored; a 202 must be."""
from __future__ import annotations

import base64
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest

import rest_harness

BIN = os.path.dirname(sys.executable)
AUTH = {"Authorization": "basic " + base64.b64encode(b"admin:").decode(),
        "Content-Type": "application/json"}
RUN_SECONDS = 8


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _workers(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(p) for p in f.read().split()]


class _Client(threading.Thread):
    """Posts until told to stop; keeps the measures of the 202s."""

    def __init__(self, port, metrics, seed, stop):
        super().__init__(daemon=True)
        self.port, self.metrics, self.stop = port, metrics, stop
        self.random = random.Random(seed)
        self.accepted = []           # (metric id, timestamp, value)
        self.failed = 0
        self.base = 1_700_000_000 + seed * 10_000_000
        self.sent = 0

    def _measures(self, n):
        out = []
        for _ in range(n):
            self.sent += 1
            out.append((self.base + self.sent, float(self.sent)))
        return out

    def _post(self, connection, path, body):
        connection.request("POST", path, json.dumps(body), AUTH)
        response = connection.getresponse()
        response.read()
        return response.status

    def run(self):
        connection = None
        while not self.stop.is_set():
            if connection is None:
                connection = http.client.HTTPConnection(
                    "127.0.0.1", self.port, timeout=30)
            if self.random.random() < 0.5:
                metric = self.random.choice(self.metrics)
                measures = self._measures(1)
                path, body = "/v1/metric/%s/measures" % metric, [
                    {"timestamp": t, "value": v} for t, v in measures]
                posted = [(metric, t, v) for t, v in measures]
            else:
                chosen = self.random.sample(self.metrics, 5)
                batch = {m: self._measures(20) for m in chosen}
                path, body = "/v1/batch/metrics/measures", {
                    m: [{"timestamp": t, "value": v} for t, v in ms]
                    for m, ms in batch.items()}
                posted = [(m, t, v) for m, ms in batch.items()
                          for t, v in ms]
            try:
                status = self._post(connection, path, body)
            except (OSError, http.client.HTTPException):
                self.failed += 1
                connection.close()
                connection = None
                time.sleep(0.05)
                continue
            assert status in (202, 502, 503), status
            if status == 202:
                self.accepted.extend(posted)
        if connection is not None:
            connection.close()


@pytest.mark.parametrize("http_server", ["granian", "gunicorn"])
def test_killed_api_workers_lose_no_accepted_measure(tmp_path, http_server):
    from gnocchi import incoming

    directory = str(tmp_path)
    conf = rest_harness.embedded_conf(directory)
    index = rest_harness.set_up(conf)
    metrics = [str(uuid.uuid4()) for _ in range(20)]
    for metric in metrics:
        index.create_metric(uuid.UUID(metric), "admin", "low")
    index.disconnect()

    port = _free_port()
    log = open(os.path.join(directory, "api.log"), "ab")
    server = subprocess.Popen(
        [os.path.join(BIN, "gnocchi-rs"), "api", "--config-file",
         os.path.join(directory, "gnocchi.conf"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2", "--threads", "1",
         "--server", http_server],
        stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, open(log.name).read()[-2000:]
            try:
                with socket.create_connection(("127.0.0.1", port), 1):
                    break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        stop = threading.Event()
        clients = [_Client(port, metrics, seed, stop) for seed in (1, 2)]
        for client in clients:
            client.start()
        kills = 0
        killer = random.Random(3)
        end = time.monotonic() + RUN_SECONDS
        while time.monotonic() < end:
            time.sleep(killer.uniform(0.2, 0.6))
            workers = _workers(server.pid)
            if workers:
                os.kill(killer.choice(workers), signal.SIGKILL)
                kills += 1
        # Let the last workers start and serve a while undisturbed.
        time.sleep(3)
        stop.set()
        for client in clients:
            client.join(60)
        assert server.poll() is None, "the server stopped under the kills"
        assert len(_workers(server.pid)) == 2
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        log.close()

    accepted = [m for client in clients for m in client.accepted]
    assert kills >= 8
    assert sum(client.failed for client in clients) > 0   # kills hit posts
    assert len(accepted) > 100

    # Upstream's own file driver reads what the native path wrote.
    conf.set_override("driver", "file", "incoming")
    inbox = incoming.get_driver(conf)
    with inbox.process_measure_for_metrics(
            [uuid.UUID(m) for m in metrics]) as stored:
        found = {(str(metric), int(ts.astype("datetime64[s]").astype(int)),
                  float(value))
                 for metric, series in stored.items()
                 for ts, value in zip(series["timestamps"],
                                      series["values"])}
    missing = [m for m in accepted if m not in found]
    assert not missing, "%d of %d accepted measures lost: %s" % (
        len(missing), len(accepted), missing[:5])
