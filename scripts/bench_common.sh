# Sourced by the benchmark scripts: the venv with the readers, and the floe binary of the
# profile asked for (FLOE_BENCH_PROFILE, default given by the caller) built once.
VENV="${FLOE_VENV:-$PWD/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet -r scripts/requirements-test.txt
fi
cargo build --locked --profile "$PROFILE" --bin floe
TARGET="${CARGO_TARGET_DIR:-target}"
DIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
FLOE="$(cd "$TARGET/$DIR" && pwd)/floe"
