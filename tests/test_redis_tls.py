"""rs-redis over TLS, against a real redis-server serving TLS only with
certificates made here: measures written and processed by rs-redis read
back equal through upstream's redis driver (redis-py's TLS); client
certificates; a server certificate the CA did not sign, or that does not
name the host when the hostname is checked, is refused with an error that
says so."""
import os
import socket
import subprocess
import time
import uuid

import numpy
import pytest

import rest_harness



def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   capture_output=True)


def _certificates(directory):
    """A CA, a server certificate for 127.0.0.1 and one naming only
    another host, a client certificate, and an unrelated CA."""
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                 ca + ".key", "-out", ca + ".crt", "-days", "2", "-subj",
                 "/CN=" + ca, cwd=directory)
    for name, san in (("server", "IP:127.0.0.1,DNS:localhost"),
                      ("elsewhere", "DNS:elsewhere.example"),
                      ("client", "DNS:client")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout",
                 name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name,
                 cwd=directory)
        with open(os.path.join(directory, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\n" % san)
        _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt",
                 "-CAkey", "ca.key", "-CAcreateserial", "-out", name + ".crt",
                 "-days", "2", "-extfile", name + ".ext", cwd=directory)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_redis(directory, cert, clients):
    port = _free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port),
         "--tls-cert-file", os.path.join(directory, cert + ".crt"),
         "--tls-key-file", os.path.join(directory, cert + ".key"),
         "--tls-ca-cert-file", os.path.join(directory, "ca.crt"),
         "--tls-auth-clients", clients, "--save", "", "--appendonly", "no",
         "--dir", directory],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return process, port
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tls"))
    _certificates(directory)
    servers = {}
    for name, cert, clients in (("open", "server", "no"),
                                ("mutual", "server", "yes"),
                                ("misnamed", "elsewhere", "no")):
        servers[name] = _start_redis(directory, cert, clients)
    yield directory, {name: port for name, (_, port) in servers.items()}
    for process, _ in servers.values():
        process.terminate()
        process.wait(10)


def _conf(directory, url):
    from gnocchi import service
    from oslo_config import cfg

    path = os.path.join(directory, "gnocchi-%s.conf" % uuid.uuid4().hex[:8])
    with open(path, "w") as f:
        f.write("[DEFAULT]\ncoordination_url = file://{d}/coordination\n"
                "[indexer]\nurl = sqlite:///{d}/index-{n}.sqlite\n"
                "[storage]\ndriver = rs-redis\nredis_url = {u}\n"
                "[incoming]\ndriver = rs-redis\nredis_url = {u}\n".format(
                    d=directory, u=url, n=uuid.uuid4().hex[:8]))
    return service.prepare_service(args=["--config-file", path],
                                   conf=cfg.ConfigOpts(), skip_log_opts=True)


def _url(tls_dir, port, **options):
    query = "&".join("%s=%s" % item for item in options.items())
    return "redis://127.0.0.1:%d?ssl=true&ssl_ca_certs=%s/ca.crt%s" % (
        port, tls_dir, "&" + query if query else "")


def _write_process_read(conf):
    """Measures through rs-redis, processed with rs-redis storage; the
    aggregates as rs-redis and as upstream's redis driver read them."""
    from gnocchi import chef
    from gnocchi import incoming
    from gnocchi import storage
    from tooz import coordination

    index = rest_harness.set_up(conf)
    metric_id = uuid.uuid4()
    index.create_metric(metric_id, "admin", archive_policy_name="low")
    start = numpy.datetime64("2026-12-06T00:00:00", "ns")
    inc = incoming.get_driver(conf)
    inc.add_measures(metric_id, [
        incoming.Measure(start + numpy.timedelta64(i, "m"), float(i))
        for i in range(600)])
    coord = coordination.get_coordinator(conf.coordination_url, b"tls")
    coord.start(start_heart=True)
    chef.Chef(coord, inc, index, storage.get_driver(conf)).refresh_metrics(
        index.list_metrics(details=True), timeout=60, sync=True)
    coord.stop()
    metric = index.list_metrics(details=True)[0]
    answers = {}
    for driver in ("rs-redis", "redis"):
        conf.set_override("driver", driver, "storage")
        read = storage.get_driver(conf).get_aggregated_measures(
            {metric: metric.archive_policy.aggregations})[metric]
        answers[driver] = {str(agg): (ts.ts["timestamps"].tolist(),
                                      ts.ts["values"].tolist())
                           for agg, ts in read.items()}
    index.disconnect()
    return answers


def test_rs_redis_over_tls_reads_back_as_upstream_reads(tls, tmp_path):
    tls_dir, ports = tls
    answers = _write_process_read(_conf(str(tmp_path),
                                        _url(tls_dir, ports["open"])))
    assert answers["rs-redis"] == answers["redis"]
    mean = [v for k, v in answers["rs-redis"].items() if "mean" in k][0]
    assert len(mean[0]) == 600 // 5 and mean[1][0] == 2.0


def test_a_client_certificate(tls, tmp_path):
    tls_dir, ports = tls
    url = _url(tls_dir, ports["mutual"],
               ssl_certfile=tls_dir + "/client.crt",
               ssl_keyfile=tls_dir + "/client.key")
    answers = _write_process_read(_conf(str(tmp_path), url))
    assert answers["rs-redis"] == answers["redis"]


def _native_connection(conf):
    from gnocchi.common import redis as upstream_redis

    from gnocchi_rs import redis_config

    client, _ = upstream_redis.get_client(conf.storage)
    return redis_config.native_kwargs(client)


def _first_use(conf):
    from gnocchi import incoming
    from gnocchi import storage as upstream_storage

    try:
        incoming.get_driver(conf).upgrade(8)
    except upstream_storage.StorageError as e:
        return str(e)
    except Exception as e:  # the error as the driver raises it
        return "%s: %s" % (type(e).__name__, e)
    return None


def test_certificates_that_do_not_verify_are_refused(tls, tmp_path):
    tls_dir, ports = tls
    # Signed by another CA.
    url = "redis://127.0.0.1:%d?ssl=true&ssl_ca_certs=%s/other-ca.crt" % (
        ports["open"], tls_dir)
    error = _first_use(_conf(str(tmp_path), url))
    assert error and "certificate" in error.lower(), error
    # A certificate naming another host: redis-py checks the name by
    # default, and so does rs-redis with the settings it takes from it.
    conf = _conf(str(tmp_path), _url(tls_dir, ports["misnamed"]))
    settings = _native_connection(conf)
    assert settings["ssl"] and settings["ssl_ca_certs"].endswith("ca.crt")
    if settings["ssl_check_hostname"]:
        error = _first_use(conf)
        assert error and "certificate" in error.lower(), error
    # The mutual server without a client certificate.
    error = _first_use(_conf(str(tmp_path), _url(tls_dir, ports["mutual"])))
    assert error, "a server asking for a client certificate let us in"


def test_the_hostname_check_follows_the_settings(tls):
    from gnocchi_rs import _native

    tls_dir, ports = tls
    common = dict(host="127.0.0.1", port=ports["misnamed"], ssl=True,
                  ssl_ca_certs=tls_dir + "/ca.crt", socket_timeout=5.0)
    lenient = _native.RedisConnection(ssl_check_hostname=False, **common)
    strict = _native.RedisConnection(ssl_check_hostname=True, **common)
    unverified = _native.RedisConnection(
        ssl_cert_reqs="none", **dict(common, ssl_ca_certs=tls_dir +
                                     "/other-ca.crt"))
    for connection, works in ((lenient, True), (strict, False),
                              (unverified, True)):
        store = _native.NativeIncoming.redis(connection)
        try:
            store.has_unprocessed("incoming8-0", bytes(16))
        except Exception as e:
            assert not works, e
            assert "certificate" in str(e).lower(), e
        else:
            assert works
