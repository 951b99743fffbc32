"""A ``gnocchi-rs serve`` started from a notebook: a whole Gnocchi (API
and metricd on an embedded data directory) in one call, stopped with the
notebook or by ``stop()``."""
from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from gnocchi_rs.notebook import errors


class Server:
    """A started ``gnocchi-rs serve``: ``url``, ``data_dir``, ``stop()``;
    a context manager."""

    def __init__(self, process, url, data_dir, log_path):
        self.process = process
        self.url = url
        self.data_dir = data_dir
        self.log_path = log_path

    def __repr__(self):
        return "<gnocchi-rs serve at %s, data in %s>" % (self.url,
                                                          self.data_dir)

    def connect(self):
        """A source on this server (HTTP, as admin)."""
        from gnocchi_rs import notebook

        return notebook.connect(self.url, user="admin")

    def stop(self, timeout=30):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(data_dir=None, port=None, timeout=120):
    """Starts ``gnocchi-rs serve`` on ``data_dir`` (a new temporary
    directory by default) and ``port`` (a free one by default) and returns
    once it answers."""
    import requests

    data_dir = os.path.abspath(os.path.expanduser(
        data_dir or tempfile.mkdtemp(prefix="gnocchi-rs-")))
    port = port or _free_port()
    log_path = os.path.join(data_dir, "serve.log")
    os.makedirs(data_dir, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gnocchi_rs.cli", "serve", "--data-dir",
             data_dir, "--host", "127.0.0.1", "--port", str(port)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = Server(process, "http://127.0.0.1:%d" % port, data_dir,
                    log_path)
    atexit.register(server.stop)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise errors.Unavailable(
                "gnocchi-rs serve exited (status %s); its log: %s"
                % (process.returncode, log_path))
        try:
            if requests.get(server.url + "/v1/status", auth=("admin", ""),
                            timeout=2).status_code == 200:
                return server
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise errors.Unavailable(
                "gnocchi-rs serve did not answer within %ss; its log: %s"
                % (timeout, log_path))
        time.sleep(0.2)
