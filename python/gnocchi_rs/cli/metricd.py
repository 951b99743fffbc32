"""``gnocchi-rs metricd``: metric processing workers, janitor and backlog
report (``gnocchi_rs.metricd``)."""

from gnocchi_rs import metricd as rs_metricd
from gnocchi_rs.cli import gnocchi_conf


def run(args):
    conf = gnocchi_conf.load_conf(args)
    if args.workers:
        conf.set_override("workers", args.workers, "metricd")
    rs_metricd.MetricdServiceManager(conf).run()
    return 0
