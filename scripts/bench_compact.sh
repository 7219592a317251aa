#!/usr/bin/env bash
# Compaction benchmark: a table loaded the way a running loader leaves it (one commit per
# 2 MiB round of bronze: many small files), then `floe compact`, with the same queries timed
# before and after it — `floe query` and DuckDB's iceberg_scan of the catalog's metadata file.
# Prints a Markdown table for BENCHMARKS.md.
#
#   scripts/bench_compact.sh [ROUNDS] [EVENTS_PER_ROUND]      # default 20 x 50000
#   FLOE_BENCH_PROFILE=dev scripts/bench_compact.sh 4 20000   # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-20}"
EVENTS="${2:-50000}"
PROFILE="${FLOE_BENCH_PROFILE:-release}"
source scripts/bench_common.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
W="$WORK/w"

for r in $(seq 1 "$ROUNDS"); do
  "$FLOE" --warehouse "$W" generate --events "$EVENTS" --shards 4 --seed "$r" > /dev/null
  FLOE_SILVER_COMMIT_INTERVAL=0s "$FLOE" --warehouse "$W" run --until-idle > /dev/null 2> "$WORK/run.err"
done

SQL="SELECT event, count(*) AS n, count(DISTINCT user_id) AS users FROM events GROUP BY event ORDER BY n DESC"
cat > "$WORK/duck.py" <<PY
import json, sqlite3, sys, time
from pathlib import Path
import duckdb, duckdb_extension_avro, duckdb_extension_iceberg
loc = sqlite3.connect("$W/catalog.db").execute(
    "SELECT metadata_location FROM iceberg_tables WHERE table_name = 'events'").fetchone()[0]
loc = loc.removeprefix("file://")
con = duckdb.connect(config={"allow_unsigned_extensions": "true", "autoinstall_known_extensions": "false"})
for module, name in ((duckdb_extension_avro, "avro"), (duckdb_extension_iceberg, "iceberg")):
    con.execute(f"LOAD '{next(Path(module.__file__).parent.rglob(name + '.duckdb_extension'))}'")
sql = """$SQL""".replace("FROM events", f"FROM iceberg_scan('{loc}')")
best = None
for _ in range(3):
    t = time.perf_counter(); con.execute(sql).fetchall(); s = time.perf_counter() - t
    best = s if best is None else min(best, s)
print(json.dumps({"seconds": best, "version": duckdb.__version__}))
PY

query_secs() { # the best of 3 runs of `floe query` (a process each: catalog, planning, scan)
  local best=""
  for _ in 1 2 3; do
    /usr/bin/time -f "%e" -o "$WORK/t" "$FLOE" --warehouse "$W" query --format csv "$SQL" > /dev/null
    s=$(cat "$WORK/t"); best=$(awk -v a="$best" -v b="$s" 'BEGIN{print (a=="" || b<a) ? b : a}')
  done
  echo "$best"
}
files() { "$FLOE" --warehouse "$W" status --json | "$VENV/bin/python" -c \
  "import json,sys; t=[x for x in json.load(sys.stdin)['tables'] if x['table']=='events'][0]; print(t['data_files'], t['rows'])"; }

read -r files_before rows_before < <(files)
manifests_before=$(ls "$W"/warehouse/floe/events/metadata/*-m*.avro | wc -l)
floe_before=$(query_secs)
duck_before=$("$VENV/bin/python" "$WORK/duck.py")
/usr/bin/time -f "%e %M" -o "$WORK/t" "$FLOE" --warehouse "$W" compact --table events --json > "$WORK/compact.json"
read -r compact_secs compact_kib < "$WORK/t"
read -r files_after rows_after < <(files)
floe_after=$(query_secs)
duck_after=$("$VENV/bin/python" "$WORK/duck.py")
"$VENV/bin/python" - "$WORK/compact.json" "$compact_secs" "$compact_kib" <<PY
import json, sys
r = json.load(open(sys.argv[1]))[0]["done"]
secs, kib = float(sys.argv[2]), int(sys.argv[3])
mib = r["bytes_read"] / 1048576
before, after = json.loads('''$duck_before'''), json.loads('''$duck_after''')
print(f"profile $PROFILE, {$ROUNDS} loads of {$EVENTS} events, one commit per 2 MiB round; $(nproc) cores")
print()
print("| | before | after |")
print("|---|---|---|")
print(f"| live data files (events) | $files_before | $files_after |")
print(f"| rows (scan plan) | $rows_before | $rows_after |")
print(f"| floe query (best of 3, s) | $floe_before | $floe_after |")
print(f"| DuckDB {before['version']} iceberg_scan (best of 3, s) | {before['seconds']:.3f} | {after['seconds']:.3f} |")
print()
print(f"compaction: {r['files_removed']} files, {mib:.1f} MiB read → {r['files_added']} files, "
      f"{r['bytes_written']/1048576:.1f} MiB, in {secs:.2f} s wall ({mib/secs:.1f} MiB/s, "
      f"{r['rows']/secs:,.0f} rows/s), peak RSS {kib//1024} MiB; manifests written before: $manifests_before")
PY
