#!/usr/bin/env bash
# Run every test floe has. On a fresh machine this installs what the tests need first:
# a Python venv with the independent readers (pyiceberg, DuckDB), one with the AWS stand-ins
# (moto's server, made strict by tests/standins/moto_strict.py) and one with the deployment
# linters (checkov, python-hcl2, dockerfile-parse). Extra arguments go to cargo test.
#
#   scripts/test.sh                 # everything in the default suite
#   scripts/test.sh pipeline        # only Rust tests whose name contains "pipeline" (infra checks still run)
#   FLOE_VENV=~/.cache/floe-venv CARGO_TARGET_DIR=~/.cache/floe-target scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# venv DIR REQUIREMENTS: create or refresh DIR when the requirements file changed.
venv() {
  local dir=$1 req=$2
  if [ ! -x "$dir/bin/python" ] || ! cmp -s "$req" "$dir/.floe-requirements"; then
    echo "==> preparing the venv $dir ($req)"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    cp "$req" "$dir/.floe-requirements"
  fi
}

VENV="${FLOE_VENV:-$PWD/.venv}"
venv "$VENV" scripts/requirements-test.txt
venv "$VENV-standins" scripts/requirements-standins.txt
venv "$VENV-infra" scripts/requirements-infra.txt
export FLOE_TEST_PYTHON="$VENV/bin/python"
export FLOE_TEST_STANDINS_PYTHON="$VENV-standins/bin/python"   # tests that start a stand-in of their own

# The strict moto server (S3, Glue, DynamoDB) for the AWS tests: 127.0.0.1 only, a free port,
# stopped by PID when this script exits however it exits.
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# await_port NAME PORT LOG: wait up to 30 s for a server to accept connections; on failure show its log.
await_port() {
  for _ in $(seq 1 150); do
    if "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $2), 1)" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  echo "$1 did not start on port $2; its log:"; cat "$3"; exit 1
}
MOTO_PORT=$(free_port)
MOTO_LOG="${TMPDIR:-/tmp}/floe-moto-$MOTO_PORT.log"
"$VENV-standins/bin/python" tests/standins/moto_strict.py -H 127.0.0.1 -p "$MOTO_PORT" >"$MOTO_LOG" 2>&1 &
PIDS+=($!)
await_port moto "$MOTO_PORT" "$MOTO_LOG"
export FLOE_TEST_MOTO_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
echo "==> strict moto on $FLOE_TEST_MOTO_ENDPOINT (log: $MOTO_LOG)"

# kinesis-local (kinesis-mock's JavaScript build: 56-digit sequence numbers, real split/merge,
# ChildShards) from npm, pinned in scripts/package.json. It binds every interface and has no
# option against it: tests/standins/loopback.js makes it listen on 127.0.0.1 only. It needs a
# certificate file even though the tests use its plain-HTTP port.
NPM_DIR="${FLOE_NPM_DIR:-$VENV-npm}"
if ! cmp -s scripts/package.json "$NPM_DIR/package.json" || [ ! -f "$NPM_DIR/node_modules/kinesis-local/main.js" ]; then
  echo "==> installing kinesis-local into $NPM_DIR"
  mkdir -p "$NPM_DIR"
  cp scripts/package.json "$NPM_DIR/package.json"
  (cd "$NPM_DIR" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
fi
KINESIS_PORT=$(free_port)
KINESIS_LOG="${TMPDIR:-/tmp}/floe-kinesis-$KINESIS_PORT.log"
# SHARD_LIMIT: every test makes its own streams on this one server (the default account limit is 50 open shards).
KINESIS_MOCK_CERT_PATH="$NPM_DIR/node_modules/kinesis-local/server.json" SHARD_LIMIT=1000 \
KINESIS_MOCK_PLAIN_PORT="$KINESIS_PORT" KINESIS_MOCK_TLS_PORT="$(free_port)" LOG_LEVEL=WARN \
  node -r "$PWD/tests/standins/loopback.js" "$NPM_DIR/node_modules/kinesis-local/main.js" >"$KINESIS_LOG" 2>&1 &
PIDS+=($!)
await_port kinesis-local "$KINESIS_PORT" "$KINESIS_LOG"
export FLOE_TEST_KINESIS_ENDPOINT="http://127.0.0.1:$KINESIS_PORT"
echo "==> kinesis-local on $FLOE_TEST_KINESIS_ENDPOINT (log: $KINESIS_LOG)"

# rustberg, an Iceberg REST catalog server (Rust, from crates.io, pinned), for catalog.type = "rest".
# Built once with `cargo install --debug` (no debug info) without TLS or cloud storage (a local
# warehouse is all the tests need) into its own root; started on 127.0.0.1 with one API key (a
# bearer token, role writer), a redb catalog file and a local warehouse directory.
RUSTBERG_VERSION=0.3.0
RUSTBERG_ROOT="${FLOE_RUSTBERG_ROOT:-$VENV-rustberg}"
if [ "$(cat "$RUSTBERG_ROOT/.floe-version" 2>/dev/null)" != "$RUSTBERG_VERSION" ] || [ ! -x "$RUSTBERG_ROOT/bin/rustberg" ]; then
  echo "==> building rustberg $RUSTBERG_VERSION into $RUSTBERG_ROOT (once)"
  CARGO_TARGET_DIR="$RUSTBERG_ROOT/target" CARGO_PROFILE_DEV_DEBUG=false cargo install --quiet --locked --debug --no-default-features \
    --features cli --version "$RUSTBERG_VERSION" --root "$RUSTBERG_ROOT" rustberg
  rm -rf "$RUSTBERG_ROOT/target"
  echo "$RUSTBERG_VERSION" >"$RUSTBERG_ROOT/.floe-version"
fi
REST_PORT=$(free_port)
REST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/floe-rest-XXXXXX")
REST_LOG="$REST_DIR/rustberg.log"
export FLOE_TEST_REST_TOKEN="rb_floe_tests_$("$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(16))')"
cat >"$REST_DIR/rustberg.toml" <<EOF
[server]
host = "127.0.0.1"
port = $REST_PORT
[server.auth]
api_key_enabled = true
[[server.auth.api_keys]]
name = "floe-tests"
tenant = "default"
roles = ["writer"]
key_env = "FLOE_TEST_REST_TOKEN"
[tls]
enabled = false
insecure_http = true
[storage]
catalog_url = "file://$REST_DIR/catalog"
EOF
"$RUSTBERG_ROOT/bin/rustberg" --dev --insecure-http --config "$REST_DIR/rustberg.toml" \
  --warehouse "file://$REST_DIR/warehouse" >"$REST_LOG" 2>&1 &
PIDS+=($!)
await_port rustberg "$REST_PORT" "$REST_LOG"
export FLOE_TEST_REST_ENDPOINT="http://127.0.0.1:$REST_PORT"
echo "==> rustberg (Iceberg REST catalog) on $FLOE_TEST_REST_ENDPOINT (log: $REST_LOG)"

echo "==> lints (cargo fmt --check; cargo clippy --all-targets -D warnings, with the [lints] of Cargo.toml; import rules)"
cargo fmt --check
cargo clippy --locked --all-targets --quiet -- -D warnings
python3 scripts/check_imports.py

echo "==> cargo test (target: ${CARGO_TARGET_DIR:-target})"
cargo test --locked "$@"

echo "==> AWS stand-ins (each strictness patch proved over the real APIs)"
"$VENV-standins/bin/python" -m pytest -q tests/standins

echo "==> deployment checks (terraform/, Dockerfile)"
"$VENV-infra/bin/python" -m pytest -q tests/infra
