#!/usr/bin/env bash
# run-functional-live.sh - upstream Gnocchi 4.7.1's functional_live gabbi
# suite (HTTP tests against a running server) against `gnocchi-rs api` +
# `gnocchi-rs metricd`, on a throwaway PostgreSQL (or MariaDB) indexer and
# rs-file storage, as upstream's run-func-tests.sh does with its own
# gnocchi-api.
#
# Usage: tools/run-functional-live.sh [--venv DIR] [--indexer postgresql|mysql] [--keep]
#   --venv DIR   venv with gnocchi-rs[test] installed (default .venv-test)
#   --indexer    postgresql (default) or mysql (MariaDB through PyMySQL)
#   --keep       keep the work directory (logs, data)
# The LAST line printed is "N passed, N failed, N skipped". Exit 0 only if
# nothing failed.
set -euo pipefail

PROG=run-functional-live
log() { echo "$PROG: $*" >&2; }
die() { log "error: $*"; exit 2; }

REPO=$(cd "$(dirname "$0")/.." && pwd)
VENV=$REPO/.venv-test
KEEP=0
INDEXER=postgresql
while [ $# -gt 0 ]; do
    case $1 in
    --venv) VENV=${2:?}; shift 2 ;;
    --indexer) INDEXER=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    *) die "unknown argument $1" ;;
    esac
done
VENV=$(cd "$VENV" && pwd)
PY=$VENV/bin/python
[ -x "$VENV/bin/gnocchi-rs" ] || die "no gnocchi-rs in $VENV (run tools/install.sh)"

WORKDIR=$(mktemp -d /tmp/gnocchi-rs-live.XXXXXX)
chmod o+x "$WORKDIR"   # PostgreSQL runs as the postgres user
PIDS=()
cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
    bash "$REPO/tools/services.sh" stop "$WORKDIR/services" >/dev/null 2>&1 || true
    if [ "$KEEP" = 0 ]; then rm -rf "$WORKDIR"; else log "kept $WORKDIR"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

case $INDEXER in
postgresql) SERVICE=postgresql ;;
mysql) SERVICE=mariadb ;;
*) die "--indexer must be postgresql or mysql" ;;
esac
bash "$REPO/tools/services.sh" install "$SERVICE" >&2 || die "cannot install $SERVICE"
env_lines=$(bash "$REPO/tools/services.sh" start "$SERVICE" "$WORKDIR/services") || die "cannot start $SERVICE"
eval "$env_lines"
if [ "$INDEXER" = mysql ]; then
    INDEXER_URL=$GNOCCHI_RS_MYSQL_URL
else
    INDEXER_URL=$GNOCCHI_RS_PG_SQLALCHEMY_URL
fi

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
CONF=$WORKDIR/gnocchi.conf
cat >"$CONF" <<EOF
[DEFAULT]
coordination_url = file://$WORKDIR/coordination
[indexer]
url = $INDEXER_URL
[storage]
driver = rs-file
file_basepath = $WORKDIR/data
[metricd]
metric_processing_delay = 1
# The suite polls until deleted metrics are expunged by the janitor
# (default: every 300 s).
metric_cleanup_delay = 2
[api]
auth_mode = basic
EOF

"$VENV/bin/gnocchi-rs" upgrade --config-file "$CONF" >"$WORKDIR/upgrade.log" 2>&1 ||
    { tail -20 "$WORKDIR/upgrade.log" >&2; die "upgrade failed"; }
"$VENV/bin/gnocchi-rs" metricd --workers 1 --config-file "$CONF" >"$WORKDIR/metricd.log" 2>&1 &
PIDS+=($!)
"$VENV/bin/gnocchi-rs" api --host 127.0.0.1 --port "$PORT" --workers 2 --config-file "$CONF" >"$WORKDIR/api.log" 2>&1 &
PIDS+=($!)
URL=http://127.0.0.1:$PORT
for _ in $(seq 1 120); do
    curl -fs -u admin: "$URL/v1/status" >/dev/null 2>&1 && break
    sleep 0.5
done
curl -fs -u admin: "$URL/v1/status" >/dev/null || { tail -30 "$WORKDIR/api.log" >&2; die "the API did not answer on $URL"; }
log "gnocchi-rs api on $URL, gnocchi-rs metricd, $INDEXER, rs-file; logs in $WORKDIR"

TOP=$("$PY" -c 'import gnocchi, os; print(os.path.dirname(os.path.dirname(gnocchi.__file__)))')
cat >"$WORKDIR/.stestr.conf" <<EOF
[DEFAULT]
test_path=$TOP/gnocchi/tests/functional_live
top_dir=$TOP
EOF
# As upstream's run-func-tests.sh: basic auth as admin, no token.
export GNOCCHI_ENDPOINT=$URL GNOCCHI_SERVICE_TOKEN="" GNOCCHI_AUTHORIZATION="basic YWRtaW46"
set +e
(cd "$WORKDIR" && "$PY" -m stestr init >/dev/null && "$PY" -m stestr run --concurrency 1) >"$WORKDIR/stestr.log" 2>&1
RC=$?
set -e
SUMMARY=$(cd "$WORKDIR" && "$PY" -m stestr last --subunit 2>/dev/null | "$PY" -c '
import collections, sys
import subunit, testtools
statuses = collections.defaultdict(list)
result = testtools.StreamToDict(lambda t: statuses[t["id"]].append(t["status"]))
result.startTestRun()
subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name="stdout").run(result)
result.stopTestRun()
count = collections.Counter()
for tid, s in sorted(statuses.items()):
    if any(x not in ("success", "xfail", "skip") for x in s):
        print("FAILED", tid)
        count["failed"] += 1
    elif any(x in ("success", "xfail") for x in s):
        count["passed"] += 1
    else:
        count["skipped"] += 1
print("%d passed, %d failed, %d skipped" % (count["passed"], count["failed"], count["skipped"]))
') || SUMMARY="0 passed, 0 failed, 0 skipped"
if [ "$RC" != 0 ]; then tail -40 "$WORKDIR/stestr.log" >&2; fi
echo "$SUMMARY"
FAILED=$(echo "$SUMMARY" | tail -n 1 | awk '{print $3}')
PASSED=$(echo "$SUMMARY" | tail -n 1 | awk '{print $1}')
[ "$RC" = 0 ] && [ "$FAILED" = 0 ] && [ "$PASSED" -gt 0 ]
