#!/usr/bin/env bash
# check-readme-start.sh - the README's two commands as a new user runs them:
# `bash tools/install.sh` (plain install, no test extras, into a fresh venv)
# then `gnocchi-rs serve` on a fresh home directory; passes when /v1/status
# answers and serve stops cleanly on SIGTERM. Prints "1 passed, 0 failed" or
# "0 passed, 1 failed" last.
set -uo pipefail
cd "$(dirname "$0")/.."

WORK=$(mktemp -d /tmp/gnocchi-rs-readme.XXXXXX)
SERVE=""
finish() {
    local rc=$1
    [ -z "$SERVE" ] || kill -KILL "$SERVE" 2>/dev/null
    rm -rf "$WORK"
    if [ "$rc" = 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
    exit "$rc"
}
fail() { echo "check-readme-start: $*" >&2; [ -f "$WORK/serve.err" ] && tail -20 "$WORK/serve.err" >&2; finish 1; }

GNOCCHI_RS_VENV=$WORK/venv bash tools/install.sh >"$WORK/install.log" 2>&1 ||
    { tail -20 "$WORK/install.log" >&2; fail "install.sh failed"; }
PORT=$("$WORK/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HOME=$WORK/home "$WORK/venv/bin/gnocchi-rs" serve --port "$PORT" >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVE=$!
for _ in $(seq 1 240); do
    curl -fs -u admin: "http://127.0.0.1:$PORT/v1/status" >"$WORK/status.json" 2>/dev/null && break
    kill -0 "$SERVE" 2>/dev/null || fail "serve exited"
    sleep 0.5
done
grep -q '"storage"' "$WORK/status.json" 2>/dev/null || fail "no /v1/status on port $PORT"
grep -q "http://127.0.0.1:$PORT" "$WORK/serve.out" || fail "serve did not print its URL"
kill -TERM "$SERVE"
wait "$SERVE"
rc=$?
SERVE=""
[ "$rc" = 0 ] || fail "serve exited with $rc on SIGTERM"
echo "check-readme-start: install.sh + gnocchi-rs serve: /v1/status answered, clean stop"
finish 0
