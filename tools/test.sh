#!/usr/bin/env bash
# Everything the tests need, then every test: the Rust core (cargo test,
# no Python) and the Python suites (pytest: upstream's test_carbonara on our
# core, differential tests against upstream, the shared vectors).
set -euo pipefail
cd "$(dirname "$0")/.."

export GNOCCHI_RS_VENV=${GNOCCHI_RS_TEST_VENV:-.venv-test}
export GNOCCHI_RS_EXTRAS=test
# Builds the extension once, in release mode (pyproject.toml's profile).
bash tools/install.sh

echo "== cargo test (pure core)"
cargo test --release --quiet

echo "== pytest (bindings, drop-in, differential, vectors)"
exec "$GNOCCHI_RS_VENV/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
