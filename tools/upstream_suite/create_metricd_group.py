"""Create metricd's tooz group, empty, as a metricd that ran once would.

Usage: create_metricd_group.py COORDINATION_URL

GET /v1/status lists the members of that group; upstream's tests run no
metricd that would create it, and tooz's file driver (unlike PostgreSQL's,
which has no groups) raises GroupNotCreated: a 500. Called by
tools/run-upstream-suite.sh for --indexer sqlite, and for mysql with Redis
coordination.
"""
import sys

from tooz import coordination


def main(url):
    coord = coordination.get_coordinator(url, b"run-upstream-suite")
    coord.start()
    coord.create_group(b"gnocchi-processing").get()
    coord.stop()


if __name__ == "__main__":
    main(sys.argv[1])
