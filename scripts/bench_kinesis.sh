#!/usr/bin/env bash
# Kinesis consumer cost: CPU seconds per record for `floe run --bronze-only --until-idle` reading a
# stream on kinesis-local, by polling and through enhanced fan-out (behind tests/standins/kinesis_efo.py,
# subscriptions lasting 5 minutes as on AWS), beside reference consumers (boto3 GetRecords or
# SubscribeToShard + aws-kinesis-agg) on the same stream in the same run. kinesis-local
# (single-threaded JavaScript) is the wall-clock bottleneck, so CPU time per record is the figure
# that means something.
#
#   scripts/bench_kinesis.sh [user records] [aggregate every nth group of 25]   # defaults: 100000 2
#   FLOE_BENCH_PROFILE=profiling scripts/bench_kinesis.sh                        # optimised build
# Needs what scripts/test.sh installs (venv + kinesis-local); FLOE_VENV as there.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
AGG=${2:-2}
PROFILE=${FLOE_BENCH_PROFILE:-dev}
VENV="${FLOE_VENV:-$PWD/.venv}"
NPM_DIR="${FLOE_NPM_DIR:-$VENV-npm}"
PY="$VENV/bin/python"
cargo build --quiet --locked --profile "$PROFILE" --bin floe
DIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
FLOE="${CARGO_TARGET_DIR:-target}/$DIR/floe"
WORK=$(mktemp -d)
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TLS=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
KINESIS_MOCK_CERT_PATH="$NPM_DIR/node_modules/kinesis-local/server.json" KINESIS_MOCK_PLAIN_PORT=$PORT \
  KINESIS_MOCK_TLS_PORT=$TLS LOG_LEVEL=WARN node -r "$PWD/tests/standins/loopback.js" \
  "$NPM_DIR/node_modules/kinesis-local/main.js" >"$WORK/kinesis.log" 2>&1 &
KPID=$!
until "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null; do sleep 0.2; done
EP="http://127.0.0.1:$PORT"
"$PY" tests/standins/kinesis_efo.py "$EP" 300 >"$WORK/efo.port" &
EFO_PID=$!
trap 'kill $KPID $EFO_PID 2>/dev/null; rm -rf "$WORK"' EXIT
until [ -s "$WORK/efo.port" ]; do sleep 0.2; done
EFO_EP="http://127.0.0.1:$(cat "$WORK/efo.port")"
"$PY" -c "
import uuid
with open('$WORK/records.ndjson', 'w') as f:
    for i in range($N): f.write('{\"event_id\":\"%s\",\"n\":%d,\"page_url\":\"https://example.com/p/%d\"}\n' % (uuid.uuid4(), i, i))
"
"$PY" tests/it/readers/kinesis_tool.py "$EP" create bench 4 >/dev/null
START=$(date +%s.%N)
"$PY" tests/it/readers/kinesis_tool.py "$EP" put bench "$WORK/records.ndjson" 0 "$N" "$AGG" >"$WORK/put.json"
PUT_S=$(echo "$(date +%s.%N) - $START" | bc)
export AWS_ENDPOINT_URL=$EP AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
# cpu seconds (user + sys), wall seconds, peak RSS (KiB) of a command
measure() { /usr/bin/time -f "%U %S %e %M" -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err"; read -r u s e m <"$WORK/time"; echo "$(echo "$u + $s" | bc) $e $m"; }
echo "user records: $N, put into kinesis-local in ${PUT_S}s"
# CPU µs per record = CPU seconds per 1M records; rows are printed as each consumer finishes
printf '| consumer | records read | CPU s | CPU s per 1M records | wall s | records/s | peak RSS MiB |\n|---|---:|---:|---:|---:|---:|---:|\n'
row() {
  local read; read=$("$PY" -c "import json; d = json.load(open('$WORK/out')); print(d['counters']['records_read'] if 'counters' in d else d['records'])")
  printf '| %s | %d | %.2f | %.1f | %.1f | %.0f | %d |\n' "$1" "$read" "$2" "$(echo "$2 * 1000000 / $N" | bc -l)" "$3" \
    "$(echo "$read / $3" | bc -l)" "$(($4 / 1024))"
}
read -r FC FE FM < <(FLOE_SOURCE_TYPE=kinesis FLOE_SOURCE_STREAM=bench FLOE_SOURCE_READ_RECORDS=10000 \
  FLOE_SOURCE_POLL_INTERVAL=200ms measure "$FLOE" --warehouse "$WORK/wh" run --bronze-only --until-idle --json)
row "floe run --bronze-only --until-idle ($PROFILE): GetRecords, KPL split, Parquet bronze, checkpoints" "$FC" "$FE" "$FM"
read -r RC RE RM < <(measure "$PY" tests/it/readers/kinesis_tool.py "$EP" read bench)
row "reference: boto3 GetRecords + aws-kinesis-agg (reads and splits only)" "$RC" "$RE" "$RM"
read -r EC EE EM < <(AWS_ENDPOINT_URL=$EFO_EP FLOE_SOURCE_TYPE=kinesis FLOE_SOURCE_STREAM=bench FLOE_SOURCE_CONSUMER=efo \
  measure "$FLOE" --warehouse "$WORK/wh-efo" run --bronze-only --until-idle --json)
row "floe, source.consumer = efo ($PROFILE): SubscribeToShard, same bronze" "$EC" "$EE" "$EM"
read -r XC XE XM < <(measure "$PY" tests/it/readers/kinesis_tool.py "$EFO_EP" read-efo bench)
row "reference: boto3 SubscribeToShard + aws-kinesis-agg (reads and splits only)" "$XC" "$XE" "$XM"
echo "CPU ratio (reference / floe): polling $(echo "$RC / $FC" | bc -l | cut -c1-5)x, efo $(echo "$XC / $EC" | bc -l | cut -c1-5)x"
