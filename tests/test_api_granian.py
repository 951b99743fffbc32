"""`gnocchi-rs api` under granian, its default server: what it does
differently from granian's own command (gnocchi_rs.cli.api_granian)."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time

import rest_harness

from gnocchi_rs.cli import api_granian

BIN = os.path.dirname(sys.executable)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _data_directory(tmp_path):
    """A set-up embedded configuration and index in ``tmp_path``."""
    directory = str(tmp_path)
    rest_harness.set_up(rest_harness.embedded_conf(directory)).disconnect()
    return directory


def _start(directory, env=None):
    port = _free_port()
    log = open(os.path.join(directory, "api.log"), "ab")
    server = subprocess.Popen(
        [os.path.join(BIN, "gnocchi-rs"), "api", "--config-file",
         os.path.join(directory, "gnocchi.conf"), "--host", "127.0.0.1",
         "--port", str(port), "--workers", "1", "--threads", "2"],
        stdout=log, stderr=log, env=env)
    log.close()
    return server, port


def _wait_ready(server, port, log_path):
    deadline = time.monotonic() + 120
    while True:
        assert server.poll() is None, open(log_path).read()[-3000:]
        try:
            with socket.create_connection(("127.0.0.1", port), 1):
                return
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.2)


def _running(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _get(port, path, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, body


def test_process_environment_is_not_the_request(tmp_path):
    directory = _data_directory(tmp_path)
    with open(os.path.join(directory, "gnocchi.conf"), "a") as f:
        f.write("[api]\nauth_mode = remoteuser\n")
    # Exported where the server starts: neither is the request's.
    env = dict(os.environ, REMOTE_USER="admin", HTTP_X_ROLES="admin")
    server, port = _start(directory, env)
    try:
        _wait_ready(server, port, os.path.join(directory, "api.log"))
        status, _ = _get(port, "/v1/archive_policy")
        assert status == 401
        status, body = _get(port, "/v1/archive_policy",
                            {"X-Remote-User": "ignored"})
        assert status == 401
        # A front server's REMOTE_USER cannot come through HTTP; the
        # wrapper itself keeps a request's own value.
        seen = {}

        def app(environ, start_response):
            seen.update(environ)
            start_response("200 OK", [])
            return [b""]

        wrapped = api_granian.without_process_environment(
            app, {"REMOTE_USER": "admin", "CONTENT_TYPE": "text/plain"})
        wrapped({"REMOTE_USER": "admin", "CONTENT_TYPE": "application/json",
                 "PATH_INFO": "/"}, lambda *a: None)
        assert "REMOTE_USER" not in seen
        assert seen["CONTENT_TYPE"] == "application/json"
        assert seen["PATH_INFO"] == "/"
    finally:
        server.terminate()
        server.wait(60)


def test_basic_auth_request_is_served_and_the_server_stops_on_sigterm(
        tmp_path):
    directory = _data_directory(tmp_path)
    server, port = _start(directory)
    try:
        _wait_ready(server, port, os.path.join(directory, "api.log"))
        status, body = _get(port, "/v1/archive_policy/low",
                            {"Authorization": "basic YWRtaW46"})
        assert status == 200 and b'"name": "low"' in body
    finally:
        server.terminate()
        assert server.wait(60) == 0
    log = open(os.path.join(directory, "api.log")).read()
    # granian's lines through gnocchi's handlers (its format, one line).
    assert "INFO     _granian: Listening at: http://127.0.0.1:%d" % port in log


def test_a_worker_that_cannot_load_the_application_stops_the_server(
        tmp_path):
    directory = _data_directory(tmp_path)
    with open(os.path.join(directory, "gnocchi.conf"), "a") as f:
        f.write("[api]\npaste_config = %s/bad-paste.ini\n" % directory)
    with open(os.path.join(directory, "bad-paste.ini"), "w") as f:
        f.write("[pipeline:main]\npipeline = no-such-filter\n")
    server, _ = _start(directory)
    try:
        status = server.wait(90)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert status != 0
    log = open(os.path.join(directory, "api.log")).read()
    assert "A worker exited while starting, stopping" in log


def test_workers_end_with_a_killed_master(tmp_path):
    directory = _data_directory(tmp_path)
    server, port = _start(directory)
    try:
        _wait_ready(server, port, os.path.join(directory, "api.log"))
        with open("/proc/%d/task/%d/children" % (server.pid, server.pid)) as f:
            workers = [int(pid) for pid in f.read().split()]
        assert workers
        os.kill(server.pid, signal.SIGKILL)
        server.wait(30)
        deadline = time.monotonic() + 30
        while any(_running(pid) for pid in workers):
            assert time.monotonic() < deadline, "a worker outlived its master"
            time.sleep(0.1)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
