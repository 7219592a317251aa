#!/usr/bin/env bash
# The torture suite (issue 16), harder than the default test run: the crash loop at ITERATIONS
# kills (default 50) and once more with every request through the fault proxies (14 kills,
# FLOE_TORTURE_FAULT_ITERATIONS), the fault run at every AWS service, the split-brain runs, the
# bad-input matrix, and the property
# tests at 2000 cases each — against the same stand-ins scripts/test.sh starts. Prints a summary
# table and writes it into docs/reliability.md (between the torture markers) with the command,
# the date and the machine.
#
# With --soak MINUTES it then runs the soak as well (scripts/bench_steady.sh, release build):
# 20k events/s for MINUTES with a 10-minute dedup window (FLOE_TORTURE_SOAK_WINDOW), so that the
# run outlasts the window and the RSS slope over its second half says whether memory stops
# growing; its row (max RSS, slope) joins the table.
#
# usage: scripts/torture.sh [ITERATIONS] [--soak MINUTES]
set -euo pipefail
cd "$(dirname "$0")/.."
ITERATIONS=50 SOAK=
while [ $# -gt 0 ]; do
  case "$1" in
    --soak) SOAK=${2:-}; shift 2 || { echo "torture.sh: --soak needs MINUTES" >&2; exit 2; } ;;
    *) ITERATIONS=$1; shift ;;
  esac
done
case "$ITERATIONS" in '' | *[!0-9]*) echo "torture.sh: ITERATIONS must be a whole number, not '$ITERATIONS'" >&2; exit 2 ;; esac
case "$SOAK" in *[!0-9]*) echo "torture.sh: --soak MINUTES must be a whole number, not '$SOAK'" >&2; exit 2 ;; esac
LOG=$(mktemp /tmp/floe-torture.XXXXXX)
started=$(date -u +%Y-%m-%dT%H:%MZ)
trap 'echo "torture.sh: the whole output is in $LOG"' EXIT

echo "==> property tests, 2000 cases each"
PROPTEST_CASES=2000 cargo test --locked --lib properties 2>&1 | tee -a "$LOG" | grep -E "^test |test result"
echo "==> crash loop ($ITERATIONS iterations; under faults: ${FLOE_TORTURE_FAULT_ITERATIONS:-14}), faults at every service, split brain, bad input"
FLOE_TORTURE_ITERATIONS=$ITERATIONS bash scripts/test.sh --test it -- \
  torture:: faults:: split_brain:: bad_input:: --include-ignored --nocapture --test-threads 1 2>&1 | tee -a "$LOG" | grep -E "^test |test result|torture-summary"

if [ -n "$SOAK" ]; then
  echo "==> soak: 20000 events/s for $SOAK min, dedup window ${FLOE_TORTURE_SOAK_WINDOW:-10m} (release build)"
  FLOE_SILVER_DEDUP_LOOKBACK=${FLOE_TORTURE_SOAK_WINDOW:-10m} FLOE_BENCH_PROFILE=release \
    bash scripts/bench_steady.sh 20000 "$SOAK" "$LOG" 2>&1 | tee -a "$LOG.soak" | grep -E "^\| |^load|RSS samples"
fi

python3 scripts/torture_table.py "$LOG" "$ITERATIONS" "$started" "$SOAK"
