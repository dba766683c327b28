#!/usr/bin/env bash
# TUI benchmark: the real `imgcloud` TUI (release build) under tmux, on a local catalog of
# 100,000 generated images, offline (the configured server does not answer, so everything shown
# comes from the catalog). It prints:
#   - first frame: process start → first frame drawn (target ≤ 150 ms), for each of
#     BENCH_RUNS starts, and when the whole catalog was in memory;
#   - per-key redraw while scrolling (j, k, PgDn, PgUp, G, g) and while typing searches key by
#     key: p50 / p99 / max from the key being read to its frame drawn (target p99 ≤ 16 ms);
#   - each press of `s` (sort by name, size, date, name again), for information.
# The figures come from the TUI's own timing hook (IMGCLOUD_TUI_TIMINGS=FILE, docs/development.md).
#
#   scripts/bench/tui.sh
#   BENCH_IMAGES=20000 scripts/bench/tui.sh
#
# Environment: BENCH_IMAGES (100000), BENCH_RUNS (3), BENCH_KEY_DELAY (0.05 s between keys),
# BENCH_WIDTH×BENCH_HEIGHT (160×48, the tmux window), BENCH_TIMINGS_OUT (copy the timings
# file of the last start there), CARGO_TARGET_DIR.
#
# Everything lives in a temp dir removed at the end; tmux runs on a socket of its own, which is
# closed at the end.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../lib/common.sh
. "$repo/scripts/lib/common.sh"
images=${BENCH_IMAGES:-100000}
runs=${BENCH_RUNS:-3}
delay=${BENCH_KEY_DELAY:-0.05}
width=${BENCH_WIDTH:-160}
height=${BENCH_HEIGHT:-48}

command -v tmux >/dev/null || apt_install_missing tmux

log "building release binaries"
cd "$repo"
cargo build --release --quiet -p imgcloud-tui
cargo build --release --quiet -p imgcloud-core --example fill-catalog
target=${CARGO_TARGET_DIR:-$repo/target}/release
tui_bin="$target/imgcloud"
fill_bin="$target/examples/fill-catalog"

work="$(mktemp -d "${TMPDIR:-/tmp}/imgcloud-bench-tui.XXXXXX")"
socket="imgcloud-bench-tui-$$"
cleanup() {
    tmux -L "$socket" kill-server 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

export IMGCLOUD_CONFIG_DIR="$work/config" IMGCLOUD_DATA_DIR="$work/data" IMGCLOUD_RUNTIME_DIR="$work/run"
mkdir -p "$IMGCLOUD_CONFIG_DIR" "$IMGCLOUD_DATA_DIR" "$IMGCLOUD_RUNTIME_DIR"
# A loopback port nothing listens on: the TUI is offline and shows the catalog.
server="http://127.0.0.1:$(pick_free_port)"
user=bench

log "filling the local catalog with $images images"
start=$(date +%s.%N)
"$fill_bin" "$server" "$user" "$images" >/dev/null
log "filled in $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"

timings="$work/timings"
# Starts the TUI in a fresh tmux server and waits until the whole catalog is drawn.
start_tui() {
    : >"$timings"
    tmux -L "$socket" -f /dev/null new-session -d -s bench -x "$width" -y "$height" \
        env IMGCLOUD_CONFIG_DIR="$IMGCLOUD_CONFIG_DIR" IMGCLOUD_DATA_DIR="$IMGCLOUD_DATA_DIR" \
        IMGCLOUD_RUNTIME_DIR="$IMGCLOUD_RUNTIME_DIR" IMGCLOUD_SERVER="$server" \
        IMGCLOUD_TOKEN=bench-placeholder IMGCLOUD_TUI_TIMINGS="$timings" TERM=xterm-256color \
        "$tui_bin"
    for _ in $(seq 1 600); do
        grep -q '^catalog_loaded_ms ' "$timings" 2>/dev/null && return 0
        sleep 0.05
    done
    tmux -L "$socket" capture-pane -p -t bench >&2 || true
    die "the TUI did not load the catalog within 30 s"
}
stop_tui() {
    tmux -L "$socket" send-keys -t bench q
    for _ in $(seq 1 100); do
        tmux -L "$socket" has-session -t bench 2>/dev/null || return 0
        sleep 0.05
    done
    tmux -L "$socket" kill-server 2>/dev/null || true
}
sent=0
key() {
    tmux -L "$socket" send-keys -t bench "$@"
    sent=$((sent + 1))
    sleep "$delay"
}
# Types $1 one key at a time.
type_text() {
    local i
    for ((i = 0; i < ${#1}; i++)); do key -l "${1:i:1}"; done
}
# "p50 p99 max" of the values on stdin.
stats() {
    sort -n | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "- - -"; exit }
        p50 = v[int((NR * 50 + 99) / 100)]; p99 = v[int((NR * 99 + 99) / 100)]
        printf "%.2f %.2f %.2f %d\n", p50, p99, v[NR], NR }'
}

firsts=()
loads=()
for run in $(seq 1 "$runs"); do
    log "start $run of $runs"
    start_tui
    firsts+=("$(awk '$1 == "first_frame_ms" { print $2 }' "$timings")")
    loads+=("$(awk '$1 == "catalog_loaded_ms" { print $2 }' "$timings")")
    [ "$run" -lt "$runs" ] && stop_tui
done

log "scrolling"
for _ in $(seq 1 40); do key j; done
for _ in $(seq 1 20); do key NPage; done
key G
for _ in $(seq 1 20); do key k; done
for _ in $(seq 1 10); do key PPage; done
key g
for _ in $(seq 1 10); do key Down; done
key End
key Home

log "searching key by key"
for query in sunset-01 holiday 2023 beach-09999 zzz; do
    key /
    type_text "$query"
    for ((i = 0; i < ${#query}; i++)); do key BSpace; done
    key Escape
done
log "changing the sort (date → name → size → date → name)"
for _ in 1 2 3 4; do key s; done
# Wait until every key has been reported (each is written after its frame).
for _ in $(seq 1 200); do
    [ "$(grep -c '^key ' "$timings")" -ge "$sent" ] && break
    sleep 0.05
done
screen=$(tmux -L "$socket" capture-pane -p -t bench | head -1)
stop_tui
[ -z "${BENCH_TIMINGS_OUT:-}" ] || cp "$timings" "$BENCH_TIMINGS_OUT"

# The sort keys are the list keys after the last search key.
last_search=$(awk '$1 == "key" && $2 == "search" { n = NR } END { print n + 0 }' "$timings")
read -r s50 s99 smax sn < <(awk -v l="$last_search" '$1 == "key" && $2 == "list" && NR < l { print $3 }' "$timings" | stats)
read -r q50 q99 qmax qn < <(awk '$1 == "key" && $2 == "search" { print $3 }' "$timings" | stats)
sorts=$(awk -v l="$last_search" '$1 == "key" && $2 == "list" && NR > l { printf "%s%.1f", sep, $3; sep = ", " }' "$timings")
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo
echo "TUI benchmark: $images images in the local catalog, offline, ${width}×${height} tmux window, $(nproc) CPUs"
echo "  title line at the end: ${screen}"
echo "  first frame:      $(median "${firsts[@]}") ms median of ${runs} starts (${firsts[*]} ms; target ≤ 150)"
echo "  whole catalog in: $(median "${loads[@]}") ms median (${loads[*]} ms; drawn, searchable and sortable)"
echo "  scrolling:  p50 ${s50} ms, p99 ${s99} ms, max ${smax} ms over ${sn} keys (target p99 ≤ 16)"
echo "  searching:  p50 ${q50} ms, p99 ${q99} ms, max ${qmax} ms over ${qn} keys (target p99 ≤ 16)"
echo "  sort keys (s: name, size, date, name; each order is made once, then reused): ${sorts} ms"
