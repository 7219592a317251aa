#!/usr/bin/env bash
# Benchmarks on generated events, all measured in one run on this machine:
#   spool → bronze, bronze → silver, end to end (floe), and DuckDB read_json → Parquet (zstd)
#   on the same NDJSON as the reference. Prints a Markdown table for BENCHMARKS.md.
#
#   scripts/bench.sh [EVENTS]            # default 1000000
#   FLOE_BENCH_PROFILE=release scripts/bench.sh 1000000
#
# The profile defaults to `dev` (dependencies optimised, floe itself not; see Cargo.toml), the
# build the README demo uses. Peak RSS comes from GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-1000000}"
PROFILE="${FLOE_BENCH_PROFILE:-dev}"
source scripts/bench_common.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

measure() { # name records cmd... → "name|records|seconds|peak_rss_mib"
  local name=$1 records=$2; shift 2
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || {
    cat "$WORK/$name.err" >&2; exit 1; }
  read -r secs kib < "$WORK/time.txt"
  echo "$name|$records|$secs|$((kib / 1024))"
}

"$FLOE" --warehouse "$WORK/a" --spool "$WORK/spool" generate --events "$EVENTS" --shards 4 --json > "$WORK/gen.json"
RECORDS=$("$VENV/bin/python" -c "import json;print(json.load(open('$WORK/gen.json'))['records'])")
BYTES=$("$VENV/bin/python" -c "import json;print(json.load(open('$WORK/gen.json'))['bytes'])")

rows=()
rows+=("$(measure bronze "$RECORDS" "$FLOE" --warehouse "$WORK/a" --spool "$WORK/spool" run --until-idle --bronze-only)")
rows+=("$(measure silver "$RECORDS" "$FLOE" --warehouse "$WORK/a" --spool "$WORK/spool" run --until-idle --silver-only)")
rows+=("$(measure end_to_end "$RECORDS" "$FLOE" --warehouse "$WORK/b" --spool "$WORK/spool" run --until-idle)")
# The reference: DuckDB 2.0 (its own venv, FLOE_DUCKDB_VENV; the tests pin 1.5.5 for its iceberg
# extension) reading the same NDJSON with explicit columns and writing Parquet (zstd), 2 threads.
DUCK_VENV="${FLOE_DUCKDB_VENV:-$PWD/.venv-duckdb}"
if [ ! -x "$DUCK_VENV/bin/python" ]; then
  python3 -m venv "$DUCK_VENV"
  "$DUCK_VENV/bin/pip" install --quiet duckdb==2.0.0
fi
cat > "$WORK/duck.py" <<PY
import duckdb
con = duckdb.connect()
con.execute("SET threads TO 2")
cols = {c: "VARCHAR" for c in ["event_id", "event", "platform", "app_id", "user_id", "domain_userid",
        "domain_sessionid", "page_url", "page_title", "page_referrer", "useragent", "br_lang", "geo_country", "tenant"]}
cols.update({"collector_tstamp": "TIMESTAMPTZ", "dvce_created_tstamp": "TIMESTAMPTZ", "contexts": "JSON", "unstruct_event": "JSON"})
spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in cols.items()) + "}"
con.execute(f"""COPY (SELECT * FROM read_json('$WORK/spool/*.ndjson', format='newline_delimited', columns={spec},
    ignore_errors=true, maximum_object_size=16777216))
    TO '$WORK/duck.parquet' (FORMAT parquet, COMPRESSION zstd)""")
print(duckdb.__version__)
PY
rows+=("$(measure duckdb_read_json_to_parquet "$RECORDS" "$DUCK_VENV/bin/python" "$WORK/duck.py")")
DUCK_VERSION=$(cat "$WORK/duckdb_read_json_to_parquet.out")

duck_secs=$(printf '%s\n' "${rows[@]}" | awk -F'|' '$1=="duckdb_read_json_to_parquet"{print $3}')
echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); profile: $PROFILE"
echo "input: $RECORDS records, $((BYTES / 1000000)) MB NDJSON, 4 shards; reference: DuckDB $DUCK_VERSION"
echo
echo "| stage | records | seconds | events/s | peak RSS (MiB) | speed vs DuckDB |"
echo "|---|---:|---:|---:|---:|---:|"
for r in "${rows[@]}"; do
  IFS='|' read -r name n secs rss <<<"$r"
  awk -v name="$name" -v n="$n" -v s="$secs" -v rss="$rss" -v d="$duck_secs" \
    'BEGIN { printf "| %s | %d | %.1f | %.0f | %d | %.2fx |\n", name, n, s, n / s, rss, d / s }'
done
