#!/usr/bin/env bash
# Builds and tests the desktop app (desktop/): frontend checks and unit tests, the Rust command
# tests, and a smoke test of the real app under a private Xvfb display.
#
#   scripts/test-desktop.sh
#
# Needs (installed by scripts/test.sh, not here): node/npm, the Tauri build packages
# (libwebkit2gtk-4.1-dev …), xvfb, x11-utils (xwininfo) and imagemagick (import, convert).
# Honours CARGO_TARGET_DIR. Starts only its own Xvfb and app, and stops both by pid.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- frontend --------------------------------------------------------------------------------
log "desktop/ui: npm ci"
(cd desktop/ui && npm ci --no-audit --no-fund)
log "desktop/ui: svelte-check"
(cd desktop/ui && npm run --silent check)
log "desktop/ui: vitest"
(cd desktop/ui && npm test --silent)
log "desktop/ui: vite build"
(cd desktop/ui && npm run --silent build)

# --- Rust ------------------------------------------------------------------------------------
log "cargo test -p imgcloud-desktop"
cargo test --locked -p imgcloud-desktop -- --test-threads=2

log "cargo build -p imgcloud-desktop"
bin=$(cargo build --locked -p imgcloud-desktop --message-format=json-render-diagnostics \
  | grep -o '"executable":"[^"]*/imgcloud-desktop"' | tail -n 1 | sed 's/^"executable":"//; s/"$//')
[ -x "$bin" ] || die "cargo did not report the imgcloud-desktop binary"

# --- smoke test under Xvfb -------------------------------------------------------------------
log "smoke test: $bin under Xvfb"
work=$(mktemp -d)
xvfb_pid=""
app_pid=""
cleanup() {
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null || true
  [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null && wait "$xvfb_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# -displayfd: Xvfb picks a free display number and writes it once it accepts connections.
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp -br 3>"$work/display" 2>"$work/xvfb.log" &
xvfb_pid=$!
for _ in $(seq 100); do
  [ -s "$work/display" ] && break
  kill -0 "$xvfb_pid" 2>/dev/null || { cat "$work/xvfb.log" >&2; die "Xvfb exited"; }
  sleep 0.1
done
[ -s "$work/display" ] || die "Xvfb did not report a display within 10 s"
export DISPLAY=":$(head -n 1 "$work/display")"

# A fresh user: private config/data dirs and no server, so the app must say so on screen.
mkdir -p "$work/config" "$work/data" "$work/run"
chmod 700 "$work/run"
env -u IMGCLOUD_SERVER -u IMGCLOUD_TOKEN \
  IMGCLOUD_CONFIG_DIR="$work/config" IMGCLOUD_DATA_DIR="$work/data" \
  IMGCLOUD_RUNTIME_DIR="$work/run" XDG_RUNTIME_DIR="$work/run" \
  "$bin" >"$work/app.log" 2>&1 &
app_pid=$!

wid=""
for _ in $(seq 600); do
  kill -0 "$app_pid" 2>/dev/null || { cat "$work/app.log" >&2; die "the app exited early"; }
  wid=$(xwininfo -root -tree 2>/dev/null | awk '/"imgcloud"/ { print $1; exit }')
  [ -n "$wid" ] && break
  sleep 0.1
done
[ -n "$wid" ] || { cat "$work/app.log" >&2; die "no window titled imgcloud within 60 s"; }
geometry=$(xwininfo -id "$wid" | awk '
  /Absolute upper-left X/ { x = $NF } /Absolute upper-left Y/ { y = $NF }
  /Width:/ { w = $NF } /Height:/ { h = $NF } END { printf "%dx%d+%d+%d", w, h, x, y }')
echo "window $wid at $geometry" >&2

# The page renders asynchronously: poll until the window shows the app's header colour
# (#1F2430) and the error panel of an unconfigured app (#FDECEA), i.e. the Svelte UI ran its
# first command and drew the answer.
shot="$work/shot.png"
ok=""
for _ in $(seq 60); do
  kill -0 "$app_pid" 2>/dev/null || { cat "$work/app.log" >&2; die "the app exited"; }
  /usr/bin/import -window root "$shot"
  colours=$(/usr/bin/convert "$shot" -crop "$geometry" +repage -format '%k' info:)
  histogram=$(/usr/bin/convert "$shot" -crop "$geometry" +repage -format '%c' histogram:info:-)
  if [ "$colours" -ge 32 ] && grep -qi '#1F2430' <<<"$histogram" && grep -qi '#FDECEA' <<<"$histogram"; then
    ok=1
    break
  fi
  sleep 0.5
done
if [ -n "${DESKTOP_SHOT:-}" ]; then cp "$shot" "$DESKTOP_SHOT"; fi
[ -n "$ok" ] || { cat "$work/app.log" >&2; die "the window stayed blank or showed no UI (${colours:-0} colours); see DESKTOP_SHOT=path to keep the screenshot"; }
echo "window rendered: $colours colours, header and 'not configured' panel present" >&2

kill "$app_pid"
wait "$app_pid" 2>/dev/null || true
app_pid=""
log "desktop tests passed"
