"""How ``gnocchi-rs serve`` runs its subcommands: child processes, each in
its own process group so that a Ctrl-C reaches them once, through us."""

import ctypes
import os
import signal
import subprocess
import sys
import time

STOP_TIMEOUT = 75


class _ParentDeathSignal:
    """Children get SIGTERM if `serve` itself dies without stopping them
    (Linux; elsewhere they outlive a killed `serve`)."""

    PR_SET_PDEATHSIG = 1

    def __init__(self):
        self._parent = os.getpid()
        try:
            self._prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            self._prctl = None

    def __call__(self):
        if self._prctl is not None:
            self._prctl(self.PR_SET_PDEATHSIG, signal.SIGTERM)
            # `serve` died before the signal was armed: nobody will stop us.
            if os.getppid() != self._parent:
                os._exit(1)


class Supervisor:
    """Runs `gnocchi-rs` subcommands as child processes, each in its own
    process group so that a Ctrl-C reaches them once, through us."""

    def __init__(self, common_args):
        self.common_args = common_args
        self.children = {}
        self.stop_signal = None
        self._preexec = _ParentDeathSignal()

    def _on_signal(self, signum, frame):
        self.stop_signal = signum

    def install_signal_handlers(self):
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    @staticmethod
    def _command():
        # Through the console script when we were started by it, so that
        # the children's process titles read "gnocchi-rs: ...".
        if os.path.basename(sys.argv[0]) == "gnocchi-rs":
            return [sys.executable, sys.argv[0]]
        return [sys.executable, "-m", "gnocchi_rs.cli"]

    def start(self, name, *args):
        command = [*self._command(), name, *args, *self.common_args]
        self.children[name] = subprocess.Popen(
            command, process_group=0, preexec_fn=self._preexec)
        return self.children[name]

    def run_to_end(self, name, *args):
        """Runs a child to completion; None if we were told to stop."""
        child = self.start(name, *args)
        while child.poll() is None:
            if self.stop_signal is not None:
                self.stop()
                return None
            time.sleep(0.1)
        del self.children[name]
        return child.returncode

    def exited(self):
        """The first child that is no longer running, if any."""
        for name, child in self.children.items():
            if child.poll() is not None:
                return name, child.returncode
        return None

    def stop(self):
        """SIGTERM to every child, SIGKILL to those still running after
        STOP_TIMEOUT; True when all of them stopped cleanly."""
        for child in self.children.values():
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        clean = True
        for name, child in self.children.items():
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print("gnocchi-rs serve: %s did not stop in %ds, killing it"
                      % (name, STOP_TIMEOUT), file=sys.stderr)
                # The whole group: its own workers too.
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                child.wait()
            if child.returncode not in (0, -signal.SIGTERM):
                clean = False
        return clean
