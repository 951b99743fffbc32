"""``python -m gnocchi_rs.sack_worker --settings-fd FD``: the process a
metricd worker ``exec``s into (``gnocchi_rs.metricd.exec_lean_worker``);
``--revive``: the short-lived process that revives resources."""
from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import sys
import threading

from gnocchi_rs.sack_worker import logs
from gnocchi_rs.sack_worker import reporter
from gnocchi_rs.sack_worker import revive
from gnocchi_rs.sack_worker import settings as schema
from gnocchi_rs.sack_worker import worker as lean_worker

LOG = logging.getLogger("gnocchi.rs.metricd")

_PR_SET_PDEATHSIG = 1


def _die_with(parent_pid):
    """The worker ends when the metricd master does (cotyledon's own
    watch does not survive ``exec``). Linux ties this to the thread that
    forked the worker, cotyledon's supervisor thread, which lives as long
    as the master."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        LOG.warning("Cannot ask to be stopped with the metricd master")
    if parent_pid and os.getppid() != parent_pid:
        sys.exit(0)


def _stop_on_signals(worker):
    """SIGTERM: stop; SIGHUP: stop too, cotyledon starts the worker again
    with the reloaded configuration. The handler only writes to a pipe:
    a handler runs in the main thread wherever it was interrupted, so one
    that took a lock (an Event's, logging's) could wait on the very lock
    the interrupted code, or the previous handler, holds, for good."""
    stop_read, stop_write = os.pipe()
    os.set_blocking(stop_write, False)

    def on_stop_signal(signum, _frame):
        # One stop is enough: the next ones are dropped by the kernel
        # rather than nest handlers.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        try:
            os.write(stop_write, bytes([signum]))
        except BlockingIOError:  # a stop is already on its way
            pass

    def stop_when_signalled():
        signum = os.read(stop_read, 1)[0]
        LOG.info("Caught %s, finishing the current sack",
                 signal.Signals(signum).name)
        worker.stop()

    threading.Thread(target=stop_when_signalled, name="stop-signals",
                     daemon=True).start()
    signal.signal(signal.SIGTERM, on_stop_signal)
    signal.signal(signal.SIGHUP, on_stop_signal)
    signal.signal(signal.SIGINT, lambda *_: os._exit(1))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--revive"]:
        return revive.revive_main(json.loads(sys.stdin.buffer.read()))
    if argv[:1] != ["--settings-fd"]:
        sys.exit("usage: python -m gnocchi_rs.sack_worker --settings-fd FD")
    with os.fdopen(int(argv[1]), "rb") as source:
        wire = json.loads(source.read())
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    # cotyledon arms an alarm when it stops a worker: one still pending
    # means the stop came just before the exec.
    if signal.alarm(0):
        return 0
    settings = schema.from_wire(wire)
    logs.setup_logging(settings.logging)
    if isinstance(settings, schema.Reporter):
        worker = reporter.LeanReporter(settings)
    else:
        worker = lean_worker.LeanWorker(settings)
    _stop_on_signals(worker)
    _die_with(settings.parent_pid)
    if isinstance(worker, lean_worker.LeanWorker):
        LOG.info("Lean processing worker %d started", worker.worker_id)
    else:
        LOG.info("Lean backlog report started")
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
