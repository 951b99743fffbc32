# services-mariadb.sh - MariaDB for tools/services.sh (sourced by it: uses
# its DIR, TIMEOUT, log, die, alive, terminate, free_port, show_log_tail,
# emit_env). A throwaway server from Debian's mariadb-server: a data dir
# made by mariadb-install-db under DIR/mariadb, run as the package's
# `mysql` user when we are root, listening on 127.0.0.1 on a free port and
# on a socket under DIR (or /tmp for deep DIRs), durability traded for
# speed. The users `gnocchi` and `root` (no password, from localhost) have
# every privilege: upstream's gabbi fixtures create a database per test,
# and its test_str expects the URL's user to be root (pifpaf's).
#
# `start mariadb` exports (also saved in DIR/mariadb.env):
#   GNOCCHI_RS_MYSQL_URL     mysql+pymysql://gnocchi@127.0.0.1:PORT/gnocchi?charset=utf8mb4
#   GNOCCHI_RS_MYSQL_PORT    PORT
#   GNOCCHI_RS_MYSQL_SOCKET  the unix socket

mariadb_os_user() {
    if [ "$(id -u)" != 0 ]; then id -un; return; fi
    if id mysql >/dev/null 2>&1; then echo mysql; else echo nobody; fi
}

as_mariadb() {
    if [ "$(id -u)" = 0 ]; then
        (cd / && runuser -u "$(mariadb_os_user)" -- "$@")
    else
        "$@"
    fi
}

mariadb_sockdir() {
    local base=$DIR/mariadb d
    if [ -s "$base/sockdir" ]; then
        d=$(cat "$base/sockdir")
        mkdir -p "$d"     # /tmp may have been cleaned since
        echo "$d"
        return
    fi
    d=$base/run
    if [ $(( ${#d} + 12 )) -gt 100 ]; then
        d=$(mktemp -d /tmp/gnocchi-rs-mariadb.XXXXXX)
    fi
    mkdir -p "$d"
    echo "$d" >"$base/sockdir"
    echo "$d"
}

mariadb_pid() {
    local pidf=$DIR/mariadb/mariadbd.pid pid
    [ -s "$pidf" ] || return 1
    pid=$(tr -dc 0-9 <"$pidf")
    alive "$pid" && echo "$pid"
}

start_mariadb() {
    local base=$DIR/mariadb data sock port logf user n
    base=$DIR/mariadb data=$base/data logf=$base/mariadb.log
    [ -x /usr/sbin/mariadbd ] || die "MariaDB not installed (run: $0 install mariadb)"
    if mariadb_pid >/dev/null; then
        log "mariadb already running in $data"
        cat "$DIR/mariadb.env"
        return 0
    fi
    rm -rf "$data"
    mkdir -p "$base"
    sock=$(mariadb_sockdir)/mysqld.sock
    port=$(free_port)
    user=$(mariadb_os_user)
    : >"$logf"
    if [ "$(id -u)" = 0 ]; then
        chmod 755 "$DIR" "$base"   # DIR may come from mktemp -d (0700)
        chown -R "$user" "$base" "$(dirname "$sock")"
    fi
    log "mariadb: mariadb-install-db in $data (as $user)"
    as_mariadb /usr/bin/mariadb-install-db --no-defaults --datadir="$data" \
        --auth-root-authentication-method=normal --skip-test-db \
        >>"$logf" 2>&1 || { show_log_tail "$logf"; die "mariadb-install-db failed"; }
    # setsid: the server must not get the caller's signals (a test runner's
    # Ctrl-C), only ours at stop.
    as_mariadb setsid /usr/sbin/mariadbd --no-defaults --datadir="$data" \
        --socket="$sock" --port="$port" --bind-address=127.0.0.1 \
        --pid-file="$base/mariadbd.pid" --log-error="$logf" \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
        --max-connections=500 --skip-log-bin --innodb-flush-log-at-trx-commit=0 \
        --innodb-doublewrite=0 --innodb-buffer-pool-size=256M --skip-name-resolve \
        </dev/null >/dev/null 2>&1 &
    for n in $(seq $(( TIMEOUT * 5 ))); do
        /usr/bin/mariadb --no-defaults -S "$sock" -uroot -e 'SELECT 1' >/dev/null 2>&1 && break
        sleep 0.2
    done
    # Known by its pid file from here; a server too slow to write it is
    # found by its data directory and stopped.
    if ! mariadb_pid >/dev/null; then
        stop_mariadb
        show_log_tail "$logf"
        die "mariadb did not start within ${TIMEOUT}s"
    fi
    /usr/bin/mariadb --no-defaults -S "$sock" -uroot -e "
        CREATE DATABASE gnocchi;
        CREATE USER 'gnocchi'@'localhost'; CREATE USER 'gnocchi'@'127.0.0.1';
        GRANT ALL ON *.* TO 'gnocchi'@'localhost' WITH GRANT OPTION;
        GRANT ALL ON *.* TO 'gnocchi'@'127.0.0.1' WITH GRANT OPTION;
        CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
        GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" >>"$logf" 2>&1 ||
        { show_log_tail "$logf"; stop_mariadb; die "mariadb did not start"; }
    log "mariadb ready: socket $sock, 127.0.0.1:$port, user/database gnocchi, log $logf"
    emit_env mariadb \
        "GNOCCHI_RS_MYSQL_URL=mysql+pymysql://gnocchi@127.0.0.1:$port/gnocchi?charset=utf8mb4" \
        "GNOCCHI_RS_MYSQL_PORT=$port" "GNOCCHI_RS_MYSQL_SOCKET=$sock"
}

# Servers of DIR's data directory, pid file or not.
mariadb_pids_by_datadir() {
    pgrep -f -- "mariadbd --no-defaults --datadir=$DIR/mariadb/data " || true
}

stop_mariadb() {
    local base=$DIR/mariadb pid sockdir pids
    rm -f "$DIR/mariadb.env"
    if pid=$(mariadb_pid); then
        terminate "$pid"
        log "mariadb stopped ($base/data)"
    fi
    pids=$(mariadb_pids_by_datadir)
    if [ -n "$pids" ]; then
        # shellcheck disable=SC2086  # one pid per word
        terminate $pids
        log "mariadb stopped ($base/data, found by its data directory)"
    fi
    if [ -s "$base/sockdir" ]; then
        sockdir=$(cat "$base/sockdir")
        case $sockdir in /tmp/gnocchi-rs-mariadb.*) rm -rf "$sockdir" ;; esac
        rm -f "$base/sockdir"
    fi
}

status_mariadb() { mariadb_pid >/dev/null; }
