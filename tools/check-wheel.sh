#!/usr/bin/env bash
# check-wheel.sh - the publishable artefacts as a package index gets them:
# maturin builds the sdist and the abi3 wheel, tagged manylinux_2_34 after
# maturin's compliance audit (the newest glibc symbol the library needs;
# building in an older manylinux container would lower it). The wheel is
# then installed into a fresh venv, from a directory outside the source
# tree, with no cargo or rustc on PATH, and `gnocchi-rs serve` must store a
# measure and return it. Prints the wheel's tag, size and install time, and
# "1 passed, 0 failed" or "0 passed, 1 failed" last.
#
# Usage: tools/check-wheel.sh [--keep-dist DIR]
#   --keep-dist DIR   leave the built sdist and wheel in DIR
set -uo pipefail
KEEP_DIST=""
# Absolute, from the caller's directory: the script changes directory.
[ "${1:-}" != --keep-dist ] || KEEP_DIST=$(realpath -m -- "${2:?}")
cd "$(dirname "$0")/.."
REPO=$(pwd)
PROG=check-wheel
COMPATIBILITY=manylinux_2_34

WORK=$(mktemp -d /tmp/gnocchi-rs-wheel.XXXXXX)
SERVE=""
finish() {
    local rc=$1
    trap - EXIT INT TERM
    [ -z "$SERVE" ] || kill -KILL "$SERVE" 2>/dev/null
    if [ -n "$KEEP_DIST" ] && [ -d "$WORK/dist" ]; then
        mkdir -p "$KEEP_DIST" && cp "$WORK"/dist/* "$KEEP_DIST"/
    fi
    rm -rf "$WORK"
    if [ "$rc" = 0 ]; then echo "1 passed, 0 failed"; else echo "0 passed, 1 failed"; fi
    exit "$rc"
}
# A timeout or Ctrl-C must not leave serve running or the work dir behind.
trap 'finish 1' EXIT INT TERM
fail() {
    echo "$PROG: $*" >&2
    for f in "$WORK/build.log" "$WORK/install.log" "$WORK/serve.err"; do
        [ -s "$f" ] && tail -20 "$f" >&2
    done
    finish 1
}

# The build tool, in a venv of its own (maturin, as pyproject.toml names it).
python3 -m venv "$WORK/build-venv" || fail "no venv for the build"
"$WORK/build-venv/bin/pip" install -q "maturin>=1.5,<2" >"$WORK/build.log" 2>&1 ||
    fail "could not install maturin"
"$WORK/build-venv/bin/maturin" build --release --sdist \
    --compatibility "$COMPATIBILITY" -o "$WORK/dist" >>"$WORK/build.log" 2>&1 ||
    fail "maturin build failed"
WHEEL=$(ls "$WORK"/dist/*.whl 2>/dev/null | head -n 1)
SDIST=$(ls "$WORK"/dist/*.tar.gz 2>/dev/null | head -n 1)
[ -n "$WHEEL" ] || fail "no wheel built"
[ -n "$SDIST" ] || fail "no sdist built"
case $(basename "$WHEEL") in
*-cp311-abi3-"$COMPATIBILITY"_x86_64.whl) ;;
*) fail "unexpected wheel tag: $(basename "$WHEEL")" ;;
esac
echo "$PROG: wheel $(basename "$WHEEL"), $(( $(stat -c %s "$WHEEL") / 1024 )) KiB; sdist $(basename "$SDIST"), $(( $(stat -c %s "$SDIST") / 1024 )) KiB"

# A user's machine: no Rust toolchain on PATH, not in the source tree.
CLEAN_PATH=/usr/local/bin:/usr/bin:/bin
PY3=$(command -v python3)
cd "$WORK"
env -i PATH="$CLEAN_PATH" HOME="$WORK/home" "$PY3" -m venv "$WORK/venv" || fail "no venv"
if env -i PATH="$WORK/venv/bin:$CLEAN_PATH" sh -c 'command -v cargo || command -v rustc' >/dev/null; then
    fail "cargo or rustc still on PATH"
fi
T0=$(date +%s.%N)
env -i PATH="$WORK/venv/bin:$CLEAN_PATH" HOME="$WORK/home" \
    "$WORK/venv/bin/pip" install -q "$WHEEL" >"$WORK/install.log" 2>&1 || fail "pip install of the wheel failed"
T1=$(date +%s.%N)
echo "$PROG: pip install of the wheel (and its dependencies) took $(python3 -c "print(round($T1 - $T0, 1))") s"
env -i PATH="$WORK/venv/bin:$CLEAN_PATH" "$WORK/venv/bin/python" -c '
import gnocchi_rs, gnocchi_rs._native, sys
assert "/venv/" in gnocchi_rs.__file__, gnocchi_rs.__file__
' || fail "gnocchi_rs does not import from the installed wheel"

PORT=$("$WORK/venv/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
env -i PATH="$WORK/venv/bin:$CLEAN_PATH" HOME="$WORK/home" \
    "$WORK/venv/bin/gnocchi-rs" serve --port "$PORT" >"$WORK/serve.out" 2>"$WORK/serve.err" &
SERVE=$!
"$WORK/venv/bin/python" - "$PORT" <<'PYEOF' || fail "serve did not store and return a measure"
import base64, json, sys, time, urllib.request
url = "http://127.0.0.1:%s" % sys.argv[1]
auth = {"Authorization": "Basic " + base64.b64encode(b"admin:").decode(),
        "Content-Type": "application/json"}

def call(method, path, body=None):
    request = urllib.request.Request(
        url + path, method=method, headers=auth,
        data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=10) as answer:
        text = answer.read()
        return json.loads(text) if text else None

deadline = time.monotonic() + 120
while True:
    try:
        call("GET", "/v1/status")
        break
    except Exception:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.5)
metric = call("POST", "/v1/metric", {"archive_policy_name": "low"})
call("POST", "/v1/metric/%s/measures" % metric["id"],
     [{"timestamp": "2026-12-01T12:00:00", "value": 42.5}])
deadline = time.monotonic() + 60
while True:
    rows = call("GET", "/v1/metric/%s/measures?refresh=true&granularity=300"
                % metric["id"])
    if rows:
        break
    if time.monotonic() > deadline:
        raise SystemExit("no measure back")
    time.sleep(0.5)
assert rows == [["2026-12-01T12:00:00+00:00", 300.0, 42.5]], rows
PYEOF
kill -TERM "$SERVE"
for _ in $(seq 1 300); do kill -0 "$SERVE" 2>/dev/null || break; sleep 0.1; done
kill -0 "$SERVE" 2>/dev/null && fail "serve did not stop within 30 s of SIGTERM"
wait "$SERVE"
rc=$?
SERVE=""
[ "$rc" = 0 ] || fail "serve exited with $rc on SIGTERM"
echo "$PROG: the wheel, installed without Rust, serves: a measure stored and read back"
finish 0
