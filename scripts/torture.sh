#!/usr/bin/env bash
# The torture suite (issue 16), harder than the default test run: the crash loop at ITERATIONS
# kills (default 50), the fault run at every AWS service, the bad-input matrix, and the property
# tests at 2000 cases each — against the same stand-ins scripts/test.sh starts. Prints a summary
# table and writes it into docs/reliability.md (between the torture markers) with the command,
# the date and the machine.
#
# usage: scripts/torture.sh [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
ITERATIONS=${1:-50}
case "$ITERATIONS" in '' | *[!0-9]*) echo "torture.sh: ITERATIONS must be a whole number, not '$ITERATIONS'" >&2; exit 2 ;; esac
LOG=$(mktemp /tmp/floe-torture.XXXXXX)
started=$(date -u +%Y-%m-%dT%H:%MZ)
trap 'echo "torture.sh: the whole output is in $LOG"' EXIT

echo "==> property tests, 2000 cases each"
PROPTEST_CASES=2000 cargo test --locked --lib properties 2>&1 | tee -a "$LOG" | grep -E "^test |test result"
echo "==> crash loop ($ITERATIONS iterations), faults at every service, bad input"
FLOE_TORTURE_ITERATIONS=$ITERATIONS bash scripts/test.sh --test it -- \
  torture:: faults:: split_brain:: bad_input:: --nocapture --test-threads 1 2>&1 | tee -a "$LOG" | grep -E "^test |test result|torture-summary"

python3 scripts/torture_table.py "$LOG" "$ITERATIONS" "$started"
