"""rs-redis follows a Sentinel failover: a master, a replica and a pair of
sentinels (real redis-server processes); measures posted through rs-redis
incoming at a steady pace while the sentinels fail the master over; every
batch the driver acknowledged is on the new master, once, and posting goes
on there. The masters require a replica to write (`min-replicas-to-write
1`, the setting that stops a demoted master from accepting writes it will
throw away), so the acknowledged batches are the ones replicated."""
import os
import socket
import subprocess
import threading
import time
import uuid

import numpy
import pytest


SERVICE = "gnocchi-master"


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args],
                          capture_output=True, text=True,
                          timeout=10).stdout.strip()


def _wait(what, check, timeout=30):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.1)


@pytest.fixture(scope="module")
def sentinel_pair(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("sentinel"))
    master, replica = _free_port(), _free_port()
    sentinels = [_free_port(), _free_port()]
    processes = []
    for port, extra in ((master, []),
                        (replica, ["--replicaof", "127.0.0.1", str(master)])):
        data = os.path.join(directory, str(port))
        os.makedirs(data)
        processes.append(subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "",
             "--appendonly", "no", "--dir", data,
             "--min-replicas-to-write", "1",
             "--min-replicas-max-lag", "10"] + extra,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    _wait("the replica's sync", lambda: "master_link_status:up" in _cli(
        replica, "info", "replication"))
    for port in sentinels:
        conf = os.path.join(directory, "sentinel-%d.conf" % port)
        with open(conf, "w") as f:
            f.write("port %d\nsentinel monitor %s 127.0.0.1 %d 1\n"
                    "sentinel down-after-milliseconds %s 1000\n"
                    "sentinel failover-timeout %s 10000\n"
                    % (port, SERVICE, master, SERVICE, SERVICE))
        processes.append(subprocess.Popen(
            ["redis-server", conf, "--sentinel"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for port in sentinels:
        _wait("sentinel %d to see the replica" % port, lambda: str(
            replica) in _cli(port, "sentinel", "replicas", SERVICE))
    yield {"master": master, "replica": replica, "sentinels": sentinels}
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(10)


def _master(sentinel):
    return _cli(sentinel, "sentinel", "get-master-addr-by-name",
                SERVICE).split()


def test_posting_follows_a_failover_and_loses_nothing(sentinel_pair,
                                                      tmp_path):
    from gnocchi import incoming
    from gnocchi import service
    from oslo_config import cfg
    import redis

    first, second = sentinel_pair["sentinels"]
    url = ("redis://127.0.0.1:%d?sentinel=%s&sentinel_fallback=127.0.0.1:%d"
           % (first, SERVICE, second))
    path = tmp_path / "gnocchi.conf"
    path.write_text("[DEFAULT]\ncoordination_url = file://%s/c\n"
                    "[indexer]\nurl = sqlite:///%s/index.sqlite\n"
                    "[incoming]\ndriver = rs-redis\nredis_url = %s\n"
                    % (tmp_path, tmp_path, url))
    conf = service.prepare_service(args=["--config-file", str(path)],
                                   conf=cfg.ConfigOpts(), skip_log_opts=True)
    driver = incoming.get_driver(conf)
    driver.upgrade(8)
    metrics = [uuid.uuid4() for _ in range(4)]
    start = numpy.datetime64("2026-12-06T00:00:00", "ns")
    acknowledged, failed, after_failover = [], [], []
    switched = threading.Event()
    stop = threading.Event()

    def post():
        i = 0
        while not stop.is_set():
            batch = {m: [incoming.Measure(start + numpy.timedelta64(i, "s"),
                                          float(i))] for m in metrics}
            try:
                driver.add_measures_batch(batch)
            except Exception as e:  # refused: not acknowledged
                failed.append((i, repr(e)))
            else:
                acknowledged.append(i)
                if switched.is_set():
                    after_failover.append(i)
            i += 1
            time.sleep(0.005)

    writer = threading.Thread(target=post)
    writer.start()
    try:
        time.sleep(1.0)
        assert _master(first)[1] == str(sentinel_pair["master"])
        _cli(first, "sentinel", "failover", SERVICE)
        _wait("the failover", lambda: _master(first)[1:] == [
            str(sentinel_pair["replica"])] and _master(second)[1:] == [
            str(sentinel_pair["replica"])])
        switched.set()
        _wait("posts to the new master", lambda: len(after_failover) > 50)
    finally:
        stop.set()
        writer.join(60)
    assert not writer.is_alive()

    new_master = redis.Redis(port=sentinel_pair["replica"])
    assert new_master.info("replication")["role"] == "master"
    stored = {}
    for key in new_master.scan_iter(match=b"incoming8-*:*"):
        metric = key.split(b":", 1)[1].decode()
        values = []
        for blob in new_master.lrange(key, 0, -1):
            values.extend(numpy.frombuffer(
                blob, dtype=[("t", "<i8"), ("v", "<f8")])["v"].tolist())
        stored[metric] = values
    assert sorted(stored) == sorted(str(m) for m in metrics)
    for metric, values in stored.items():
        # Every acknowledged batch once; none twice.
        assert len(values) == len(set(values)), metric
        missing = set(float(i) for i in acknowledged) - set(values)
        assert not missing, (metric, sorted(missing)[:10], failed[:5])
    print("acknowledged %d, refused %d, after the failover %d" % (
        len(acknowledged), len(failed), len(after_failover)))
    assert len(acknowledged) > 200
