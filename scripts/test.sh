#!/usr/bin/env bash
# Run every test floe has. On a fresh machine this installs what the tests need first:
# a Python venv with the independent readers (pyiceberg, DuckDB). Extra arguments go to cargo test.
#
#   scripts/test.sh                 # everything in the default suite
#   scripts/test.sh pipeline        # only tests whose name contains "pipeline"
#   FLOE_VENV=~/.cache/floe-venv CARGO_TARGET_DIR=~/.cache/floe-target scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${FLOE_VENV:-$PWD/.venv}"
REQ=scripts/requirements-test.txt
stamp="$VENV/.floe-requirements"
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$REQ" "$stamp"; then
  echo "==> creating the test venv in $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$stamp"
fi
export FLOE_TEST_PYTHON="$VENV/bin/python"

echo "==> cargo test (target: ${CARGO_TARGET_DIR:-target})"
cargo test --locked "$@"
