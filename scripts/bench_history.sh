#!/usr/bin/env bash
# History flatness: ROUNDS rounds of EVENTS generated events into one table whose rows all sit
# inside the dedup window, through ONE long-running `floe run` (as in production). Per round:
# the wall time from dropping the round's spool files to all of them being in silver, the silver
# busy time (the rounds' phases and commits, from floe's debug log), the commits, the manifests in
# the current snapshot (pyiceberg), the time floe took to read the table's progress, and the ids
# the dedup state holds. Prints a Markdown table for BENCHMARKS.md.
#
#   scripts/bench_history.sh [ROUNDS] [EVENTS]        # default 20 500000
#   FLOE_BENCH_PROFILE=release scripts/bench_history.sh 20 500000
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-20}"
EVENTS="${2:-500000}"
PROFILE="${FLOE_BENCH_PROFILE:-release}"
source scripts/bench_common.sh
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DAEMON=
cleanup() { [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/spool" "$WORK/stage"

# Every generated collector_tstamp is within 3 days: a 4-day window keeps every row in it.
export FLOE_SILVER_DEDUP_LOOKBACK=96h FLOE_SILVER_DEDUP_MEMORY=4GiB FLOE_METRICS_PORT=$PORT
RUST_LOG=warn,floe=debug "$FLOE" --warehouse "$WORK/wh" --spool "$WORK/spool" --log-format json run \
  > "$WORK/daemon.out" 2> "$WORK/daemon.log" &
DAEMON=$!

records_in() { curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^floe_silver_records_in_total/ {s += $NF} END {printf "%d", s}'; }
until curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null; do sleep 0.2; done

cat > "$WORK/manifests.py" <<PY
import json, sys
from pyiceberg.catalog.sql import SqlCatalog
c = SqlCatalog("floe", uri="sqlite:///$WORK/wh/catalog.db", warehouse="file://$WORK/wh")
t = c.load_table("floe.events")
s = t.current_snapshot()
print(json.dumps({"manifests": len(s.manifests(t.io)), "snapshots": len(t.metadata.snapshots)}))
PY

total=0
echo "round|rows_before|wall_s|busy_s|commits|manifests|snapshots|progress_us|dedup_held" > "$WORK/rounds.txt"
for r in $(seq 1 "$ROUNDS"); do
  rm -rf "$WORK/stage"/*
  "$FLOE" --warehouse "$WORK/gen" --spool "$WORK/stage" generate --events "$EVENTS" --shards 4 \
    --seed "$r" --duplicate-rate 0.02 --malformed-rate 0.01 --json > "$WORK/gen.json"
  n=$("$VENV/bin/python" -c "import json;print(json.load(open('$WORK/gen.json'))['records'])")
  before=$total
  total=$((total + n))
  lines_before=$(wc -l < "$WORK/daemon.log")
  t0=$(date +%s.%N)
  for f in "$WORK/stage"/*; do mv "$f" "$WORK/spool/r$r-$(basename "$f")"; done
  until [ "$(records_in)" -ge "$total" ]; do sleep 0.1; done
  t1=$(date +%s.%N)
  sleep 0.5
  tail -n +"$((lines_before + 1))" "$WORK/daemon.log" > "$WORK/round.log"
  "$VENV/bin/python" - "$WORK/round.log" "$r" "$before" "$t0" "$t1" "$("$VENV/bin/python" "$WORK/manifests.py")" >> "$WORK/rounds.txt" <<'PY'
import json, re, sys
log, r, before, t0, t1, m = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), json.loads(sys.argv[6])
busy_ms = commits = 0
progress_us = []
held = 0
for line in open(log):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    f = e.get("fields", {})
    msg = f.get("message", "")
    if msg == "silver batch timing":
        busy_ms += sum(int(x) for x in re.findall(r"=(\d+)ms", f.get("phases", "")))
        hs = re.findall(r"held=(\d+)", f.get("phases", ""))
        if hs:
            held = int(hs[-1])
    elif msg == "silver batch committed" and f.get("table") == "events":
        commits += 1
        busy_ms += int(f.get("commit_ms", 0))
    elif msg == "commit opened: progress read" and f.get("table") == "events":
        progress_us.append(int(f.get("progress_us", 0)))
p = sorted(progress_us)[len(progress_us) // 2] if progress_us else 0
print(f"{r}|{before}|{t1 - t0:.2f}|{busy_ms / 1000:.2f}|{commits}|{m['manifests']}|{m['snapshots']}|{p}|{held}")
PY
  tail -1 "$WORK/rounds.txt" >&2
done

echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); profile: $PROFILE"
echo "input: $ROUNDS rounds of $EVENTS generated events (4 spool shards each), dedup window 96 h (every row inside it)"
echo
echo "| round | rows before | wall s | silver busy s | commits | manifests | snapshots | progress read µs (median) | ids held |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
tail -n +2 "$WORK/rounds.txt" | awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }'
tail -n +2 "$WORK/rounds.txt" | awk -F'|' -v n="$ROUNDS" '
  NR <= 3 { fw += $3; fb += $4 } NR > n - 3 { lw += $3; lb += $4 }
  END { printf "\nmean of the last three / first three rounds: wall %.2fx, silver busy %.2fx\n", lw / fw, lb / fb }'
peak=$(grep VmHWM "/proc/$DAEMON/status" | awk '{print $2}')
echo "daemon peak RSS: $((peak / 1024)) MiB"
