#!/usr/bin/env bash
# Everything the tests need, then every test:
#   1. system services from Debian packages (PostgreSQL, MariaDB, Redis, Ceph);
#   2. gnocchi-rs and the test dependencies in .venv-test (one release build);
#   3. cargo test (the pure Rust core, no Python);
#   4. pytest: drop-in carbonara, differential tests against upstream, the
#      shared vectors, the drivers against upstream's on real file trees, a
#      real redis-server and a single-node Ceph cluster, the SIGKILL test;
#   5. upstream Gnocchi's own unit + gabbi suites with rs-file, rs-redis and
#      rs-ceph aliased in for file, redis and ceph, against PostgreSQL; the
#      same with rs-file and rs-redis against MariaDB; then its indexer tests and gabbi
#      suite on the SQLite indexer with rs-file;
#   6. its functional_live suite against `gnocchi-rs api` + `gnocchi-rs
#      metricd` (tools/run-functional-live.sh), on PostgreSQL and MariaDB;
#   7. the README's two commands in a fresh venv (tools/check-readme-start.sh);
#   8. the sdist and the manylinux wheel built, the wheel installed where no
#      Rust toolchain is, and served from (tools/check-wheel.sh).
# Exits non-zero when anything failed; the last lines summarise each part.
set -uo pipefail
cd "$(dirname "$0")/.."

export GNOCCHI_RS_VENV=${GNOCCHI_RS_TEST_VENV:-.venv-test}
export GNOCCHI_RS_EXTRAS=test

bash tools/services.sh install postgresql mariadb redis ceph || exit 1
# Builds the extension once, in release mode (pyproject.toml's profile).
bash tools/install.sh || exit 1

declare -a summary
failed=0
record() {  # name, rc, summary line
    summary+=("$1: $3")
    [ "$2" -eq 0 ] || failed=1
}

echo "== cargo test (pure core)"
cargo test --release --quiet 2>&1 | tee /tmp/gnocchi-rs-cargo.log
rc=${PIPESTATUS[0]}
record "cargo test" "$rc" "$(grep -E '^test result' /tmp/gnocchi-rs-cargo.log | awk '{p+=$4; f+=$6} END {print p " passed, " f " failed"}')"

echo "== pytest (bindings, drop-in, differential, vectors, drivers, kill)"
"$GNOCCHI_RS_VENV/bin/python" -m pytest -q -p no:cacheprovider tests "$@" 2>&1 | tee /tmp/gnocchi-rs-pytest.log
rc=${PIPESTATUS[0]}
record "pytest" "$rc" "$(tail -1 /tmp/gnocchi-rs-pytest.log)"

for alias in file=rs-file redis=rs-redis ceph=rs-ceph; do
    echo "== upstream gnocchi 4.7.1 unit + gabbi suites, $alias"
    bash tools/run-upstream-suite.sh --venv "$GNOCCHI_RS_VENV" --alias "$alias" 2>&1 | tee /tmp/gnocchi-rs-upstream.log
    rc=${PIPESTATUS[0]}
    record "upstream suites ($alias)" "$rc" "$(tail -1 /tmp/gnocchi-rs-upstream.log)"
done

for alias in file=rs-file redis=rs-redis; do
    echo "== upstream gnocchi 4.7.1 unit + gabbi suites, MariaDB indexer, $alias"
    bash tools/run-upstream-suite.sh --venv "$GNOCCHI_RS_VENV" --indexer mysql --alias "$alias" 2>&1 | tee /tmp/gnocchi-rs-upstream.log
    rc=${PIPESTATUS[0]}
    record "upstream suites (MariaDB, $alias)" "$rc" "$(tail -1 /tmp/gnocchi-rs-upstream.log)"
done

# The embedded default's indexer: upstream's indexer tests and its gabbi
# HTTP suite on SQLite with rs-file. (test_models_sync, which runs the
# alembic migrations SQLite cannot run, is outside this selection.)
echo "== upstream gnocchi 4.7.1 indexer + gabbi suites, SQLite indexer, file=rs-file"
bash tools/run-upstream-suite.sh --venv "$GNOCCHI_RS_VENV" --indexer sqlite --alias file=rs-file \
    -- '^(gabbi\.|gnocchi\.tests\.test_indexer\.)' 2>&1 | tee /tmp/gnocchi-rs-upstream.log
rc=${PIPESTATUS[0]}
record "upstream indexer + gabbi suites (SQLite, file=rs-file)" "$rc" "$(tail -1 /tmp/gnocchi-rs-upstream.log)"

echo "== upstream gnocchi 4.7.1 functional_live suite against gnocchi-rs api + metricd (PostgreSQL, rs-file)"
bash tools/run-functional-live.sh --venv "$GNOCCHI_RS_VENV" 2>&1 | tee /tmp/gnocchi-rs-live.log
rc=${PIPESTATUS[0]}
record "upstream functional_live suite (gnocchi-rs api + metricd)" "$rc" "$(tail -1 /tmp/gnocchi-rs-live.log)"

echo "== upstream gnocchi 4.7.1 functional_live suite against gnocchi-rs api + metricd (MariaDB, rs-file)"
bash tools/run-functional-live.sh --venv "$GNOCCHI_RS_VENV" --indexer mysql 2>&1 | tee /tmp/gnocchi-rs-live.log
rc=${PIPESTATUS[0]}
record "upstream functional_live suite (MariaDB)" "$rc" "$(tail -1 /tmp/gnocchi-rs-live.log)"

echo "== the README's two commands: tools/install.sh (no extras) then gnocchi-rs serve"
bash tools/check-readme-start.sh 2>&1 | tee /tmp/gnocchi-rs-readme.log
rc=${PIPESTATUS[0]}
record "README install + serve" "$rc" "$(tail -1 /tmp/gnocchi-rs-readme.log)"

echo "== the wheel: built (manylinux_2_34), installed without Rust, serving"
bash tools/check-wheel.sh 2>&1 | tee /tmp/gnocchi-rs-wheel.log
rc=${PIPESTATUS[0]}
record "wheel install + serve" "$rc" "$(tail -1 /tmp/gnocchi-rs-wheel.log)"

echo "== summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
