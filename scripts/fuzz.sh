#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ (cargo-fuzz + libFuzzer, on the stable toolchain with no
# sanitizer) for a bounded time, starting from its corpus in fuzz/corpus/TARGET.
#
#   scripts/fuzz.sh                 20 s per target (what scripts/test.sh runs)
#   scripts/fuzz.sh 600             10 minutes per target
#   scripts/fuzz.sh 600 probe exif  only those targets
#   FUZZ_KEEP=1 scripts/fuzz.sh 600 also merge the inputs that found new coverage into
#                                   fuzz/corpus/ (commit them)
#
# A crash, a panic, a failed assertion, a hang (-timeout) or a runaway allocation
# (-rss_limit_mb) stops the run: the input is saved as fuzz/artifacts/TARGET/crash-… and the
# script exits non-zero. Replay it with `cargo fuzz run -s none -a TARGET FILE` in fuzz/.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root/fuzz"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/imgcloud/target}

seconds=${1:-20}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(probe exif link_template picgo_request config)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz" >&2
  for attempt in 1 2 3; do
    cargo install cargo-fuzz --version 0.13.2 --locked && break
    sleep 3
  done
fi

# --sanitizer none: AddressSanitizer needs a nightly compiler, and the code under test forbids
# `unsafe`; libFuzzer still sees coverage, panics, hangs and memory blow-ups.
flags=(--sanitizer none --debug-assertions)
cargo fuzz build "${flags[@]}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for target in "${targets[@]}"; do
  mkdir -p "$work/$target" "artifacts/$target"
  log="$work/$target.log"
  # New inputs go to the scratch dir; the committed corpus is only read.
  if ! cargo fuzz run "${flags[@]}" "$target" "$work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="artifacts/$target/" -print_final_stats=1 >"$log" 2>&1; then
    tail -40 "$log" >&2
    echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -1 || true)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2 || true)
  seeds=$(find "corpus/$target" -type f | wc -l)
  found=$(find "$work/$target" -type f | wc -l)
  echo "fuzz: $target: ${runs:-0} runs in ${seconds} s, coverage ${cov:-?} edges, corpus $seeds (+$found new), 0 crashes"
  if [ -n "${FUZZ_KEEP:-}" ] && [ "$found" -gt 0 ]; then
    cargo fuzz run "${flags[@]}" "$target" "corpus/$target" "$work/$target" -- \
      -merge=1 >/dev/null 2>&1
  fi
done
