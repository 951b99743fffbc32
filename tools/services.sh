#!/usr/bin/env bash
# services.sh - throwaway PostgreSQL / MariaDB / Redis / Ceph servers for
# gnocchi-rs tests. (Over 500 lines: servers installed, started
# unprivileged, checked and stopped here, so that tests and CI start them
# one way; MariaDB's functions live in services-mariadb.sh.)
#
# Usage:
#   tools/services.sh install [postgresql] [mariadb] [redis] [ceph]
#                                   # default: postgresql, redis, ceph
#   tools/services.sh start postgresql|mariadb|redis|ceph DIR  # prints `export` lines
#   tools/services.sh stop DIR                              # stops all of DIR's servers
#   tools/services.sh status DIR     # 0: all started ones run, 1: one died, 3: none started
#
#   eval "$(tools/services.sh start postgresql /tmp/svc)"
#   eval "$(tools/services.sh start redis /tmp/svc)"
#   eval "$(tools/services.sh start ceph /tmp/svc)"
#   ...
#   tools/services.sh stop /tmp/svc
#
# `start` exports (also saved in DIR/<service>.env):
#   postgresql  GNOCCHI_RS_PG_URL   postgresql://gnocchi@/gnocchi?host=SOCKDIR&port=PORT
#                                   (psycopg2/libpq, tooz, Gnocchi's indexer url)
#               GNOCCHI_RS_PG_SQLALCHEMY_URL  the same as postgresql+psycopg2://...
#                                   (SQLAlchemy 2.1 maps plain postgresql:// to
#                                   psycopg 3, which Gnocchi does not install)
#               GNOCCHI_RS_PG_DSN   host=SOCKDIR port=PORT user=gnocchi dbname=gnocchi
#               GNOCCHI_RS_PG_HOST, GNOCCHI_RS_PG_PORT  SOCKDIR, PORT
#               The role `gnocchi` is a superuser (Gnocchi's gabbi fixtures create
#               databases); trust auth on the socket and on 127.0.0.1:PORT.
#   mariadb     GNOCCHI_RS_MYSQL_URL  mysql+pymysql://gnocchi@127.0.0.1:PORT/gnocchi?charset=utf8mb4
#               GNOCCHI_RS_MYSQL_PORT, GNOCCHI_RS_MYSQL_SOCKET (see services-mariadb.sh)
#   redis       GNOCCHI_RS_REDIS_URL  redis://127.0.0.1:PORT
#   ceph        CEPH_CONF, GNOCCHI_RS_CEPH_CONF  DIR/ceph.conf (cephx, client.admin
#               keyring named in the conf), GNOCCHI_RS_CEPH_POOL=gnocchi
#               1 mon + 1 memstore OSD, no mgr, pool size 1.
#
# Everything listens on 127.0.0.1 (or a unix socket) on a free port; data and
# logs stay under DIR (DIR/postgresql, DIR/redis, DIR/ceph). On a failed start
# the log tail is printed and the exit status is non-zero. Progress goes to
# stderr, only the export lines go to stdout.
#
# Environment knobs:
#   GNOCCHI_RS_PG_OS_USER   OS user that runs PostgreSQL when we are root
#                           (PostgreSQL refuses root); default postgres (created
#                           by Debian's package), else nobody
#   PG_BINDIR               PostgreSQL bin dir (default: newest /usr/lib/postgresql/*/bin)
#   SERVICES_TIMEOUT        readiness timeout in seconds (default 60)
#   SERVICES_NO_INSTALL=1   `install` only reports what is missing
set -euo pipefail

PROG=services.sh
log() { echo "$PROG: $*" >&2; }
die() { log "error: $*"; exit 1; }
TIMEOUT=${SERVICES_TIMEOUT:-60}

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ------------------------------------------------------------------ helpers

# A pid counts as alive if it exists and is not a zombie: daemons double-fork
# and get re-parented to PID 1, which in some containers never reaps them.
alive() {
    local pid=${1:-} st
    [ -n "$pid" ] && [ -r "/proc/$pid/status" ] || return 1
    st=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# TERM the pids, wait up to 10 s, then KILL what is left.
terminate() {
    local pid n left
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null || true
    for n in $(seq 100); do
        left=()
        for pid in "$@"; do alive "$pid" && left+=("$pid"); done
        [ ${#left[@]} -eq 0 ] && return 0
        sleep 0.1
    done
    kill -KILL "${left[@]}" 2>/dev/null || true
}

# A port nobody listens on right now (the kernel picks it; a tiny race with
# other starters remains, each server fails loudly if it lost it).
free_port() {
    python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

show_log_tail() {
    local f
    for f in "$@"; do
        [ -s "$f" ] || continue
        log "---- last lines of $f"
        tail -n 30 "$f" >&2
    done
}

# Writes DIR/NAME.env from the given NAME=VALUE pairs and prints it on stdout.
emit_env() {
    local name=$1 kv out=""
    shift
    local q="'\\''" v
    for kv in "$@"; do
        v=${kv#*=}
        out+="export ${kv%%=*}='${v//\'/$q}'"$'\n'   # single-quoted, eval-safe
    done
    printf '%s' "$out" >"$DIR/$name.env"
    printf '%s' "$out"
}

# ------------------------------------------------------------------ install

declare -A PACKAGES=(
    [postgresql]="postgresql"
    [mariadb]="mariadb-server"
    # redis-server pulls redis-tools (redis-cli, used for the readiness check);
    # openssl makes the certificates of the TLS tests.
    [redis]="redis-server openssl"
    # mon/osd daemons, ceph/rados/ceph-authtool CLIs (upstream's tests shell
    # out to `ceph`), monmaptool + OSD object classes (ceph-base), headers and
    # librados.so for building against librados, and the rados Python module
    # (used here for fast mon commands; the runner links it into test venvs).
    [ceph]="ceph-mon ceph-osd ceph-common ceph-base librados-dev python3-rados"
)

installed() { [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null)" = "ii " ]; }

do_install() {
    local comps=("$@") c p missing=()
    [ ${#comps[@]} -gt 0 ] || comps=(postgresql redis ceph)
    for c in "${comps[@]}"; do
        [ -n "${PACKAGES[$c]:-}" ] || die "unknown service '$c' (postgresql, mariadb, redis, ceph)"
        for p in ${PACKAGES[$c]}; do installed "$p" || missing+=("$p"); done
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "packages for ${comps[*]} already installed"
        return 0
    fi
    log "missing packages: ${missing[*]}"
    [ "${SERVICES_NO_INSTALL:-0}" != 1 ] || die "not installing (SERVICES_NO_INSTALL=1)"
    [ "$(id -u)" = 0 ] || die "run as root (or: sudo apt-get install ${missing[*]})"
    # Without a policy-rc.d, package scripts start system-wide daemons on the
    # default ports (redis 6379, postgresql 5432); the tests never use them.
    POLICY_RC=/usr/sbin/policy-rc.d
    if [ ! -e "$POLICY_RC" ]; then
        trap 'rm -f "$POLICY_RC"' EXIT
        printf '#!/bin/sh\nexit 101\n' >"$POLICY_RC"
        chmod 755 "$POLICY_RC"
    else
        POLICY_RC=""    # an existing policy is left alone
    fi
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be absent (fresh container) or stale: one update.
    log "apt-get update"
    apt-get update -qq >&2
    log "apt-get install ${missing[*]}"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
    if [ -n "$POLICY_RC" ]; then rm -f "$POLICY_RC"; trap - EXIT; fi
    log "installed ${missing[*]}"
}

# ------------------------------------------------------------------ postgresql

pg_bindir() {
    local d=${PG_BINDIR:-}
    if [ -z "$d" ]; then   # newest installed major version
        d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
    if [ ! -x "$d/initdb" ] || [ ! -x "$d/pg_ctl" ]; then
        die "PostgreSQL server binaries not found (run: $0 install postgresql, or set PG_BINDIR)"
    fi
    echo "$d"
}

# Runs a server-side PostgreSQL command as the cluster's OS user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        "$@"
    fi
}

# Unix socket paths are limited to 107 bytes; deep DIRs get a short socket
# dir in /tmp, remembered in DIR/postgresql/sockdir and removed on stop.
pg_sockdir() {
    local base=$DIR/postgresql
    if [ -s "$base/sockdir" ]; then cat "$base/sockdir"; return; fi
    local d=$base/run
    if [ $(( ${#d} + 18 )) -gt 100 ]; then
        d=$(mktemp -d /tmp/gnocchi-rs-pg.XXXXXX)
    else
        mkdir -p "$d"
    fi
    echo "$d" >"$base/sockdir"
    echo "$d"
}

# postgres must reach DIR/postgresql: every ancestor needs search (x)
# permission for it (mktemp -d makes 0700 dirs, /root is 0700).
pg_check_path() {
    local d="" part
    local IFS=/
    for part in ${1#/}; do     # top-down, so the first blocking dir is named
        d+=/$part
        if ! runuser -u "$PG_OS_USER" -- test -x "$d" 2>/dev/null; then
            die "$PG_OS_USER cannot enter $d; make it searchable (chmod o+x '$d') or use another DIR"
        fi
    done
}

pg_env_lines() {
    local sock=$1 port=$2
    emit_env postgresql \
        "GNOCCHI_RS_PG_URL=postgresql://gnocchi@/gnocchi?host=$sock&port=$port" \
        "GNOCCHI_RS_PG_SQLALCHEMY_URL=postgresql+psycopg2://gnocchi@/gnocchi?host=$sock&port=$port" \
        "GNOCCHI_RS_PG_DSN=host=$sock port=$port user=gnocchi dbname=gnocchi" \
        "GNOCCHI_RS_PG_HOST=$sock" "GNOCCHI_RS_PG_PORT=$port"
}

start_postgresql() {
    local bindir base=$DIR/postgresql data sock port logf
    bindir=$(pg_bindir)
    base=$DIR/postgresql data=$base/data logf=$base/postgresql.log
    if [ "$(id -u)" = 0 ]; then
        PG_OS_USER=${GNOCCHI_RS_PG_OS_USER:-}
        if [ -z "$PG_OS_USER" ]; then
            if id postgres >/dev/null 2>&1; then PG_OS_USER=postgres; else PG_OS_USER=nobody; fi
        fi
        id "$PG_OS_USER" >/dev/null 2>&1 || die "user $PG_OS_USER does not exist"
    else
        PG_OS_USER=$(id -un)
    fi

    if [ -f "$data/postmaster.pid" ] && as_pg "$bindir/pg_ctl" status -D "$data" >/dev/null 2>&1; then
        log "postgresql already running in $data"
        cat "$DIR/postgresql.env"
        return 0
    fi
    if [ -d "$data" ]; then   # left over from a stopped/crashed run: start fresh
        rm -rf "$data"
        [ -s "$base/sockdir" ] && case $(cat "$base/sockdir") in /tmp/gnocchi-rs-pg.*) rm -rf "$(cat "$base/sockdir")";; esac
        rm -f "$base/sockdir"
    fi
    mkdir -p "$base"
    sock=$(pg_sockdir)
    port=$(free_port)
    : >"$logf"
    if [ "$(id -u)" = 0 ]; then
        chown "$PG_OS_USER" "$base" "$sock" "$logf"
        chmod 755 "$DIR" "$base"   # DIR may come from mktemp -d (0700)
        pg_check_path "$base"
        pg_check_path "$sock"
    fi

    # --no-locale: C collation, as upstream's CI (pifpaf) gets with no LANG.
    # fsync off & co: a throwaway cluster, speed matters more than durability.
    log "postgresql: initdb in $data (as $PG_OS_USER)"
    as_pg "$bindir/initdb" -D "$data" -U gnocchi --auth=trust -E UTF8 --no-locale \
        --no-sync >>"$logf" 2>&1 || { show_log_tail "$logf"; die "initdb failed"; }
    cat >>"$data/postgresql.conf" <<EOF
# added by $PROG
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    # shellcheck disable=SC2094  # pg_ctl's own messages and the server's share the log
    as_pg "$bindir/pg_ctl" start -D "$data" -l "$logf" -w -t "$TIMEOUT" \
        </dev/null >>"$logf" 2>&1 || { show_log_tail "$logf"; die "postgresql did not start"; }

    # Trust auth: root (or anyone on this host) connects as role gnocchi.
    "$bindir/psql" -q -X -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U gnocchi -d postgres \
        -c 'CREATE DATABASE gnocchi' >>"$logf" 2>&1 ||
        { show_log_tail "$logf"; stop_postgresql; die "could not create database gnocchi"; }
    log "postgresql ready: socket $sock, 127.0.0.1:$port, role/database gnocchi, log $logf"
    pg_env_lines "$sock" "$port"
}

stop_postgresql() {
    local base=$DIR/postgresql data=$DIR/postgresql/data pid owner bindir sock
    rm -f "$DIR/postgresql.env"
    if [ -f "$data/postmaster.pid" ]; then
        pid=$(head -n 1 "$data/postmaster.pid" | tr -dc 0-9)
        if alive "$pid"; then
            owner=$(stat -c %U "$data")
            bindir=$(pg_bindir)
            if [ "$(id -u)" = 0 ]; then PG_OS_USER=$owner; fi
            as_pg "$bindir/pg_ctl" stop -D "$data" -m fast -w -t 20 >/dev/null 2>&1 ||
                terminate "$pid"
            log "postgresql stopped ($data)"
        fi
    fi
    if [ -s "$base/sockdir" ]; then
        sock=$(cat "$base/sockdir")
        case $sock in /tmp/gnocchi-rs-pg.*) rm -rf "$sock"; rm -f "$base/sockdir";; esac
    fi
}

status_postgresql() {
    local data=$DIR/postgresql/data pid
    [ -f "$data/postmaster.pid" ] || return 1
    pid=$(head -n 1 "$data/postmaster.pid" | tr -dc 0-9)
    alive "$pid"
}

# ------------------------------------------------------------------ redis

# redis-server's pid, if the process in the pid file really serves DIR (its
# working directory is DIR/redis: `dir` in the generated config).
redis_pid() {
    local f=$DIR/redis/redis.pid pid
    [ -r "$f" ] || return 1
    pid=$(tr -dc 0-9 <"$f")
    alive "$pid" || return 1
    [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$(realpath "$DIR/redis")" ] || return 1
    echo "$pid"
}

start_redis() {
    local base=$DIR/redis port logf n
    if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
        die "redis-server/redis-cli not found (run: $0 install redis)"
    fi
    logf=$base/redis.log
    if redis_pid >/dev/null; then
        log "redis already running in $base"
        cat "$DIR/redis.env"
        return 0
    fi
    rm -rf "$base"
    mkdir -p "$base"
    port=$(free_port)
    # No persistence: a test server, RAM only.
    cat >"$base/redis.conf" <<EOF
# generated by $PROG
bind 127.0.0.1
port $port
protected-mode yes
daemonize yes
pidfile $base/redis.pid
logfile $logf
dir $base
save ""
appendonly no
EOF
    log "redis: starting on 127.0.0.1:$port"
    redis-server "$base/redis.conf" </dev/null >>"$logf" 2>&1 ||
        { show_log_tail "$logf"; die "redis-server failed to start"; }
    for n in $(seq $(( TIMEOUT * 10 ))); do
        [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ] && break
        if [ "$n" = $(( TIMEOUT * 10 )) ]; then
            show_log_tail "$logf"; stop_redis; die "redis not answering after ${TIMEOUT}s"
        fi
        sleep 0.1
    done
    log "redis ready: 127.0.0.1:$port, log $logf"
    emit_env redis "GNOCCHI_RS_REDIS_URL=redis://127.0.0.1:$port"
}

stop_redis() {
    local pid
    rm -f "$DIR/redis.env"
    pid=$(redis_pid) || return 0
    terminate "$pid"    # SIGTERM = clean shutdown (nothing to save: save "")
    log "redis stopped ($DIR/redis)"
}

status_redis() { redis_pid >/dev/null; }

# ------------------------------------------------------------------ ceph

# ceph daemon pid from DIR/ceph/run/NAME.pid, only if its command line names
# our conf (never signal a recycled pid).
ceph_pid() {
    local f=$DIR/ceph/run/$1.pid pid
    [ -r "$f" ] || return 1
    pid=$(tr -dc 0-9 <"$f")
    alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$DIR/ceph.conf" || return 1
    echo "$pid"
}

# Mon commands through one librados connection: the `ceph` CLI costs ~1-2 s
# per call, this ~0.1 s.
ceph_mon_commands() {
    /usr/bin/python3 - "$DIR/ceph.conf" "$@" <<'EOF'
import sys, rados
conf, cmds = sys.argv[1], sys.argv[2:]
c = rados.Rados(conffile=conf)
c.connect(timeout=30)
try:
    for cmd in cmds:
        ret, _, err = c.mon_command(cmd, b'', timeout=30)
        if ret != 0:
            sys.exit("mon command %s failed: %d %s" % (cmd, ret, err))
finally:
    c.shutdown()
EOF
}

ceph_fail() {
    show_log_tail "$DIR"/ceph/log/{mkfs.log,mon.a.log,osd.0.log,mon.a.out,osd.0.out}
    stop_ceph
    die "$*"
}

start_ceph() {
    # A caller's CEPH_* (e.g. another cluster's env) would redirect our tools.
    unset CEPH_ARGS CEPH_CONF CEPH_KEYRING
    local base=$DIR/ceph conf=$DIR/ceph.conf kr=$DIR/ceph/keyring pool=gnocchi
    local port fsid osd_uuid t0 c
    for c in ceph-mon ceph-osd ceph-authtool monmaptool rados ceph; do
        command -v "$c" >/dev/null || die "$c not found (run: $0 install ceph)"
    done
    /usr/bin/python3 -c 'import rados' 2>/dev/null || die "python3-rados missing (run: $0 install ceph)"
    if ceph_pid mon.a >/dev/null && ceph_pid osd.0 >/dev/null; then
        log "ceph already running ($conf)"
        cat "$DIR/ceph.env"
        return 0
    fi
    stop_ceph
    rm -rf "$base" "$conf"
    [[ $DIR != *[[:space:]]* ]] || die "DIR must not contain spaces (ceph.conf values are unquoted)"
    t0=$(date +%s.%N)
    mkdir -p "$base"/{mon,osd,run,log,crash}
    port=$(free_port)
    fsid=$(cat /proc/sys/kernel/random/uuid)
    osd_uuid=$(cat /proc/sys/kernel/random/uuid)

    # msgr v1 only (one port); pool size 1 on one OSD; memstore keeps the data
    # in RAM (no block device, fast mkfs). No mgr: nothing here needs one and
    # it costs ~300 MB and ~7 s. Upstream's harness creates a 16-PG pool per
    # test, hence the raised PG limit.
    cat >"$conf" <<EOF
# generated by $PROG - throwaway test cluster
[global]
fsid = $fsid
mon host = v1:127.0.0.1:$port
public addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $kr
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 2000
mon data avail warn = 2
mon data avail crit = 1
paxos propose interval = 0.05
paxos min wait = 0.01
run dir = $base/run
pid file = $base/run/\$name.pid
admin socket = $base/run/\$name.asok
log file = $base/log/\$name.log
mon cluster log file = $base/log/cluster.log
crash dir = $base/crash
[mon]
mon data = $base/mon
[osd]
osd data = $base/osd
osd objectstore = memstore
memstore device bytes = 4294967296
[client]
log file = /dev/null
admin socket =
EOF

    # One keyring for all; mon mkfs imports every key in it.
    ceph-authtool --create-keyring "$kr" --gen-key -n mon. --cap mon 'allow *' >/dev/null
    ceph-authtool "$kr" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
        --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
    ceph-authtool "$kr" --gen-key -n osd.0 --cap mon 'allow profile osd' --cap osd 'allow *' \
        --cap mgr 'allow profile osd' >/dev/null
    monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$port]" "$base/monmap" >/dev/null

    log "ceph: mon on 127.0.0.1:$port, memstore OSD"
    ceph-mon -c "$conf" -i a --mkfs --monmap "$base/monmap" --keyring "$kr" \
        >>"$base/log/mkfs.log" 2>&1 || ceph_fail "ceph-mon --mkfs failed"
    ceph-mon -c "$conf" -i a </dev/null >>"$base/log/mon.a.out" 2>&1 || ceph_fail "ceph-mon did not start"
    ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" --no-mon-config \
        >>"$base/log/mkfs.log" 2>&1 || ceph_fail "ceph-osd --mkfs failed"
    ceph_mon_commands \
        "{\"prefix\": \"osd new\", \"uuid\": \"$osd_uuid\", \"id\": 0}" \
        "{\"prefix\": \"osd pool create\", \"pool\": \"$pool\", \"pg_num\": 8, \"pgp_num\": 8}" \
        "{\"prefix\": \"osd pool application enable\", \"pool\": \"$pool\", \"app\": \"rados\"}" \
        2>>"$base/log/mkfs.log" || ceph_fail "mon not usable"
    ceph-osd -c "$conf" -i 0 </dev/null >>"$base/log/osd.0.out" 2>&1 || ceph_fail "ceph-osd did not start"

    # Ready = a client can write to the pool (its PGs are active).
    timeout "$TIMEOUT" rados -c "$conf" -p "$pool" put .services-probe "$conf" >/dev/null 2>&1 ||
        ceph_fail "pool $pool not writable after ${TIMEOUT}s"
    rados -c "$conf" -p "$pool" rm .services-probe >/dev/null 2>&1 || true
    log "ceph ready in $(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')s: conf $conf, pool $pool, logs $base/log"
    emit_env ceph "CEPH_CONF=$conf" "GNOCCHI_RS_CEPH_CONF=$conf" "GNOCCHI_RS_CEPH_POOL=$pool"
}

stop_ceph() {
    local name pid stopped=0
    [ -d "$DIR/ceph/run" ] || return 0
    # OSD first: on SIGTERM it tells the mon and waits for the ack; with the
    # mon already gone it waits 5 s (osd_mon_shutdown_timeout) instead of 0.05.
    for name in osd.0 mon.a; do
        if pid=$(ceph_pid "$name"); then terminate "$pid"; stopped=1; fi
    done
    rm -f "$DIR/ceph.env"
    [ "$stopped" = 0 ] || log "ceph stopped ($DIR/ceph.conf)"
}

status_ceph() { ceph_pid mon.a >/dev/null && ceph_pid osd.0 >/dev/null; }

# ------------------------------------------------------------------ mariadb
# shellcheck source=services-mariadb.sh
. "$(dirname "${BASH_SOURCE[0]}")/services-mariadb.sh"

# ------------------------------------------------------------------ main

CMD=${1:-}
[ -n "$CMD" ] || usage
shift
case $CMD in
install)
    do_install "$@"
    ;;
start)
    [ $# -eq 2 ] || usage
    SVC=$1
    mkdir -p "$2"
    DIR=$(realpath -- "$2")
    case $SVC in
    postgresql|mariadb|redis|ceph) "start_$SVC" ;;
    *) die "unknown service '$SVC' (postgresql, mariadb, redis, ceph)" ;;
    esac
    ;;
stop)
    [ $# -eq 1 ] || usage
    [ -d "$1" ] || { log "nothing to stop: $1 does not exist"; exit 0; }
    DIR=$(realpath -- "$1")
    rc=0
    # Keep going: one failure must not leave the other servers running.
    for s in ceph redis mariadb postgresql; do "stop_$s" || rc=1; done
    exit $rc
    ;;
status)
    [ $# -eq 1 ] || usage
    DIR=$(realpath -m -- "$1")
    # "Started" = DIR/<service>.env exists (written by start, removed by stop).
    rc=3
    for s in postgresql mariadb redis ceph; do
        if [ ! -f "$DIR/$s.env" ]; then log "$s: not started"; continue; fi
        [ $rc = 3 ] && rc=0
        if "status_$s"; then log "$s: running"; else log "$s: started but NOT running"; rc=1; fi
    done
    exit $rc
    ;;
-h|--help|help) usage ;;
*) usage ;;
esac
