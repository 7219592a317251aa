#!/usr/bin/env bash
# Snowplow enriched TSV beside the JSON path, measured in one run on this machine: the same
# number of generated events in each format (web, mobile and server events; 2 % re-sends, 1 %
# malformed), each through bronze alone, silver alone and end to end, into its own table
# (`events` for JSON, `snowplow_events` for TSV). The decode figure is the sum of silver's
# decode phase (both cores) over its rounds, read from its debug log. The third row is the TSV
# again with data contracts (Iglu schemas from tests/iglu, as local directories) and one typed
# column per schema; its "decode" adds the per-schema-column phase. Prints a Markdown table.
#
#   scripts/bench_snowplow.sh [EVENTS]                     # default 500000
#   FLOE_BENCH_PROFILE=release scripts/bench_snowplow.sh 500000
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-500000}"
PROFILE="${FLOE_BENCH_PROFILE:-dev}"
source scripts/bench_common.sh
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

timed() { # out-prefix cmd... → "seconds peak_rss_mib"
  local out=$1; shift
  /usr/bin/time -f "%e %M" -o "$out.time" "$@" > "$out.out" 2> "$out.err" || { cat "$out.err" >&2; exit 1; }
  read -r secs kib < "$out.time"
  echo "$secs $((kib / 1024))"
}

echo "| format | table | records | input MB | bronze s | silver s | decode s | decode events/s | end to end s | end to end events/s | end to end MB/s | peak RSS MiB (e2e) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for variant in json snowplow-enriched-tsv snowplow-enriched-tsv+iglu; do
  fmt=${variant%+iglu}
  table=$([ "$fmt" = json ] && echo events || echo snowplow_events)
  d="$WORK/$variant"; mkdir -p "$d"
  floe=(env "FLOE_SILVER_TABLES=$table" "$FLOE" --spool "$d/spool")
  if [ "$variant" != "$fmt" ]; then
    cat > "$d/resolver.json" <<JSON
{"schema": "iglu:com.snowplowanalytics.iglu/resolver-config/jsonschema/1-0-2",
 "data": {"cacheSize": 500, "cacheTtl": 600, "repositories": [
   {"name": "local", "priority": 0, "vendorPrefixes": [], "connection": {"embedded": {"path": "$PWD/tests/iglu/local"}}},
   {"name": "static", "priority": 1, "vendorPrefixes": [], "connection": {"embedded": {"path": "$PWD/tests/iglu/static"}}}]}}
JSON
    floe=(env "FLOE_SILVER_TABLES=$table" "FLOE_SILVER_IGLU_RESOLVER=$d/resolver.json" "$FLOE" --spool "$d/spool")
  fi
  "${floe[@]}" --warehouse "$d/a" generate --format "$fmt" --events "$EVENTS" --shards 4 --json > "$d/gen.json"
  records=$("$VENV/bin/python" -c "import json;print(json.load(open('$d/gen.json'))['records'])")
  bytes=$("$VENV/bin/python" -c "import json;print(json.load(open('$d/gen.json'))['bytes'])")
  read -r bronze_s _ < <(timed "$d/bronze" "${floe[@]}" --warehouse "$d/a" run --until-idle --bronze-only)
  read -r silver_s _ < <(timed "$d/silver" env RUST_LOG=warn,floe::daemon::silver=debug \
    "${floe[@]}" --warehouse "$d/a" run --until-idle --silver-only)
  decode_ms=$(grep -oE '(decode|entities)=[0-9]*ms' "$d/silver.err" | tr -dc '0-9\n' | awk '{s+=$1} END {print s+0}')
  read -r e2e_s e2e_rss < <(timed "$d/e2e" "${floe[@]}" --warehouse "$d/b" run --until-idle)
  awk -v fmt="$variant" -v t="$table" -v n="$records" -v b="$bytes" -v bs="$bronze_s" -v ss="$silver_s" \
      -v dm="$decode_ms" -v es="$e2e_s" -v rss="$e2e_rss" 'BEGIN {
    printf "| %s | %s | %d | %.0f | %.1f | %.1f | %.2f | %.0f | %.1f | %.0f | %.1f | %d |\n",
      fmt, t, n, b / 1e6, bs, ss, dm / 1000, n / (dm / 1000), es, n / es, b / 1e6 / es, rss }'
done
echo
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); profile: $PROFILE; $(date -u +%F)"
