"""``gnocchi-rs api`` under granian: its Rust HTTP server in front of
worker processes that each build the application after the fork (like
uwsgi's --lazy-apps for upstream's gnocchi-api), each running it on
``threads`` Python threads.

Four things differ from granian as its command line runs it:

* its log lines go through the handlers gnocchi's ``prepare_service`` set
  up (one format, `[DEFAULT] log_file` or syslog), not handlers of its own;
* a worker killed by a signal (the OOM killer, an operator) is replaced
  however often it happens, where granian stops the whole server when a
  replaced worker dies again within 5.5 s; a worker that exits by itself
  soon after it started (an application that cannot load) still stops the
  server, as gunicorn stops on a worker boot error;
* a worker ends when its master dies, even by SIGKILL;
* the process environment does not reach requests: granian starts every
  WSGI environ from a copy of ``os.environ``, so a ``REMOTE_USER`` or a
  ``CONTENT_TYPE`` exported where the server starts would read as the
  request's own (with ``auth_mode = remoteuser``, as an authenticated user).
"""

import ctypes
import functools
import logging
import multiprocessing
import os
import signal
import time

from granian import constants
from granian import log as granian_log
from granian import server as granian_server

from gnocchi_rs.cli import wsgi

LOG = logging.getLogger(__name__)

# linux/prctl.h
PR_SET_PDEATHSIG = 1

# Granian's crash-loop window: a worker that exits by itself within it
# after starting is not started again.
BOOT_WINDOW = 5.5

# Applied incrementally: granian's loggers keep no handler and propagate
# to the root logger, whose handlers are left as prepare_service made them
# (a full dictConfig would close them).
_LOGGING = {
    "version": 1,
    "incremental": True,
    "handlers": {},
    "loggers": {
        "_granian": {"propagate": True},
        "granian.access": {"propagate": True},
    },
}


def without_process_environment(app, process_env):
    """``app`` seeing only the request's own environ: the keys granian
    copied from the process environment are dropped, unless the request
    set the same key to another value."""
    inherited = tuple(process_env.items())

    def application(environ, start_response):
        for name, value in inherited:
            if environ.get(name) == value:
                del environ[name]
        return app(environ, start_response)

    return application


def end_with_parent(parent_pid):
    """SIGTERM to this worker when its master dies, however it dies:
    granian's workers do not watch their parent (gunicorn's do), so a
    master killed with SIGKILL would leave them serving on its socket.
    Until granian sets the worker's own handlers (after the application
    is loaded), SIGTERM and SIGINT end it: the handlers inherited from the
    master would only set the master's flags in this copy of it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    libc.prctl.restype = ctypes.c_int
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        LOG.warning("Cannot ask for a signal at the API master's death: %s",
                    os.strerror(ctypes.get_errno()))
    if os.getppid() != parent_pid:
        # The master died before the request took effect.
        os._exit(1)


def load_app(conf, master_pid):
    """Run in each worker after the fork."""
    end_with_parent(master_pid)
    return without_process_environment(wsgi.load_wsgi_app(conf),
                                       dict(os.environ))


class ApiServer(granian_server.MPServer):
    """Granian's process manager with gnocchi-rs' rule for dead workers
    (module docstring)."""

    def _exited_at_boot(self, index, now):
        worker = self.wrks[index]
        exitcode = worker.inner.exitcode
        return (exitcode is not None and exitcode >= 0
                and now - worker.birth <= BOOT_WINDOW)

    def _serve_loop(self, spawn_target, target_loader):
        while True:
            # Woken by granian's signal handlers and workers' watchers; the
            # timeout makes a wake-up lost between two flags harmless.
            self.main_loop_interrupt.wait(timeout=1.0)
            if self.interrupt_signal:
                return
            if self.interrupt_children:
                self.main_loop_interrupt.clear()
                dead = set()
                while self.interrupt_children:
                    dead.add(self.interrupt_children.pop())
                dead = sorted(dead)
                now = time.monotonic()
                if any(self._exited_at_boot(index, now) for index in dead):
                    granian_log.logger.error(
                        "A worker exited while starting, stopping")
                    # granian's shutdown exits 1 when this is not empty
                    self.interrupt_children.extend(dead)
                    return
                self._respawn_workers(dead, spawn_target, target_loader)
            if self.reload_signal:
                self._reload(spawn_target, target_loader)
            else:
                self.main_loop_interrupt.clear()


def serve(conf, host, port, workers, threads, graceful_timeout):
    # Workers inherit the loaded configuration; granian follows the
    # start method (Python 3.14 would default to forkserver).
    multiprocessing.set_start_method("fork", force=True)
    server = ApiServer(
        "gnocchi_rs",
        address=host,
        port=port,
        interface=constants.Interfaces.WSGI,
        workers=workers,
        blocking_threads=threads,
        runtime_threads=1,
        http=constants.HTTPModes.http1,
        websockets=False,
        log_dictconfig=_LOGGING,
        respawn_failed_workers=True,
        workers_kill_timeout=graceful_timeout,
        process_name="gnocchi-rs-api",
    )
    loader = functools.partial(load_app, conf, os.getpid())
    server.serve(target_loader=loader, wrap_loader=False)
    return 0
