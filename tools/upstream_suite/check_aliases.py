"""Load every entry point an --alias MAP names; exit non-zero if one fails.

Usage: check_aliases.py MAP    (e.g. file=rs-file or storage:file=rs-file)

Called by tools/run-upstream-suite.sh before the run: fail once, not in
1000 tests.
"""
import sys

from stevedore import driver


def main(spec):
    for item in spec.split(","):
        src, dst = (p.strip() for p in item.split("=", 1))
        groups = ([src.split(":", 1)[0]] if ":" in src
                  else ["storage", "incoming"])
        for g in groups:
            driver.DriverManager("gnocchi." + g, dst)


if __name__ == "__main__":
    main(sys.argv[1])
