#!/usr/bin/env bash
# Upload benchmark: `imgcloud upload DIR` vs `rclone copy DIR` into the same embedded object
# store, on a fresh embedded cloud.
#
#   scripts/bench/upload.sh            # 200 photos of ~3 MB (3000×2000, JPEG quality 92)
#   BENCH_COUNT=50 scripts/bench/upload.sh
#
# Environment: BENCH_COUNT (200), BENCH_WIDTH (3000), BENCH_HEIGHT (2000), BENCH_QUALITY (92),
# BENCH_CONCURRENCY (4, for both tools), BENCH_DIR (photo cache, default
# ${XDG_CACHE_HOME:-$HOME/.cache}/imgcloud-bench), CARGO_TARGET_DIR.
#
# Besides wall times it prints the CPU seconds of each tool and of the embedded cloud during
# its run (wall times are noisy when other work shares the machine), the time until the cloud
# has made every derivative (after the links are out), and the decode floor: the time
# libjpeg-turbo's own `djpeg` needs just to decode every photo at 1/8 scale, one process per
# core, against which the cloud's derivative rate is compared.
#
# The generated photos are cached between runs; everything else lives in a temp dir that is
# removed at the end. Every process the script starts is stopped by its pid.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
count=${BENCH_COUNT:-200}
width=${BENCH_WIDTH:-3000}
height=${BENCH_HEIGHT:-2000}
quality=${BENCH_QUALITY:-92}
concurrency=${BENCH_CONCURRENCY:-4}
cache=${BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgcloud-bench}
photos="$cache/photos-${count}-${width}x${height}-q${quality}"

# shellcheck source=../lib/common.sh
. "$repo/scripts/lib/common.sh"
now() { date +%s.%N; }
# CPU seconds (user + system) a process has used so far, from /proc (0 where there is none).
ticks=$(getconf CLK_TCK 2>/dev/null || echo 100)
proc_cpu() { awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Runs a command and leaves its CPU seconds (user + system, children included) in $cmd_cpu.
timed() {
    local TIMEFORMAT='%U %S' out
    { out=$({ time "$@" >&3 2>&4; } 2>&1); } 3>&1 4>&2 || return
    cmd_cpu=$(awk '{ printf "%.2f", $1 + $2 }' <<<"$out")
}

# ---- tools ---------------------------------------------------------------------------------
apt_install_missing rclone libjpeg-turbo-progs

log "building release binaries"
cd "$repo"
cargo build --release --quiet -p imgcloud-server -p imgcloud-tui
cargo build --release --quiet -p imgcloud-tests --bin gen-photos
target=${CARGO_TARGET_DIR:-$repo/target}/release
server_bin="$target/imgcloud-server"
cli_bin="$target/imgcloud"
gen_bin="$target/gen-photos"

# ---- photos --------------------------------------------------------------------------------
log "generating $count photos of ${width}×${height} (cached in $photos)"
"$gen_bin" "$photos" "$count" "$width" "$height" "$quality" 1
mapfile -t files < <(find "$photos" -maxdepth 1 -name 'photo-*.jpg' | sort)
[ "${#files[@]}" -eq "$count" ] || { echo "expected $count photos in $photos, found ${#files[@]}" >&2; exit 1; }
rm -f "$photos"/*.tmp # leftovers of an interrupted generation
total_bytes=$(cat "${files[@]}" | wc -c)
input="$photos"
work="$(mktemp -d "${TMPDIR:-/tmp}/imgcloud-bench.XXXXXX")"

# ---- embedded cloud ------------------------------------------------------------------------
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

export IMGCLOUD_CONFIG_DIR="$work/config" IMGCLOUD_DATA_DIR="$work/data" IMGCLOUD_RUNTIME_DIR="$work/run"
unset IMGCLOUD_TOKEN IMGCLOUD_SERVER
log "starting an embedded cloud in $work"
RUST_LOG=${RUST_LOG:-warn} "$server_bin" --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 \
    >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
api_url=$(wait_ready_url "$server_pid" "$work/server.out") || { tail -n 40 "$work/server.log" >&2; exit 1; }
log "cloud ready at $api_url"

# ---- imgcloud upload -----------------------------------------------------------------------
log "imgcloud upload: $count files, $((total_bytes / 1000000)) MB, concurrency $concurrency"
server_before=$(proc_cpu "$server_pid")
start=$(now)
timed "$cli_bin" upload --concurrency "$concurrency" "$input" >"$work/links.txt" 2>"$work/upload.err" || {
    cat "$work/upload.err" >&2; echo "imgcloud upload failed" >&2; exit 1; }
imgcloud_secs=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
imgcloud_cpu=$cmd_cpu
imgcloud_server_cpu=$(awk -v a="$server_before" -v b="$(proc_cpu "$server_pid")" 'BEGIN { printf "%.2f", b - a }')
links=$(grep -c . "$work/links.txt" || true)
[ "$links" -eq "$count" ] || { cat "$work/upload.err" >&2; echo "expected $count links, got $links" >&2; exit 1; }
tail -n 1 "$work/upload.err" >&2

# ---- derivatives ------------------------------------------------------------------------------
# The cloud makes the thumbnails after the links are out: time from the last link until its
# background queue is empty (every image has both presets and a ThumbHash), before rclone runs so
# the two never share the CPU.
log "waiting for the cloud's derivatives of every image"
metric() { curl -fsS "$api_url/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
deriv_start=$(now)
server_before=$(proc_cpu "$server_pid")
deadline=$(( $(date +%s) + 1800 ))
while :; do
    depth=$(metric imgcloud_derivative_queue_depth)
    [ "${depth:-1}" = "0" ] && break
    [ "$(date +%s)" -lt "$deadline" ] || { echo "derivatives not ready after 30 min (queue depth $depth)" >&2; exit 1; }
    sleep 0.1
done
deriv_secs=$(awk -v a="$deriv_start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
deriv_server_cpu=$(awk -v a="$server_before" -v b="$(proc_cpu "$server_pid")" 'BEGIN { printf "%.2f", b - a }')
generated=$(curl -fsS "$api_url/metrics" | awk '$1 ~ /^imgcloud_derivatives_generated_total/ { n += $2 } END { print n + 0 }')
[ "$generated" -ge "$((2 * count))" ] || { echo "expected $((2 * count)) derivatives, the cloud made $generated" >&2; exit 1; }

# ---- rclone copy to the same object store ---------------------------------------------------
# Endpoint and bucket from a link (`{base}/{bucket}/i/{id}/{name}` on the embedded store), keys
# from the embedded cloud's settings file.
first_link=$(head -n 1 "$work/links.txt")
endpoint=$(printf '%s\n' "$first_link" | sed -E 's#^(https?://[^/]+)/.*#\1#')
bucket=$(printf '%s\n' "$first_link" | sed -E 's#^https?://[^/]+/([^/]+)/.*#\1#')
cloud_toml="$IMGCLOUD_DATA_DIR/cloud/cloud.toml"
[ -f "$cloud_toml" ] || { echo "no $cloud_toml: cannot read the store's keys" >&2; exit 1; }
toml_value() { sed -n -E "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"([^\"]*)\".*/\1/p" "$cloud_toml" | head -n 1; }
access_key=$(toml_value s3_access_key)
secret_key=$(toml_value s3_secret_key)
[ -n "$access_key" ] && [ -n "$secret_key" ] || { echo "no s3_access_key/s3_secret_key in $cloud_toml" >&2; exit 1; }

unset AWS_CA_BUNDLE
export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other RCLONE_CONFIG_BENCH_ENV_AUTH=false
export RCLONE_CONFIG_BENCH_ENDPOINT="$endpoint" RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true
export RCLONE_CONFIG_BENCH_REGION=us-east-1
export RCLONE_CONFIG_BENCH_ACCESS_KEY_ID="$access_key" RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY="$secret_key"
log "rclone copy: same files to $endpoint/$bucket/rclone-bench/"
server_before=$(proc_cpu "$server_pid")
start=$(now)
timed rclone copy --config /dev/null --transfers "$concurrency" --s3-no-check-bucket \
    "$input" "bench:$bucket/rclone-bench" 2>"$work/rclone.err" || {
    cat "$work/rclone.err" >&2; echo "rclone copy failed" >&2; exit 1; }
rclone_secs=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
rclone_cpu=$cmd_cpu
rclone_server_cpu=$(awk -v a="$server_before" -v b="$(proc_cpu "$server_pid")" 'BEGIN { printf "%.2f", b - a }')
copied=$(find "$IMGCLOUD_DATA_DIR/cloud/objects/$bucket/rclone-bench" -type f 2>/dev/null | wc -l)
[ "$copied" -eq "$count" ] || { echo "rclone stored $copied of $count files" >&2; exit 1; }

# ---- decode floor ----------------------------------------------------------------------------
log "decode floor: djpeg -scale 1/8 of every photo, $(nproc) at a time"
floor_secs=$(jpeg_decode_floor "$input")

# ---- results -------------------------------------------------------------------------------
awk -v n="$count" -v bytes="$total_bytes" -v ic="$imgcloud_secs" -v rc="$rclone_secs" -v c="$concurrency" \
    -v fl="$floor_secs" -v cores="$(nproc)" -v icc="$imgcloud_cpu" -v ics="$imgcloud_server_cpu" -v rcc="$rclone_cpu" -v rcs="$rclone_server_cpu" \
    -v ds="$deriv_secs" -v dcpu="$deriv_server_cpu" -v gen="$generated" 'BEGIN {
    mb = bytes / 1e6
    printf "images:            %d\n", n
    printf "total MB:          %.1f\n", mb
    printf "concurrency:       %d\n", c
    printf "imgcloud seconds:  %.2f  (%.1f MB/s, %.1f images/s) to every link\n", ic, mb / ic, n / ic
    printf "rclone seconds:    %.2f  (%.1f MB/s)\n", rc, mb / rc
    printf "ratio imgcloud/rclone: %.2f\n", ic / rc
    printf "derivatives ready: %.2f s after the last link, %.2f s after the start (%d made by the cloud, server CPU %.2f s)\n", ds, ic + ds, gen, dcpu
    # No thumbnailer can be faster than decoding its inputs once.
    printf "decode floor:      %.2f s  (djpeg -scale 1/8 of every photo on %d cores; floor/rclone %.2f)\n", fl, cores, fl / rc
    printf "derivative rate:   %.1f images/s (both presets) vs decode floor %.1f images/s: %.2f of the floor\n", n / ds, n / fl, (n / ds) / (n / fl)
    # CPU seconds (user + system): steadier than wall time on a busy machine.
    printf "imgcloud CPU s:    client %.2f, server %.2f\n", icc, ics
    printf "rclone CPU s:      client %.2f, server %.2f\n", rcc, rcs
}'
