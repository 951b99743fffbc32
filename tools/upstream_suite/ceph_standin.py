#!/usr/bin/python3
"""A stand-in for the `ceph` CLI: fast pool commands for upstream's harness.

tools/run-upstream-suite.sh copies it to WORKDIR/bin/ceph, earlier on PATH.
The harness runs `ceph -c $CEPH_CONF osd pool create|application
enable|delete` three times per test; the CLI costs 2-3 s a call without a
ceph-mgr. This sends those three as mon commands over one librados
connection (~0.1 s) and hands anything else to the real CLI. It runs with
the system's python3, which has the rados module.
"""
import json
import os
import sys


def mon_command(args):
    """The mon command for a pool command the harness runs, else None."""
    if args[:3] == ["osd", "pool", "create"] and len(args) >= 4:
        cmd = {"prefix": "osd pool create", "pool": args[3]}
        if len(args) >= 6 and args[4].isdigit() and args[5].isdigit():
            cmd.update(pg_num=int(args[4]), pgp_num=int(args[5]))
        return cmd
    if args[:4] == ["osd", "pool", "application", "enable"] and len(args) >= 6:
        return {"prefix": "osd pool application enable", "pool": args[4],
                "app": args[5]}
    if args[:3] == ["osd", "pool", "delete"] and len(args) >= 5:
        return {"prefix": "osd pool delete", "pool": args[3],
                "pool2": args[4], "yes_i_really_really_mean_it": True}
    return None


def main(argv):
    args = argv[1:]
    conf = os.environ.get("CEPH_CONF")
    if len(args) >= 2 and args[0] == "-c":
        conf, args = args[1], args[2:]
    cmd = mon_command(args)
    if cmd is None:
        os.execv("/usr/bin/ceph", ["/usr/bin/ceph"] + argv[1:])
    import rados
    with rados.Rados(conffile=conf) as cluster:
        ret, out, err = cluster.mon_command(json.dumps(cmd), b"", timeout=60)
    if ret:
        sys.stderr.write("ceph: %s: %s\n" % (cmd["prefix"], err))
    return 1 if ret else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
