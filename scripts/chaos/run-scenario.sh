#!/usr/bin/env bash
# Runs chaos test(s) of the imgcloud-tests crate and prints their figure lines:
#
#   scripts/chaos/run-scenario.sh TEST_TARGET [TEST_TARGET…]
#
# Used by the r*.sh scripts. IMGCLOUD_CHAOS=full (their default) runs the full sizes;
# IMGCLOUD_CHAOS=short the ones scripts/test.sh runs. The binaries come from CARGO_TARGET_DIR's
# debug build (built here first). Exits non-zero when a scenario lost, duplicated or corrupted
# anything (its test fails) — the figure line is printed either way.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/imgcloud/target}
export IMGCLOUD_BIN_DIR=${IMGCLOUD_BIN_DIR:-$CARGO_TARGET_DIR/debug}
export IMGCLOUD_CHAOS=${IMGCLOUD_CHAOS:-full}

cargo build --locked --bins -q
args=()
for target in "$@"; do
  args+=(--test "$target")
done
log=$(mktemp)
trap 'rm -rf "$log"' EXIT
status=0
cargo test --locked -q --no-fail-fast -p imgcloud-tests "${args[@]}" -- --include-ignored --nocapture --test-threads=1 \
  >"$log" 2>&1 || status=$?
# libtest's progress dots can precede a line: match the figures anywhere.
grep -oE '(test result: .*|r[0-9]-[a-z0-9-]+: .*)' "$log" || true
if [ "$status" -ne 0 ]; then
  grep -E -A30 'panicked at' "$log" | head -80 >&2 || true
  echo "chaos: $* FAILED (exit $status)" >&2
fi
exit "$status"
