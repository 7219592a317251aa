#!/usr/bin/env bash
# Steady load: one long-running `floe run` (spool → bronze → silver, defaults) fed RATE events a
# second for MINUTES by scripts/steady_producer.py. Reports freshness (floe_freshness_seconds:
# each commit's oldest record, arrival → committed, so an upper bound for every event in it),
# the daemon's RSS sampled every 10 s and its slope after a 2-minute warm-up, how long silver took
# to catch up after the producer stopped, and the data files of the events table (through the
# catalog, pyiceberg). Issue 13's freshness figure (20k/s for 10 minutes) and issue 16's soak
# (30 minutes) are the same script:
#
#   FLOE_BENCH_PROFILE=release scripts/bench_steady.sh 20000 10     # freshness
#   FLOE_BENCH_PROFILE=release scripts/bench_steady.sh 20000 30     # soak
#
# A third argument names a file the figures are appended to as one `torture-summary: {json}`
# line (scripts/torture.sh --soak renders it into docs/reliability.md). Any `FLOE_…` setting in
# the environment reaches the daemon: the torture suite's soak runs it with
# FLOE_SILVER_DEDUP_LOOKBACK=10m, so that 30 minutes are three dedup windows and the slope over
# the second half shows whether memory stops growing once the window is full.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE="${1:-20000}"
MINUTES="${2:-10}"
SUMMARY="${3:-}"
[ -z "$SUMMARY" ] || SUMMARY=$(realpath "$SUMMARY")
for v in "$RATE" "$MINUTES"; do
  case "$v" in '' | *[!0-9]*) echo "bench_steady.sh: RATE and MINUTES are whole numbers, not '$v'" >&2; exit 2 ;; esac
done
PROFILE="${FLOE_BENCH_PROFILE:-release}"
source scripts/bench_common.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/floe-steady.XXXXXX")
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DAEMON= PRODUCER=
cleanup() {
  [ -n "$PRODUCER" ] && kill "$PRODUCER" 2>/dev/null
  [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null
  wait 2>/dev/null
  [ -n "${FLOE_BENCH_KEEP:-}" ] && echo "kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/spool"

echo "==> a pool of $((RATE * 20)) generated events (20 s of load), rewritten per drop" >&2
"$FLOE" --warehouse "$WORK/gen" --spool "$WORK/pool" generate --events "$((RATE * 20))" --shards 2 \
  --seed 7 --duplicate-rate 0.02 --malformed-rate 0.01 --json > "$WORK/gen.json"
rm -rf "$WORK/gen"

FLOE_METRICS_PORT=$PORT FLOE_SILVER_DEDUP_SPILL_DIR="$WORK/spill" RUST_LOG=warn "$FLOE" --warehouse "$WORK/wh" --spool "$WORK/spool" \
  --log-format json run > "$WORK/daemon.out" 2> "$WORK/daemon.log" &
DAEMON=$!
until curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null; do
  kill -0 "$DAEMON" 2>/dev/null || { echo "floe run exited:"; cat "$WORK/daemon.log"; exit 1; }
  sleep 0.2
done

echo "==> $RATE events/s for $MINUTES min" >&2
"$VENV/bin/python" scripts/steady_producer.py "$WORK/pool" "$WORK/spool" "$WORK/wh/checkpoints.json" \
  "$RATE" "$((MINUTES * 60))" > "$WORK/drops.jsonl" &
PRODUCER=$!
started=$(date +%s.%N)
since() { awk -v now="$(date +%s.%N)" -v t="$1" 'BEGIN { printf "%.1f", now - t }'; }
metric() { curl -sf "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $NF} END {printf "%d", s}'; }
dedup_ids() { curl -sf "http://127.0.0.1:$PORT/metrics" | awk -v t="$1" '$1 ~ "^floe_dedup_ids{" && $1 ~ "tier=\""t"\"" {s += $NF} END {printf "%d", s}'; }
sample() {
  echo "$(since "$started") $(awk '/VmRSS/ {print $2}' "/proc/$DAEMON/status") $(metric floe_silver_records_in_total)" >> "$WORK/rss.txt"
  # the dedup state (ADR 0017): ids in memory, ids on disk, bytes of its spill directory
  echo "$(since "$started") $(dedup_ids memory) $(dedup_ids disk) $(du -sb "$WORK/spill" 2>/dev/null | cut -f1)" >> "$WORK/dedup.txt"
}
while kill -0 "$PRODUCER" 2>/dev/null; do
  sample
  kill -0 "$DAEMON" 2>/dev/null || { echo "floe run died:"; tail -20 "$WORK/daemon.log"; exit 1; }
  sleep 10
done
wait "$PRODUCER" || { echo "the producer failed" >&2; exit 1; }
PRODUCER=
produced=$("$VENV/bin/python" -c "import json,sys; print(sum(json.loads(l)['events'] for l in open('$WORK/drops.jsonl')))")
stopped=$(date +%s.%N)
echo "==> $produced events produced; waiting for silver to catch up" >&2
until [ "$(metric floe_silver_records_in_total)" -ge "$produced" ]; do
  sample
  if [ "$(since "$stopped" | cut -d. -f1)" -gt 600 ]; then echo "silver did not catch up in 10 minutes" >&2; break; fi
  sleep 2
done
caught_up=$(since "$stopped")
sleep 1
curl -sf "http://127.0.0.1:$PORT/metrics" > "$WORK/metrics.txt"
peak=$(awk '/VmHWM/ {print $2}' "/proc/$DAEMON/status")
# utime + stime of the daemon (fields 14 and 15 after the command name), in seconds
cpu=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.1f", ($12 + $13) / hz }' "/proc/$DAEMON/stat")
kill -TERM "$DAEMON"; wait "$DAEMON" || true; DAEMON=

"$VENV/bin/python" - "$WORK" "$RATE" "$MINUTES" "$PROFILE" "$produced" "$caught_up" "$peak" "$cpu" "${FLOE_SILVER_DEDUP_LOOKBACK:-24h (default)}" "$SUMMARY" <<'PY'
import json, os, platform, re, statistics, sys
work, rate, minutes, profile, produced, caught_up, peak, cpu, window, summary = sys.argv[1:11]
from pyiceberg.catalog.sql import SqlCatalog

metrics = open(f"{work}/metrics.txt").read()
buckets = []
for m in re.finditer(r'^floe_freshness_seconds_bucket\{(.*)\} (\S+)$', metrics, re.M):
    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
    if labels.get("table") == "events":
        le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
        buckets.append((le, float(m.group(2))))
buckets.sort()
commits = buckets[-1][1] if buckets else 0


def quantile(q):
    for le, n in buckets:
        if n >= q * commits:
            return "≤ %g s" % le if le != float("inf") else "> %g s" % buckets[-2][0]
    return "—"


def counter(name):
    return sum(float(v) for v in re.findall(rf'^{name}(?:\{{[^}}]*\}})? (\S+)$', metrics, re.M))


samples = [tuple(map(float, l.split())) for l in open(f"{work}/rss.txt") if len(l.split()) == 3]
warm = [(t, kib / 1024) for t, kib, _ in samples if t >= 120] or [(t, kib / 1024) for t, kib, _ in samples]
def slope_of(points):
    """Least-squares RSS slope in MiB an hour."""
    if len(points) < 2:
        return 0.0
    mt = statistics.fmean(t for t, _ in points)
    mr = statistics.fmean(r for _, r in points)
    den = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (r - mr) for t, r in points) / den * 3600 if den else 0.0


slope = slope_of(warm)
# the second half: the dedup state has long filled its budget (silver.dedup_memory) by then
late_half = warm[len(warm) // 2:]
late_slope = slope_of(late_half)
third = max(1, len(warm) // 3)
first, last = statistics.fmean(r for _, r in warm[:third]), statistics.fmean(r for _, r in warm[-third:])

c = SqlCatalog("floe", uri=f"sqlite:///{work}/wh/catalog.db", warehouse=f"file://{work}/wh")
t = c.load_table("floe.events")
sizes = sorted(t.inspect.files().column("file_size_in_bytes").to_pylist())
ids = t.scan(selected_fields=("event_id",)).to_arrow().column("event_id")
rows = len(ids)
import pyarrow.compute as pc
distinct = pc.count_distinct(ids).as_py()
mib = lambda b: b / 2**20
pct = lambda q: mib(sizes[min(len(sizes) - 1, int(q * len(sizes)))]) if sizes else 0
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
late = [json.loads(l)["late_s"] for l in open(f"{work}/drops.jsonl")]

print(f"machine: {os.cpu_count()} × {model}, {platform.system()} {platform.release()}; profile: {profile}")
print(f"load: {rate} events/s for {minutes} min ({produced} events, drops every 5 s, producer late by at most {max(late):.2f} s); dedup window {window}")
print()
print("| figure | value |")
print("|---|---|")
print(f"| commits (events table) | {commits:.0f} |")
print(f"| freshness p50 / p90 / p99 / max (per commit, oldest record) | {quantile(.5)} / {quantile(.9)} / {quantile(.99)} / {quantile(1)} |")
print(f"| silver caught up after the producer stopped | {float(caught_up):.1f} s |")
bad, drops = counter('floe_bad_rows_total'), counter('floe_dedup_drops_total')
print(f"| silver rows (scanned through the catalog; distinct event ids) / bad rows / dedup drops | {rows} ({distinct}) / {bad:.0f} / {drops:.0f} |")
print(f"| daemon CPU (user + system) / per 1M events | {float(cpu):.0f} s / {float(cpu) / int(produced) * 1e6:.1f} s |")
print(f"| RSS after warm-up: first third / last third / peak | {first:.0f} / {last:.0f} / {int(peak) / 1024:.0f} MiB |")
print(f"| RSS slope after the first 2 min (least squares, {len(warm)} samples) | {slope:+.1f} MiB/h |")
print(f"| RSS slope over the second half ({len(late_half)} samples) | {late_slope:+.1f} MiB/h |")
print(f"| data files / median / p10 / p90 / largest | {len(sizes)} / {pct(.5):.1f} / {pct(.1):.1f} / {pct(.9):.1f} / {pct(1):.1f} MiB |")
print()
print("freshness histogram (commits with the oldest record at most N s old):", ", ".join(
    f"≤{le:g}: {n:.0f}" for le, n in buckets if le != float("inf")))
dedup = [l.split() for l in open(f"{work}/dedup.txt") if len(l.split()) == 4]
if dedup:
    t_, mem_, disk_, bytes_ = dedup[-1]
    print(f"dedup state at the end: {int(mem_):,} ids in memory, {int(disk_):,} on disk, spill directory {int(bytes_) / 2**20:.0f} MiB")
    print("dedup samples (s, ids in memory / on disk):", " ".join(
        f"{float(t):.0f}:{int(m) // 1000}k/{int(d) // 1000}k" for t, m, d, _ in dedup[:: max(1, len(dedup) // 15)]))
print("RSS samples (s, MiB):", " ".join(f"{t:.0f}:{kib / 1024:.0f}" for t, kib, _ in samples[:: max(1, len(samples) // 30)]))
if summary:
    # lost: produced records that are neither a row, a bad row nor a counted drop;
    # duplicated: silver rows beyond one per event id
    accounted = rows + bad + drops
    line = {"test": f"soak: {rate} events/s for {minutes} min, dedup window {window} ({profile} build)",
            "records_in": int(produced), "silver_rows": rows, "bad_rows": int(bad), "dedup_drops": int(drops),
            "lost": max(0, int(produced) - int(accounted)), "duplicated": rows - distinct,
            "max_rss_mib": round(int(peak) / 1024), "rss_slope_mib_h": round(late_slope, 1),
            "seconds": int(minutes) * 60}
    with open(summary, "a", encoding="utf-8") as f:
        f.write("torture-summary: " + json.dumps(line) + "\n")
PY
