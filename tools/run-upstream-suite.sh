#!/usr/bin/env bash
# run-upstream-suite.sh - run upstream Gnocchi 4.7.1's own test suites (the
# unit tests in gnocchi/tests and the in-process gabbi HTTP suite, both shipped
# inside the installed gnocchi package) against throwaway servers started by
# tools/services.sh, optionally with gnocchi-rs drivers swapped in.
#
# Usage:
#   tools/run-upstream-suite.sh [--venv DIR] [--storage-driver file|redis|ceph]
#                               [--indexer postgresql|mysql|sqlite]
#                               [--alias MAP] [--suites all|unit|gabbi]
#                               [--concurrency N] [--workdir DIR] [--keep]
#                               [-- EXTRA_STESTR_ARGS...]
#
#   --venv DIR          venv with gnocchi[test,postgresql,redis]==4.7.1 (+ the
#                       package under test); default .venv-test in the repo.
#                       Missing extras that upstream's tox also installs
#                       (python-qpid-proton, python-snappy, protobuf; cotyledon
#                       if absent) are pip-installed into it.
#   --storage-driver    the driver NAME upstream's harness knows; it does per-test
#                       isolation only for file/ceph/redis/s3/swift (default: the
#                       source name of --alias, else file). The incoming driver
#                       follows it; OS_INCOMING__DRIVER=NAME overrides.
#   --indexer NAME      postgresql (default): a throwaway server, URL
#                       postgresql://...; sqlite: gnocchi-rs' SQLite indexer
#                       (the `sqlite` gnocchi.indexer entry point must be
#                       installed), URL sqlite:///WORKDIR/sqlite/gnocchi; the
#                       gabbi fixtures derive one file per test from it
#                       (name + uuid), the unit tests share it. No server;
#                       mysql: a throwaway MariaDB, URL
#                       mysql+pymysql://root@localhost:PORT/gnocchi
#                       (pymysql must be in the venv: the [mysql] extra).
#   --alias MAP         e.g. file=rs-file, redis=rs-redis, ceph=rs-ceph, or
#                       storage:file=rs-file,incoming:file=file. The harness keeps
#                       using the upstream NAME, but gnocchi.utils.get_driver_class
#                       loads the aliased entry point (sitecustomize.py on
#                       PYTHONPATH for this run; the venv is not modified).
#   --suites            all (default) | unit (gnocchi.tests.*) | gabbi (gabbi.*)
#   --concurrency N     stestr workers (default: number of CPUs)
#   --workdir DIR       stestr repository, logs, servers (default: mktemp -d,
#                       removed at the end unless --keep)
#   -- ARGS             passed to `stestr run` (e.g. a test filter regex)
#
# Servers: PostgreSQL for --indexer postgresql (indexer + tooz coordination;
# MariaDB likewise for mysql; with sqlite, coordination is
# file://WORKDIR/coordination), Redis for the redis
# driver, a 1-mon/1-OSD Ceph for ceph (upstream's harness shells out to the
# `ceph` CLI to create a pool per test). All are stopped on exit.
# The LAST line printed is exactly "N passed, N failed, N skipped" (unique test
# ids; expected failures count as passed). Exit 0 only if nothing failed.
set -euo pipefail

PROG=run-upstream-suite
log() { echo "$PROG: $*" >&2; }
die() { log "error: $*"; exit 2; }

REPO=$(cd "$(dirname "$0")/.." && pwd)
SERVICES="$REPO/tools/services.sh"
# The Python this script runs (group creation, the ceph stand-in, the
# driver-alias hook, the result summary).
SUITE_PY="$REPO/tools/upstream_suite"

VENV=$REPO/.venv-test
STORAGE_DRIVER=""
INDEXER=postgresql
ALIAS=""
SUITES=all
CONCURRENCY=""
WORKDIR=""
KEEP=0
EXTRA=()

while [ $# -gt 0 ]; do
    case $1 in
    --venv) VENV=${2:?}; shift 2 ;;
    --storage-driver) STORAGE_DRIVER=${2:?}; shift 2 ;;
    --indexer) INDEXER=${2:?}; shift 2 ;;
    --alias) ALIAS=${2:?}; shift 2 ;;
    --suites) SUITES=${2:?}; shift 2 ;;
    --concurrency) CONCURRENCY=${2:?}; shift 2 ;;
    --workdir) WORKDIR=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) die "unknown argument $1 (see --help)" ;;
    esac
done
case $SUITES in all|unit|gabbi) ;; *) die "--suites must be all, unit or gabbi" ;; esac
case $INDEXER in postgresql|mysql|sqlite) ;; *) die "--indexer must be postgresql, mysql or sqlite" ;; esac

# The harness name defaults to the alias' source name: `--alias redis=rs-redis`
# alone means "upstream's redis tests, our driver".
if [ -z "$STORAGE_DRIVER" ]; then
    STORAGE_DRIVER="file"
    if [ -n "$ALIAS" ]; then
        first=${ALIAS%%,*}; first=${first%%=*}; STORAGE_DRIVER=${first#*:}
    fi
fi
INCOMING_DRIVER=${OS_INCOMING__DRIVER:-$STORAGE_DRIVER}

[ -x "$VENV/bin/python" ] || die "no venv at $VENV (use --venv DIR)"
VENV=$(cd "$VENV" && pwd)
PY=$VENV/bin/python

# ------------------------------------------------------------ python packages
# Run python from / so a gnocchi/ dir in the cwd cannot shadow the package.
vpy() { (cd / && "$PY" "$@"); }

vpy -c 'import gnocchi' 2>/dev/null || die "gnocchi is not installed in $VENV"
GNOCCHI_VERSION=$(vpy -c 'import importlib.metadata as m; print(m.version("gnocchi"))')
[ "$GNOCCHI_VERSION" = 4.7.1 ] || log "warning: gnocchi $GNOCCHI_VERSION in $VENV (expected 4.7.1)"
for mod in stestr subunit testtools gabbi fixtures psycopg2 sqlalchemy_utils; do
    vpy -c "import $mod" 2>/dev/null ||
        die "python module $mod missing in $VENV: pip install 'gnocchi[test,postgresql,redis]==4.7.1'"
done
# tox installs gnocchi[amqp1,prometheus] too: without proton the discovery of
# test_amqp1d fails and NO test runs; snappy/protobuf serve test_prometheus.
# cotyledon: upstream's tox pins <2.2.0, but these suites pass with 2.2.0, so
# an installed one is kept and only a missing one is installed.
want=()
vpy -c 'import proton' 2>/dev/null || want+=('python-qpid-proton>=0.17.0')
vpy -c 'import snappy' 2>/dev/null || want+=('python-snappy')
vpy -c 'import google.protobuf' 2>/dev/null || want+=('protobuf>=3.19.0')
vpy -c 'import cotyledon' 2>/dev/null || want+=('cotyledon<2.2.0')
if [ "$STORAGE_DRIVER" = redis ] || [ "$INCOMING_DRIVER" = redis ]; then
    vpy -c 'import redis' 2>/dev/null || want+=('redis>=3.4.0' 'hiredis')
fi
if [ ${#want[@]} -gt 0 ]; then
    log "pip install into $VENV: ${want[*]}"
    vpy -m pip install -q "${want[@]}" >&2 || die "pip install failed"
fi
if [ "$INDEXER" = sqlite ]; then
    vpy -c 'from stevedore import driver; driver.DriverManager("gnocchi.indexer", "sqlite")' 2>/dev/null ||
        die "no sqlite entry point in gnocchi.indexer in $VENV: install gnocchi-rs (maturin develop)"
fi

# Where the tests are: the installed package (same files as the sdist).
TOP=$(vpy -c 'import gnocchi, os; print(os.path.dirname(os.path.dirname(gnocchi.__file__)))')
[ -d "$TOP/gnocchi/tests/functional/gabbits" ] || die "$TOP/gnocchi/tests not found"

# ------------------------------------------------------------ work dir, servers
if [ -z "$WORKDIR" ]; then
    WORKDIR=$(mktemp -d "${TMPDIR:-/tmp}/gnocchi-rs-upstream.XXXXXX")
    CLEAN_WORKDIR=$(( 1 - KEEP ))
else
    mkdir -p "$WORKDIR"
    CLEAN_WORKDIR=0
fi
WORKDIR=$(cd "$WORKDIR" && pwd)
# When root, PostgreSQL runs as an unprivileged user who must enter WORKDIR.
chmod 755 "$WORKDIR"
SVCDIR=$WORKDIR/services

STESTR_PID=""
cleanup() {
    local rc=$?
    if [ -n "$STESTR_PID" ] && kill -0 "$STESTR_PID" 2>/dev/null; then
        log "stopping stestr (pid $STESTR_PID) and its workers"
        # Its own process group (setsid) when pgid == pid; else just the pid.
        if [ "$(ps -o pgid= -p "$STESTR_PID" | tr -d ' ')" = "$STESTR_PID" ]; then
            kill -TERM -- "-$STESTR_PID" 2>/dev/null || true
        else
            kill -TERM "$STESTR_PID" 2>/dev/null || true
        fi
        sleep 1
    fi
    bash "$SERVICES" stop "$SVCDIR" >/dev/null 2>&1 || log "warning: could not stop servers in $SVCDIR"
    if [ "$CLEAN_WORKDIR" = 1 ]; then rm -rf "$WORKDIR"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

NEED=()
case $INDEXER in
postgresql) NEED+=(postgresql) ;;
mysql) NEED+=(mariadb) ;;
esac
for d in "$STORAGE_DRIVER" "$INCOMING_DRIVER"; do
    case $d in
    redis|ceph) [[ " ${NEED[*]} " == *" $d "* ]] || NEED+=("$d") ;;
    esac
done
# Installs only what is missing (apt-get, root), a no-op otherwise.
if [ ${#NEED[@]} -gt 0 ]; then
    bash "$SERVICES" install "${NEED[@]}" || die "missing system packages for: ${NEED[*]}"
fi

PYLIB=$WORKDIR/pylib      # put on PYTHONPATH for this run only
mkdir -p "$PYLIB"
for svc in "${NEED[@]}"; do
    env_lines=$(bash "$SERVICES" start "$svc" "$SVCDIR") || die "could not start $svc"
    eval "$env_lines"
done

if [ "$INDEXER" = sqlite ]; then
    mkdir -p "$WORKDIR/sqlite" "$WORKDIR/coordination"
    export GNOCCHI_INDEXER_URL="sqlite:///$WORKDIR/sqlite/gnocchi"
    # The harness would derive the coordination URL from the indexer's, and
    # tooz has no sqlite driver; oslo.config reads OS_DEFAULT__<OPTION>.
    export OS_DEFAULT__COORDINATION_URL="file://$WORKDIR/coordination"
    # GET /v1/status lists the members of metricd's tooz group; the tests
    # run no metricd that would create it, and the file driver (unlike
    # PostgreSQL's, which has no groups) raises GroupNotCreated: a 500.
    # Create it, empty, as a metricd that ran once would have.
    vpy "$SUITE_PY/create_metricd_group.py" "$OS_DEFAULT__COORDINATION_URL" ||
        die "could not create metricd's tooz group"
elif [ "$INDEXER" = mysql ]; then
    vpy -c 'import pymysql' 2>/dev/null ||
        die "pymysql missing in $VENV: pip install pymysql (gnocchi-rs[mysql])"
    # pifpaf's URL shape: test_indexer.test_str expects the user to be root
    # and the host part "localhost".
    export GNOCCHI_INDEXER_URL="mysql+pymysql://root@localhost:$GNOCCHI_RS_MYSQL_PORT/gnocchi?charset=utf8"
else
    # pifpaf's URL shape, no user in it: test_indexer.test_str expects the
    # host part to be "localhost" (the real socket dir is the host=
    # parameter) and no user other than root; libpq takes the role from
    # PGUSER.
    export GNOCCHI_INDEXER_URL="postgresql://localhost/gnocchi?host=$GNOCCHI_RS_PG_HOST&port=$GNOCCHI_RS_PG_PORT"
    export PGUSER=gnocchi
fi
if [[ " ${NEED[*]} " == *" redis "* ]]; then
    # The harness never sets redis_url (default redis://localhost:6379/);
    # oslo.config reads OS_<GROUP>__<OPTION> from the environment.
    export OS_STORAGE__REDIS_URL=$GNOCCHI_RS_REDIS_URL
    export OS_INCOMING__REDIS_URL=$GNOCCHI_RS_REDIS_URL
    if [ "$INDEXER" = mysql ]; then
        # Coordination as gnocchi derives it for a Redis storage (the
        # harness sets the driver too late and derives it from the
        # indexer's URL: tooz's MySQL driver opens a connection per sack
        # lock, about 20 s per REST test).
        export OS_DEFAULT__COORDINATION_URL=$GNOCCHI_RS_REDIS_URL
        # As for file:// above: tooz's Redis driver has groups, and
        # /v1/status would answer 500 without metricd's.
        vpy "$SUITE_PY/create_metricd_group.py" "$OS_DEFAULT__COORDINATION_URL" ||
            die "could not create metricd's tooz group"
    fi
fi
if [[ " ${NEED[*]} " == *" ceph "* ]]; then
    # The harness runs `ceph -c $CEPH_CONF osd pool create|application
    # enable|delete` three times per test; the CLI costs 2-3 s a call without
    # a ceph-mgr. This stand-in earlier on PATH sends those three as mon
    # commands over one librados connection (~0.1 s) and hands anything else
    # to the real CLI.
    mkdir -p "$WORKDIR/bin"
    cp "$SUITE_PY/ceph_standin.py" "$WORKDIR/bin/ceph"
    chmod +x "$WORKDIR/bin/ceph"
fi
CEPH_ALIASED=0
case ",$ALIAS," in *,ceph=*) CEPH_ALIASED=1 ;; esac
if [[ " ${NEED[*]} " == *" ceph "* ]] && [ "$CEPH_ALIASED" = 0 ]; then
    # Upstream's own Ceph drivers need the rados module; there is none on
    # PyPI: link Debian's python3-rados build into PYLIB if the venv's
    # interpreter has the same extension ABI (3.11 here). rs-ceph does not
    # need it (it loads librados itself).
    if ! vpy -c 'import rados' 2>/dev/null; then
        suffix=$(vpy -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
        so=/usr/lib/python3/dist-packages/rados$suffix
        [ -f "$so" ] || die "no $so (python3-rados is built for /usr/bin/python3 only; the venv needs the same Python minor version)"
        ln -sf "$so" "$PYLIB/"
        PYTHONPATH=$PYLIB vpy -c 'import rados' || die "rados module from $so does not import in $VENV"
        log "rados: using $so via PYTHONPATH"
    fi
fi

# ------------------------------------------------------------ driver alias hook
if [ -n "$ALIAS" ]; then
    cp "$SUITE_PY/driver_alias_sitecustomize.py" "$PYLIB/sitecustomize.py"
    export GNOCCHI_TEST_DRIVER_ALIAS=$ALIAS
    # Fail now, not 1000 times: every aliased entry point must load.
    PYTHONPATH=$PYLIB vpy "$SUITE_PY/check_aliases.py" "$ALIAS" ||
        die "an aliased driver entry point does not load"
fi
export PYTHONPATH=$PYLIB${PYTHONPATH:+:$PYTHONPATH}

export GNOCCHI_TEST_STORAGE_DRIVER=$STORAGE_DRIVER
# test_bin.py runs the gnocchi-* console scripts from PATH (after the
# ceph stand-in, if any).
if [ -d "$WORKDIR/bin" ]; then
    export PATH=$WORKDIR/bin:$VENV/bin:$PATH
else
    export PATH=$VENV/bin:$PATH
fi

# ------------------------------------------------------------ run stestr
# Same test_path/group_regex as upstream's .stestr.conf: the tests of one
# gabbi YAML file must run in one worker, in order.
cat >"$WORKDIR/.stestr.conf" <<EOF
[DEFAULT]
test_path=$TOP/gnocchi/tests
top_dir=$TOP
group_regex=(gabbi\.(suitemaker|driver)\.test_gabbi_([^_]+))_
EOF
FILTER=()
case $SUITES in
unit) FILTER=(--exclude-regex '^gabbi\.') ;;
gabbi) FILTER=('^gabbi\.') ;;
esac
CONC=()
[ -z "$CONCURRENCY" ] || CONC=(--concurrency "$CONCURRENCY")

# The ids that should run: a crashed worker (e.g. a segfault in a C
# extension) silently drops the rest of its partition from the results.
EXPECTED=$WORKDIR/expected-tests.txt
[ -d "$WORKDIR/.stestr" ] || (cd "$WORKDIR" && "$PY" -m stestr init >/dev/null)   # list needs one
if (cd "$WORKDIR" && "$PY" -m stestr list "${FILTER[@]}" "${EXTRA[@]}") >"$EXPECTED" 2>"$WORKDIR/list.log"; then
    log "$(grep -c . "$EXPECTED") tests selected"
else
    log "note: \`stestr list\` does not take these arguments, tests that never ran go unnoticed"
    : >"$EXPECTED"
fi

# faulthandler: a crashing worker prints the Python stack into the log.
export PYTHONFAULTHANDLER=${PYTHONFAULTHANDLER:-1}
STESTR_LOG=$WORKDIR/stestr.log
log "gnocchi $GNOCCHI_VERSION tests from $TOP"
log "indexer=$INDEXER storage=$STORAGE_DRIVER incoming=$INCOMING_DRIVER alias=${ALIAS:-none} suites=$SUITES servers=${NEED[*]:-none}"
log "stestr log: $STESTR_LOG"
T0=$(date +%s)
# In the background + wait: bash runs a signal trap only after the foreground
# command ends, so a TERM/Ctrl-C would otherwise wait for the whole suite.
# setsid gives stestr and its workers their own process group to kill.
(cd "$WORKDIR" && exec setsid "$PY" -m stestr run "${CONC[@]}" "${FILTER[@]}" "${EXTRA[@]}") \
    >"$STESTR_LOG" 2>&1 </dev/null &
STESTR_PID=$!
set +e
wait "$STESTR_PID"
RC=$?
set -e
STESTR_PID=""
WALL=$(( $(date +%s) - T0 ))

# Count unique test ids from the subunit stream. gabbi emits two records for
# each of its 2 xfail tests; an id fails if any of its records failed.
# Selected ids with no record at all count as failed too ("NOT RUN").
SUMMARY=$(cd "$WORKDIR" && "$PY" -m stestr last --subunit 2>/dev/null |
    "$PY" "$SUITE_PY/summarize_subunit.py" "$EXPECTED") || true
if [ -z "$SUMMARY" ]; then
    SUMMARY="0 passed, 0 failed, 0 skipped"
fi
FAILED=$(echo "$SUMMARY" | tail -n 1 | awk '{print $3}')
if [ "$RC" != 0 ] && [ "$FAILED" = 0 ]; then
    # e.g. an import error at discovery, or a filter that matched nothing.
    log "stestr exited $RC without a failed test; last lines of its log:"
    tail -n 40 "$STESTR_LOG" >&2
fi
echo "$SUMMARY" | sed '$d'
note=""
[ "$CLEAN_WORKDIR" = 0 ] || note=" (removed; --keep to keep it)"
echo "$PROG: wall ${WALL}s, stestr exit $RC, log $STESTR_LOG$note"
echo "$SUMMARY" | tail -n 1
[ "$RC" = 0 ] && [ "$FAILED" = 0 ]
