"""Load every entry point an --alias MAP names; exit non-zero if one fails.

Usage: check_aliases.py MAP    (e.g. file=rs-file or storage:file=rs-file)

Called by tools/run-upstream-suite.sh before the run: fail once, not in
1000 tests. Also checks that the native request path is in place in
upstream's application factory (sitecustomize.py puts it there), unless
GNOCCHI_RS_NATIVE_API=0.
"""
import os
import sys

from stevedore import driver


def main(spec):
    for item in spec.split(","):
        src, dst = (p.strip() for p in item.split("=", 1))
        groups = ([src.split(":", 1)[0]] if ":" in src
                  else ["storage", "incoming"])
        for g in groups:
            driver.DriverManager("gnocchi." + g, dst)
    if os.environ.get("GNOCCHI_RS_NATIVE_API", "1") != "0":
        from gnocchi.rest import app
        if not getattr(app.app_factory, "gnocchi_rs_ingest", False):
            sys.exit("the native request path is not in upstream's factory")
        print("run-upstream-suite: the native request path is on")


if __name__ == "__main__":
    main(sys.argv[1])
