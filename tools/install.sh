#!/usr/bin/env bash
# Installs gnocchi-rs from this checkout into a virtualenv (./.venv, or
# $GNOCCHI_RS_VENV). Needs Python >= 3.11 and a Rust toolchain (cargo);
# liblz4 is compiled in, so no system library is needed.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${GNOCCHI_RS_VENV:-.venv}
command -v cargo >/dev/null || { echo "install.sh: cargo (Rust) is required to build gnocchi-rs" >&2; exit 1; }
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
target=.
[ -z "${GNOCCHI_RS_EXTRAS:-}" ] || target=".[$GNOCCHI_RS_EXTRAS]"
"$venv/bin/python" -m pip install -q "$target"
echo "gnocchi-rs installed in $venv: run $venv/bin/gnocchi-rs"
