#!/usr/bin/env bash
# Desktop gallery benchmark: with BENCH_COUNT (10,000) images in the library, the time from app
# start to the first thumbnail painted (target ≤ 1.5 s), and the DOM nodes in the grid while
# scrolled to the middle of the whole library (bounded by the viewport, not the library).
#
#   scripts/bench/desktop.sh
#   BENCH_COUNT=2000 BENCH_PROFILE=debug scripts/bench/desktop.sh
#
# Environment: BENCH_COUNT (10000), BENCH_PROFILE (release; `debug` reuses a debug build),
# BENCH_RUNS (start-up measurements, 3), CARGO_TARGET_DIR.
#
# Runs under a private Xvfb display: an embedded cloud (imgcloud-server) in a temp dir, seeded
# through the real upload pipeline (`bench-api seed`), then the app through tauri-driver
# (desktop/e2e/bench.mjs). Needs what scripts/test-desktop.sh needs (Xvfb, WebKitWebDriver,
# tauri-driver, node). Every process it starts is stopped by its pid.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
count=${BENCH_COUNT:-10000}
profile=${BENCH_PROFILE:-release}
runs=${BENCH_RUNS:-3}
# shellcheck source=../lib/common.sh
. "$repo/scripts/lib/common.sh"
cd "$repo"

driver_bin=$(command -v tauri-driver || echo "$HOME/.cargo/bin/tauri-driver")
[ -x "$driver_bin" ] || die "tauri-driver is missing: cargo install tauri-driver --version 2.1.0 --locked"

flag=()
[ "$profile" = release ] && flag=(--release)
log "building the UI and the $profile binaries"
(cd desktop/ui && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run --silent build)
cargo build --locked "${flag[@]}" -p imgcloud-desktop -p imgcloud-server -p imgcloud-tests \
  --bin imgcloud-desktop --bin imgcloud-server --bin bench-api
target=${CARGO_TARGET_DIR:-$repo/target}/$profile

work=$(mktemp -d "${TMPDIR:-/tmp}/imgcloud-bench-desktop.XXXXXX")
xvfb_pid="" server_pid="" driver_pid=""
stop() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() { stop "$driver_pid"; stop "$server_pid"; stop "$xvfb_pid"; rm -rf "$work"; }
trap cleanup EXIT

Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$work/display" 2>"$work/xvfb.log" &
xvfb_pid=$!
for _ in $(seq 100); do [ -s "$work/display" ] && break; sleep 0.1; done
[ -s "$work/display" ] || die "Xvfb did not start"
export DISPLAY=":$(head -n 1 "$work/display")"

mkdir -p "$work/config" "$work/data" "$work/run"
chmod 700 "$work/run"
user_env=(IMGCLOUD_CONFIG_DIR="$work/config" IMGCLOUD_DATA_DIR="$work/data"
  IMGCLOUD_RUNTIME_DIR="$work/run" XDG_RUNTIME_DIR="$work/run")
env -u IMGCLOUD_SERVER -u IMGCLOUD_TOKEN "${user_env[@]}" NO_COLOR=1 \
  "$target/imgcloud-server" --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 \
  </dev/null >"$work/server.out" 2>"$work/server.log" &
server_pid=$!
api_url=$(wait_ready_url "$server_pid" "$work/server.out") || { tail -n 40 "$work/server.log" >&2; exit 1; }
token=$(sed -n 's/^"[^"]*" = "\(.*\)"$/\1/p' "$work/config/credentials.toml" | head -n 1)
[ -n "$token" ] || die "the embedded cloud wrote no token to $work/config/credentials.toml"

log "seeding $count images through the upload pipeline"
IMGCLOUD_SERVER=$api_url IMGCLOUD_TOKEN=$token "$target/bench-api" seed "$count" --no-wait >&2

port=$(pick_free_port)
env -u IMGCLOUD_SERVER -u IMGCLOUD_TOKEN "${user_env[@]}" NO_COLOR=1 \
  "$driver_bin" --port "$port" --native-port "$(pick_free_port "$port")" >"$work/driver.log" 2>&1 &
driver_pid=$!
for _ in $(seq 100); do
  port_in_use "$port" && break
  sleep 0.1
done

firsts=()
for run in $(seq "$runs"); do
  log "run $run of $runs"
  line=$(node desktop/e2e/bench.mjs --driver "http://127.0.0.1:$port" --app "$target/imgcloud-desktop" \
    --expect "$count") || { tail -n 30 "$work/driver.log" >&2; die "the benchmark run failed"; }
  echo "$line" >&2
  firsts+=("$(sed -n 's/.*"first_thumbnail_ms":\([0-9]*\).*/\1/p' <<<"$line")")
  nodes=$(sed -n 's/.*"grid_nodes_middle":\([0-9]*\).*/\1/p' <<<"$line")
  tiles=$(sed -n 's/.*"tiles_middle":\([0-9]*\).*/\1/p' <<<"$line")
done
median=$(printf '%s\n' "${firsts[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
printf '\ndesktop gallery, %s images, %s build, 1280x800 Xvfb\n' "$count" "$profile"
printf '  app start → first thumbnail painted: median %s ms of %s runs (%s) — target ≤ 1500 ms\n' \
  "$median" "$runs" "$(IFS=,; echo "${firsts[*]}")"
printf '  scrolled to the middle: %s DOM nodes in the grid (%s tiles) — bounded by the viewport\n' "$nodes" "$tiles"
