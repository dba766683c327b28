#!/usr/bin/env bash
# Sync daemon benchmarks (issue "Sync daemon"), all on fresh embedded clouds hosted by imgcloudd:
#   (a) change-to-link latency: 50 photos (~3 MB) copied one at a time into a watched folder;
#       p50/p99 from close() to the daemon's "uploaded" event (targets 300 ms / 1 s);
#   (b) restart with 100,000 already-synced files: start → idle (target ≤ 1 s);
#   (c) idle: CPU over 60 s (target ≈ 0) and RSS with those 100,000 files tracked (≤ 60 MB);
#   (d) first sync of 1,000 generated JPEGs by the daemon (every link and every backup copy) vs
#       `rclone copy` of the same folder to the same object store plus `cp -a` of it to a
#       backup folder, in the same run: the times and the ratio (target ≤ 1.0) per run and their
#       median over BENCH_SYNC_RUNS runs; then the time the daemon's cloud needs to make every
#       derivative, and the decode floor (libjpeg-turbo's `djpeg` decoding every photo at 1/8
#       scale, one process per core).
#
#   scripts/bench/daemon.sh                 # everything
#   BENCH_PARTS="a d" scripts/bench/daemon.sh
#
# Environment: BENCH_PARTS ("a b c d"; c needs b), BENCH_LATENCY_COUNT (50), BENCH_SEED_FILES
# (100000), BENCH_IDLE_SECS (60), BENCH_SYNC_COUNT (1000), BENCH_SYNC_WIDTH/HEIGHT/QUALITY
# (2000×1500 q90, ≈1.2 MB), BENCH_SYNC_RUNS (3), BENCH_SYNC_CONCURRENCY (the daemon's
# default), BENCH_DIR (photo cache; the work folder goes beside it), CARGO_TARGET_DIR.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
parts=${BENCH_PARTS:-a b c d}
cache=${BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgcloud-bench}
# shellcheck source=../lib/common.sh
. "$repo/scripts/lib/common.sh"
now() { date +%s.%N; }
secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
want() { [[ " $parts " == *" $1 "* ]]; }

! want d || apt_install_missing rclone libjpeg-turbo-progs

log "building release binaries"
cd "$repo"
cargo build --release --quiet -p imgcloud-daemon -p imgcloud-tui
cargo build --release --quiet -p imgcloud-tests --bin gen-photos --bin bench-daemon
target=${CARGO_TARGET_DIR:-$repo/target}/release
daemon_bin="$target/imgcloudd"
bench_bin="$target/bench-daemon"
gen_bin="$target/gen-photos"

# The work folder sits beside the photo cache: (d) hard-links the photos into the watched
# folder, which needs one filesystem (a tmpfs /tmp would refuse), and every peer's copies land
# in it too, so all of them write to the same disk.
mkdir -p "$cache"
work="$(mktemp -d "$cache/work.XXXXXX")"
daemon_pid=""
stop_daemon() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    daemon_pid=""
}
cleanup() { stop_daemon; rm -rf "$work"; }
trap cleanup EXIT

# Fresh directories for one daemon instance named $1.
use_instance() {
    export IMGCLOUD_CONFIG_DIR="$work/$1/config" IMGCLOUD_DATA_DIR="$work/$1/data" IMGCLOUD_RUNTIME_DIR="$work/$1/run"
    mkdir -p "$IMGCLOUD_CONFIG_DIR" "$IMGCLOUD_DATA_DIR" "$IMGCLOUD_RUNTIME_DIR" "$work/$1/watched"
}
# Starts imgcloudd watching $1 (S3 store on port $2, default any); waits until its socket answers.
start_daemon() {
    RUST_LOG=${RUST_LOG:-warn} "$daemon_bin" watch "$1" --listen 127.0.0.1:0 --s3-listen "127.0.0.1:${2:-0}" --no-picgo \
        >"$IMGCLOUD_DATA_DIR/daemon.out" 2>>"$IMGCLOUD_DATA_DIR/daemon.log" &
    daemon_pid=$!
    for _ in $(seq 1 600); do
        [ -S "$IMGCLOUD_RUNTIME_DIR/imgcloudd.sock" ] && "$target/imgcloud" status --json >/dev/null 2>&1 && return 0
        kill -0 "$daemon_pid" 2>/dev/null || { cat "$IMGCLOUD_DATA_DIR/daemon.log" >&2; echo "imgcloudd exited" >&2; exit 1; }
        sleep 0.05
    done
    echo "imgcloudd did not answer" >&2; exit 1
}
unset IMGCLOUD_TOKEN IMGCLOUD_SERVER
results=()

# ---- (a) latency ----------------------------------------------------------------------------
if want a; then
    n=${BENCH_LATENCY_COUNT:-50}
    photos="$cache/photos-$n-3000x2000-q92"
    log "(a) generating $n photos of ~3 MB (cached in $photos)"
    "$gen_bin" "$photos" "$n" 3000 2000 92 1
    use_instance a
    start_daemon "$work/a/watched"
    log "(a) copying $n photos one at a time into the watched folder"
    out=$("$bench_bin" latency "$work/a/watched" "$photos" "$n")
    results+=("(a) change-to-link latency over $n photos of ~3 MB:")
    results+=("    p50 $(sed -n 's/^latency_p50_ms //p' <<<"$out") ms (target ≤ 300), p99 $(sed -n 's/^latency_p99_ms //p' <<<"$out") ms (target ≤ 1000), max $(sed -n 's/^latency_max_ms //p' <<<"$out") ms")
    stop_daemon
fi

# ---- (b) restart with many synced files, (c) idle --------------------------------------------
if want b; then
    files=${BENCH_SEED_FILES:-100000}
    use_instance b
    log "(b) seeding $files synced files"
    "$bench_bin" seed "$work/b/watched" "$files" "$IMGCLOUD_DATA_DIR/daemon/queue.db" >&2
    # Flush the page cache's dirty pages so the start does not pay for the seeding's writes.
    sync
    log "(b) starting the daemon over them"
    start=$(now)
    start_daemon "$work/b/watched"
    # From the start to the end of the daemon's start scan (it reports when), not to when this
    # script's polling noticed.
    idle_at=$("$bench_bin" wait-idle | sed -n 's/^idle_at //p')
    idle_secs=$(awk -v a="$start" -v b="$idle_at" 'BEGIN { printf "%.2f", b - a }')
    results+=("(b) restart with $files already-synced files: idle after ${idle_secs} s (target ≤ 1)")
    if want c; then
        secs=${BENCH_IDLE_SECS:-60}
        hz=$(getconf CLK_TCK)
        ticks() { awk '{ print $14 + $15 }' "/proc/$daemon_pid/stat"; }
        log "(c) measuring idle CPU for $secs s"
        t0=$(ticks); sleep "$secs"; t1=$(ticks)
        rss_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$daemon_pid/status")
        cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$secs" 'BEGIN { printf "%.2f", (b - a) / hz / s * 100 }')
        results+=("(c) idle over ${secs} s: CPU ${cpu} % of one core (target ≈ 0); RSS $((rss_kb / 1024)) MB with $files files tracked (target ≤ 60)")
    fi
    stop_daemon
fi

# ---- (d) first sync vs rclone -----------------------------------------------------------------
# Each run is a fresh instance; odd runs time the daemon first, even runs the peers first, and
# nothing is deleted until the script ends: a burst of deletes slows the next file creations on
# some filesystems (ext4 without a journal skips recently freed inodes), and whichever side ran
# right after it would pay for it. The median ratio over the runs is the figure.
d_daemon_sync() { # → d_up d_backup d_cpu d_jobs_during d_deriv
    local t0 out api deadline start
    log "(d) run $run: putting $n photos into the watched folder (hard links: no copy cost in the timing)"
    t0=$(daemon_ticks)
    cp -al "$photos" "$work/d$run/watched/photos"
    out=$("$bench_bin" wait-done "$n")
    d_cpu=$(awk -v a="$t0" -v b="$(daemon_ticks)" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
    d_up=$(sed -n 's/^uploaded //p' <<<"$out")
    d_backup=$(sed -n 's/^backed_up //p' <<<"$out")
    # The daemon's cloud makes the derivatives after the links: let it finish, so it does not
    # share the CPU with the peers.
    api=$(sed -n -E 's/^[[:space:]]*server[[:space:]]*=[[:space:]]*"([^"]*)".*/\1/p' "$IMGCLOUD_CONFIG_DIR/config.toml" | head -n 1)
    [ -n "$api" ] || { echo "no server in $IMGCLOUD_CONFIG_DIR/config.toml" >&2; exit 1; }
    d_jobs_during=$(curl -fsS "$api/metrics" | awk '$1 == "imgcloud_derivative_jobs_total{result=\"done\"}" { print $2 }')
    start=$(now)
    deadline=$(( $(date +%s) + 1800 ))
    until [ "$(curl -fsS "$api/metrics" | awk '$1 == "imgcloud_derivative_queue_depth" { print $2 }')" = "0" ]; do
        [ "$(date +%s)" -lt "$deadline" ] || { echo "derivatives not ready after 30 min" >&2; exit 1; }
        sleep 0.1
    done
    d_deriv=$(secs_since "$start")
}
d_peers() { # → p_rclone p_rclone_cpu p_store_cpu p_cp
    local cloud_toml s3 bucket=imgcloud t0 start copied
    # rclone to the daemon's own store (the daemon idles meanwhile): its endpoint and keys.
    cloud_toml="$IMGCLOUD_DATA_DIR/cloud/cloud.toml"
    toml_value() { sed -n -E "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*\"([^\"]*)\".*/\1/p" "$cloud_toml" | head -n 1; }
    s3="http://127.0.0.1:$s3_port"
    export RCLONE_CONFIG_BENCH_TYPE=s3 RCLONE_CONFIG_BENCH_PROVIDER=Other RCLONE_CONFIG_BENCH_ENV_AUTH=false
    export RCLONE_CONFIG_BENCH_ENDPOINT="$s3" RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE=true RCLONE_CONFIG_BENCH_REGION=us-east-1
    export RCLONE_CONFIG_BENCH_ACCESS_KEY_ID="$(toml_value s3_access_key)" RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY="$(toml_value s3_secret_key)"
    log "(d) run $run: rclone copy of the same folder to $s3/$bucket/rclone-bench/"
    sync # what earlier steps left unwritten is not the peers' to flush
    t0=$(daemon_ticks)
    start=$(now)
    TIMEFORMAT='%U %S'
    { time rclone copy --config /dev/null --transfers 4 --s3-no-check-bucket "$photos" "bench:$bucket/rclone-bench" 2>"$work/rclone.err" || {
        cat "$work/rclone.err" >&2; echo "rclone copy failed" >&2; exit 1; } ; } 2>"$work/rclone.time"
    p_rclone=$(secs_since "$start")
    p_rclone_cpu=$(awk '{ printf "%.2f", $1 + $2 }' "$work/rclone.time")
    p_store_cpu=$(awk -v a="$t0" -v b="$(daemon_ticks)" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')
    copied=$(find "$IMGCLOUD_DATA_DIR/cloud/objects/$bucket/rclone-bench" -type f | wc -l)
    [ "$copied" -eq "$n" ] || { echo "rclone stored $copied of $n files" >&2; exit 1; }
    log "(d) run $run: cp -a of the same folder to a backup folder"
    sync # the store's writes are rclone's, not the copy's to flush (sync -f below flushes all)
    start=$(now)
    cp -a "$photos" "$work/d$run/cp-backup"
    sync -f "$work/d$run/cp-backup" 2>/dev/null || sync
    p_cp=$(secs_since "$start")
}
if want d; then
    n=${BENCH_SYNC_COUNT:-1000}
    runs=${BENCH_SYNC_RUNS:-3}
    w=${BENCH_SYNC_WIDTH:-2000}; h=${BENCH_SYNC_HEIGHT:-1500}; q=${BENCH_SYNC_QUALITY:-90}
    photos="$cache/photos-$n-${w}x${h}-q$q"
    log "(d) generating $n photos of ${w}×${h} (cached in $photos)"
    "$gen_bin" "$photos" "$n" "$w" "$h" "$q" 2
    rm -f "$photos"/*.tmp
    bytes=$(find "$photos" -maxdepth 1 -name 'photo-*.jpg' -printf '%s\n' | awk '{ s += $1 } END { print s }')
    unset AWS_CA_BUNDLE
    daemon_ticks() { awk '{ print $14 + $15 }' "/proc/$daemon_pid/stat"; }
    hz=$(getconf CLK_TCK)
    results+=("(d) first sync of $n JPEGs ($((bytes / 1000000)) MB) to all links and backups, $runs runs (odd: daemon first, even: peers first):")
    ratios=()
    for run in $(seq 1 "$runs"); do
        use_instance "d$run"
        [ -z "${BENCH_SYNC_CONCURRENCY:-}" ] || printf 'concurrency = %s\n' "$BENCH_SYNC_CONCURRENCY" >"$IMGCLOUD_CONFIG_DIR/daemon.toml"
        s3_port=$("$bench_bin" free-port)
        start_daemon "$work/d$run/watched" "$s3_port"
        if (( run % 2 == 1 )); then d_daemon_sync; d_peers; else d_peers; d_daemon_sync; fi
        stop_daemon
        peer=$(awk -v a="$p_rclone" -v b="$p_cp" 'BEGIN { printf "%.2f", a + b }')
        ratio=$(awk -v a="$d_backup" -v b="$peer" 'BEGIN { printf "%.2f", a / b }')
        ratios+=("$ratio")
        results+=("    run $run: imgcloudd links ${d_up} s, links and backups ${d_backup} s; rclone copy ${p_rclone} s + cp -a ${p_cp} s = ${peer} s; ratio ${ratio} (links alone vs rclone alone $(awk -v a="$d_up" -v b="$p_rclone" 'BEGIN { printf "%.2f", a / b }'))")
        results+=("        CPU: imgcloudd (client and its embedded cloud) ${d_cpu} s; rclone ${p_rclone_cpu} s + its store (in imgcloudd) ${p_store_cpu} s")
        results+=("        derivatives: every thumbnail and preview ready ${d_deriv} s after the last backup (${d_jobs_during:-0} of $n jobs had run during the sync)")
    done
    median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
    results+=("    median ratio imgcloudd/(rclone copy + cp -a): ${median} (target ≤ 1.0)")
    log "(d) decode floor: djpeg -scale 1/8 of every photo, $(nproc) at a time"
    floor_secs=$(jpeg_decode_floor "$photos")
    results+=("    decode floor: djpeg -scale 1/8 of every photo on $(nproc) cores ${floor_secs} s, floor/rclone $(awk -v a="$floor_secs" -v b="$p_rclone" 'BEGIN { printf "%.2f", a / b }') (last run)")
fi

printf '%s\n' "${results[@]}"
