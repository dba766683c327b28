#!/usr/bin/env bash
# Derivative latency through the CDN, on the production stack (scripts/stack.sh: nginx as load
# balancer and CDN, two replicas, PostgreSQL, memcached, the S3 store):
#   cold: the derivative was never made (the replicas run without their background queue), so
#         the CDN misses in the store and falls back to a replica, which fetches the original,
#         makes the derivative, stores it and answers;
#   warm: the same URL again, a CDN cache HIT.
# p50/p99 over every photo, for the thumbnail (320 px) and the preview (1280 px).
#
#   scripts/bench/derivatives.sh                  # 60 photos of ~3 MB (3000×2000, quality 92)
#   BENCH_COUNT=100 scripts/bench/derivatives.sh
#
# Environment: BENCH_COUNT (60), BENCH_WIDTH (3000), BENCH_HEIGHT (2000), BENCH_QUALITY (92),
# BENCH_DIR (photo cache), CARGO_TARGET_DIR. Everything else lives in a temp dir removed at the
# end; the stack is taken down by its own script (every process stopped by pid).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
count=${BENCH_COUNT:-60}
width=${BENCH_WIDTH:-3000}
height=${BENCH_HEIGHT:-2000}
quality=${BENCH_QUALITY:-92}
cache=${BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgcloud-bench}
photos="$cache/photos-${count}-${width}x${height}-q${quality}"

# shellcheck source=../lib/common.sh
. "$repo/scripts/lib/common.sh"

log "building release binaries"
cd "$repo"
cargo build --release --quiet -p imgcloud-server -p imgcloud-tui
cargo build --release --quiet -p imgcloud-tests --bin gen-photos
target=${CARGO_TARGET_DIR:-$repo/target}/release

log "generating $count photos of ${width}×${height} (cached in $photos)"
"$target/gen-photos" "$photos" "$count" "$width" "$height" "$quality" 1
rm -f "$photos"/*.tmp
mb=$(find "$photos" -maxdepth 1 -name 'photo-*.jpg' -printf '%s\n' | awk '{ s += $1 } END { printf "%.2f", s / NR / 1e6 }')

work=$(mktemp -d "${TMPDIR:-/tmp}/imgcloud-bench-derivatives.XXXXXX")
export IMGCLOUD_STACK_DIR="$work/stack" IMGCLOUD_BIN_DIR="$target"
cleanup() {
    "$repo/scripts/stack.sh" down >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

log "starting the stack without background derivative jobs (every derivative stays cold)"
IMGCLOUD_DERIVATIVE_JOBS=false "$repo/scripts/stack.sh" up >"$work/up.log" 2>&1 || {
    cat "$work/up.log" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. "$IMGCLOUD_STACK_DIR/stack.env"
set +a
export IMGCLOUD_CONFIG_DIR="$work/config" IMGCLOUD_DATA_DIR="$work/data"

log "uploading $count photos through the load balancer"
"$target/imgcloud" upload "$photos" >"$work/links.txt" 2>"$work/upload.err" || {
    cat "$work/upload.err" >&2; exit 1; }
[ "$(grep -c . "$work/links.txt")" -eq "$count" ] || { cat "$work/upload.err" >&2; echo "expected $count links" >&2; exit 1; }

# One request: "status cache-status seconds".
probe() {
    curl -s -o /dev/null -w '%{http_code} %header{x-cache-status} %{time_total}\n' "$1"
}
# p50 and p99 (nearest rank) of the seconds in file $1, in milliseconds.
percentiles() {
    sort -n "$1" | awk '{ v[NR] = $1 * 1000 } END {
        p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
        printf "p50 %6.1f ms   p99 %6.1f ms   (n = %d)", p50, p99, NR }'
}

results=()
for preset in 320 1280; do
    : >"$work/cold-$preset" ; : >"$work/warm-$preset"
    log "preset $preset: one cold then one warm request per photo"
    while read -r link; do
        url=$(printf '%s\n' "$link" | sed -E "s#/i/([^/]+)/.*#/t/\\1/$preset.jpg#")
        read -r status cache_status secs < <(probe "$url")
        [ "$status" = 200 ] || { echo "cold $url answered $status" >&2; exit 1; }
        [ "$cache_status" != HIT ] || { echo "cold $url was already a HIT" >&2; exit 1; }
        echo "$secs" >>"$work/cold-$preset"
        read -r status cache_status secs < <(probe "$url")
        [ "$status" = 200 ] && [ "$cache_status" = HIT ] || { echo "warm $url answered $status $cache_status" >&2; exit 1; }
        echo "$secs" >>"$work/warm-$preset"
    done <"$work/links.txt"
    results+=("preset $preset px, originals of ${mb} MB: cold $(percentiles "$work/cold-$preset")")
    results+=("                                  warm $(percentiles "$work/warm-$preset") (CDN HIT)")
done
made=$(for r in ${IMGCLOUD_STACK_REPLICAS//,/ }; do curl -fsS "$r/metrics"; done |
    awk '$1 ~ /^imgcloud_derivatives_generated_total/ { n += $2 } END { print n + 0 }')
[ "$made" -eq $((2 * count)) ] || { echo "expected $((2 * count)) renders, the replicas made $made" >&2; exit 1; }

printf '%s\n' "${results[@]}"
echo "renders on the replicas: $made (one per cold request); goal: cold p99 ≤ 150 ms, warm p99 ≤ 5 ms"
