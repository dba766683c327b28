#!/usr/bin/env bash
# Share-page benchmark on the production stack (scripts/stack.sh: PostgreSQL, memcached, the S3
# store, two replicas behind nginx): GET /s/{token} through the load balancer, opened as a
# browser would (no token, a browser's user agent, so every request is a counted view: a write),
# for a link to one image and for a link to an album of 24; then the time from revoking a link
# to its page answering 410.
#
#   scripts/bench/share.sh
#   BENCH_DURATION=20 scripts/bench/share.sh
#
# Environment: BENCH_SEED (images, 30), BENCH_CONNECTIONS (closed-loop connections, 8),
# BENCH_DURATION (seconds per run, 10), BENCH_WARMUP (seconds, 3), BENCH_RATE (requests/s of the
# fixed-rate runs; default half of what the closed loop reached), BENCH_RATE_CONNECTIONS (16),
# BENCH_REVOCATIONS (20), CARGO_TARGET_DIR.
#
# Prints each run's line (requests/s, p50/p90/p99/max), a table, and the revoke-to-410 figures;
# the issue's bound is 410 within 5 s of a revocation. The stack lives in a temp dir and is
# brought down at the end.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
seed_count=${BENCH_SEED:-30}
connections=${BENCH_CONNECTIONS:-8}
duration=${BENCH_DURATION:-10}
warmup=${BENCH_WARMUP:-3}
rate_connections=${BENCH_RATE_CONNECTIONS:-16}
revocations=${BENCH_REVOCATIONS:-20}

log() { printf '==> %s\n' "$*" >&2; }

log "building release binaries"
cd "$repo"
cargo build --release --quiet -p imgcloud-server -p imgcloud-tests --bin imgcloud-server --bin bench-api
target=${CARGO_TARGET_DIR:-$repo/target}/release
bench="$target/bench-api"

work="$(mktemp -d "${TMPDIR:-/tmp}/imgcloud-bench-share.XXXXXX")"
stack_up=""
cleanup() {
    if [ -n "$stack_up" ]; then
        IMGCLOUD_STACK_DIR="$work/stack" "$repo/scripts/stack.sh" down >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

log "starting the stack in $work/stack"
export IMGCLOUD_STACK_DIR="$work/stack" IMGCLOUD_BIN_DIR="$target"
stack_up=1
"$repo/scripts/stack.sh" up >"$work/stack.env" 2>"$work/stack.err" || {
    cat "$work/stack.err" >&2; echo "stack.sh up failed" >&2; exit 1; }
# Only the NAME=value lines (a token is among them: never echo this file).
set -a
# shellcheck disable=SC1091
source <(grep -E '^(export )?[A-Z_][A-Z0-9_]*=' "$work/stack.env")
set +a
[ -n "${IMGCLOUD_SERVER:-}" ] && [ -n "${IMGCLOUD_STACK_REPLICAS:-}" ] || {
    echo "stack.sh up printed no IMGCLOUD_SERVER / IMGCLOUD_STACK_REPLICAS" >&2; exit 1; }
log "load balancer $IMGCLOUD_SERVER, replicas $IMGCLOUD_STACK_REPLICAS"

log "seeding $seed_count images"
"$bench" seed "$seed_count" >&2

results="$work/results.txt"
: >"$results"
field() { # LINE KEY
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}
for route in share album; do
    log "$route page: closed loop, $connections connections, ${duration}s"
    line=$("$bench" run "$route" --connections "$connections" --duration "$duration" --warmup "$warmup")
    printf '%s\n' "$line" | tee -a "$results" >&2
    rate=${BENCH_RATE:-$(awk -v r="$(field "$line" rps)" 'BEGIN { v = int(r / 2 / 10) * 10; if (v < 10) v = 10; print v }')}
    log "$route page: fixed rate $rate/s, $rate_connections connections, ${duration}s"
    line=$("$bench" run "$route" --connections "$rate_connections" --rate "$rate" --duration "$duration" --warmup "$warmup")
    printf '%s\n' "$line" | tee -a "$results" >&2
done
log "revoking $revocations links, timing each until its page answers 410"
revoked=$("$bench" revoke "$revocations")
printf '%s\n' "$revoked" >&2

echo
printf '%-6s %-14s %6s %8s %8s %8s %8s %8s\n' page mode conns req/s p50_ms p99_ms max_ms errors
while read -r line; do
    printf '%-6s %-14s %6s %8s %8s %8s %8s %8s\n' \
        "$(field "$line" route)" "$(field "$line" mode)" "$(field "$line" connections)" \
        "$(field "$line" rps)" "$(field "$line" p50_ms)" "$(field "$line" p99_ms)" \
        "$(field "$line" max_ms)" "$(field "$line" errors)"
done <"$results"
echo
awk -v p50="$(field "$revoked" revoke_to_410_p50_ms)" -v p99="$(field "$revoked" revoke_to_410_p99_ms)" \
    -v max="$(field "$revoked" revoke_to_410_max_ms)" -v n="$revocations" 'BEGIN {
    printf "revoke to 410 over %d links: p50 %.1f ms, p99 %.1f ms, max %.1f ms (bound 5000 ms: %s)\n",
        n, p50, p99, max, (max <= 5000) ? "met" : "MISSED"
    exit !(max <= 5000)
}'
