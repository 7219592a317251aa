#!/usr/bin/env bash
# What a waiting worker costs, two binaries side by side in one run (BENCHMARKS.md, "What a
# waiting worker costs"): each binary runs one combined worker (`floe run`: bronze + silver,
# DynamoDB leases of 5 s, Glue, S3) at the shipped defaults on an empty 4-shard kinesis-local
# stream for SECS seconds; CPU (user + system) by GNU time. The binaries alternate, ROUNDS times,
# so machine noise falls on both. Starts its own strict moto and kinesis-local on 127.0.0.1, from
# the venvs and npm directory scripts/test.sh prepares (run that once first).
#
#   scripts/bench_idle.sh BEFORE_BIN AFTER_BIN [SECS] [ROUNDS]     # default 60 2
#
# (BEFORE_BIN: e.g. a release build of the parent commit in a git worktree, same CARGO_TARGET_DIR.)
set -euo pipefail
cd "$(dirname "$0")/.."
BEFORE=$1 AFTER=$2 SECS="${3:-60}" ROUNDS="${4:-2}"
VENV="${FLOE_VENV:-$PWD/.venv}"
NPM_DIR="${FLOE_NPM_DIR:-$VENV-npm}"
READERS=tests/it/readers
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
await_port() {
  for _ in $(seq 1 150); do
    "$VENV/bin/python" -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null && return 0
    sleep 0.2
  done
  echo "no server on port $1" >&2; exit 1
}
MOTO_PORT=$(free_port)
"$VENV-standins/bin/python" tests/standins/moto_strict.py -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
KIN_PORT=$(free_port)
KINESIS_MOCK_CERT_PATH="$NPM_DIR/node_modules/kinesis-local/server.json" SHARD_LIMIT=1000 \
KINESIS_MOCK_PLAIN_PORT="$KIN_PORT" KINESIS_MOCK_TLS_PORT="$(free_port)" LOG_LEVEL=WARN \
  node -r "$PWD/tests/standins/loopback.js" "$NPM_DIR/node_modules/kinesis-local/main.js" >"$WORK/kinesis.log" 2>&1 &
PIDS+=($!)
await_port "$MOTO_PORT"
await_port "$KIN_PORT"
MOTO="http://127.0.0.1:$MOTO_PORT" KIN="http://127.0.0.1:$KIN_PORT"

# idle BIN TAG: one worker on a fresh bucket, Glue database, lease table and stream
idle() {
  local bin=$1 tag=$2 u="$2$RANDOM"
  local dir="$WORK/$u"
  mkdir -p "$dir"
  "$VENV/bin/python" "$READERS/aws_admin.py" "$MOTO" create-bucket "floe-idle-$u" >/dev/null
  "$VENV/bin/python" "$READERS/kinesis_tool.py" "$KIN" create "floe-idle-$u" 4 >/dev/null
  (
    export FLOE_SOURCE_TYPE=kinesis FLOE_SOURCE_STREAM="floe-idle-$u" FLOE_SOURCE_READ_RECORDS=100 \
      FLOE_CHECKPOINT_TYPE=dynamodb FLOE_CHECKPOINT_TABLE="leases-$u" FLOE_CHECKPOINT_LEASE_DURATION=5s \
      FLOE_CHECKPOINT_WORKER_ID=idle FLOE_CATALOG_TYPE=glue FLOE_CATALOG_NAMESPACE="floe_idle_$u" \
      FLOE_CATALOG_WAREHOUSE="s3://floe-idle-$u/warehouse" FLOE_BRONZE_LOCATION="s3://floe-idle-$u/bronze" \
      AWS_ENDPOINT_URL_KINESIS="$KIN" AWS_ENDPOINT_URL_S3="$MOTO" AWS_ENDPOINT_URL_GLUE="$MOTO" \
      AWS_ENDPOINT_URL_DYNAMODB="$MOTO" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
      AWS_REGION=us-east-1 RUST_LOG=warn
    unset AWS_ENDPOINT_URL AWS_PROFILE
    "$bin" --warehouse "$dir/wh" init >/dev/null
    /usr/bin/time -f "%U %S" -o "$dir/cpu" "$bin" --warehouse "$dir/wh" run >/dev/null 2>"$dir/log" &
    local t=$!
    sleep "$SECS"
    kill -TERM "$(pgrep -P "$t")"
    wait "$t" || { cat "$dir/log" >&2; exit 1; }
  )
  read -r user sys <"$dir/cpu"
  "$VENV/bin/python" -c "u,s=$user,$sys; print(f'| $tag | $SECS | {u+s:.2f} | {(u+s)*60/$SECS:.2f} | {100*(u+s)/$SECS:.1f} % |')"
}

echo "| binary | seconds | CPU s | CPU s per minute | share of a core |"
echo "|---|---:|---:|---:|---:|"
for _ in $(seq 1 "$ROUNDS"); do
  idle "$BEFORE" before
  idle "$AFTER" after
done
