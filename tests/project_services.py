"""Start and stop the project's throwaway servers (tools/services.sh)
from Python; no gnocchi import, so benchmarks can use it before they
choose what to load."""
from __future__ import annotations

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_service(name, workdir):
    """Starts a service with the project's script; returns its settings."""
    script = os.path.join(ROOT, "tools", "services.sh")
    res = subprocess.run(["bash", script, "start", name, workdir],
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise RuntimeError("cannot start %s: %s%s" % (name, res.stdout,
                                                      res.stderr))
    env = {}
    for line in res.stdout.splitlines():
        line = line.strip()
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            env[key] = value.strip("'\"")
    return env


def stop_services(workdir):
    subprocess.run(["bash", os.path.join(ROOT, "tools", "services.sh"),
                    "stop", workdir], capture_output=True, timeout=120)
