#!/usr/bin/env bash
# Builds and tests the desktop app (desktop/): frontend checks and unit tests, the Rust command
# tests, and smoke tests of the real app under a private Xvfb display:
#   1. a fresh user with no server: the window shows the "not configured" panel;
#   2. a real library: an embedded imgcloud cloud (the real `imgcloud-server` in temp dirs on
#      loopback ports) holding images of flat, distinctive colours uploaded with the real
#      `imgcloud upload`; the window must paint their thumbnails (each colour covers a sizeable
#      area of a screenshot);
#   3. end to end through tauri-driver + WebKitWebDriver (desktop/e2e/e2e.mjs): a fresh user
#      with an embedded cloud uploads images through the UI, sees the thumbnails, copies a link
#      (read back from the X clipboard with xclip), deletes and restores it, pastes an image
#      from the X clipboard with Ctrl+V; screenshots of the
#      gallery and the detail panel go to target/desktop-e2e/ (or DESKTOP_SCREENSHOTS).
#
#   scripts/test-desktop.sh
#   DESKTOP_SHOT=gallery.png scripts/test-desktop.sh   also copy the gallery screenshot there
#   DESKTOP_SCREENSHOTS=docs/images scripts/test-desktop.sh   where the e2e test saves its shots
#
# The gallery screenshot is always saved as target/desktop-gallery.png (also on failure).
# Needs (installed by scripts/test.sh, not here): node/npm, the Tauri build packages
# (libwebkit2gtk-4.1-dev …), xvfb, x11-utils (xwininfo), imagemagick (import, convert),
# webkit2gtk-driver (WebKitWebDriver), xclip, and tauri-driver 2.1.0 (cargo install).
# Uses the imgcloud-server and imgcloud binaries from IMGCLOUD_BIN_DIR, else
# ${CARGO_TARGET_DIR:-target}/debug (scripts/test.sh builds them), building them if missing.
# Honours CARGO_TARGET_DIR. Starts only its own Xvfb, cloud and app, and stops them by pid.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# shellcheck source=lib/common.sh
. "$root/scripts/lib/common.sh"
log() { printf '\n==> %s\n' "$*" >&2; }

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

# The embedded cloud's binaries: built by scripts/test.sh before it runs this script.
bin_dir=${IMGCLOUD_BIN_DIR:-${CARGO_TARGET_DIR:-target}/debug}
if [ ! -x "$bin_dir/imgcloud-server" ] || [ ! -x "$bin_dir/imgcloud" ]; then
  [ -z "${IMGCLOUD_BIN_DIR:-}" ] || die "IMGCLOUD_BIN_DIR=$bin_dir has no imgcloud-server and imgcloud binaries"
  log "cargo build -p imgcloud-server -p imgcloud-tui"
  cargo build --locked -p imgcloud-server -p imgcloud-tui
fi
bin_dir=$(cd "$bin_dir" && pwd)
server_bin=$bin_dir/imgcloud-server
cli_bin=$bin_dir/imgcloud

# --- smoke tests under Xvfb ------------------------------------------------------------------
log "smoke tests: $bin under Xvfb"
mkdir -p target
gallery_png="$root/target/desktop-gallery.png"
rm -f "$gallery_png"
work=$(mktemp -d)
xvfb_pid=""
server_pid=""
app_pid=""
app_log=""

# Stops one of our children by pid: SIGTERM, then SIGKILL after 5 s.
stop() {
  local pid=$1
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}
driver_pid=""
e2e_server_pid=""
cleanup() {
  stop "${cloud_pid:-}"
  stop "$app_pid"
  stop "$driver_pid"
  stop "$e2e_server_pid"
  stop "$server_pid"
  stop "$xvfb_pid"
  rm -rf "$work"
}
trap cleanup EXIT
# Fails with the app's log (and the cloud's, when it runs).
fail() {
  [ -n "$app_log" ] && [ -s "$app_log" ] && { echo "--- app log" >&2; tail -n 40 "$app_log" >&2; }
  [ -s "$work/server.log" ] && { echo "--- imgcloud-server log" >&2; tail -n 40 "$work/server.log" >&2; }
  die "$*"
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }

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

# A user's private imgcloud dirs under $work/NAME, as `env` arguments.
user_env() {
  local dir="$work/$1"
  mkdir -p "$dir/config" "$dir/data" "$dir/run"
  chmod 700 "$dir/run"
  printf '%s\n' "IMGCLOUD_CONFIG_DIR=$dir/config" "IMGCLOUD_DATA_DIR=$dir/data" \
    "IMGCLOUD_RUNTIME_DIR=$dir/run" "XDG_RUNTIME_DIR=$dir/run"
}

# Starts the app as user NAME (see user_env) and waits for its window; sets app_pid, app_log
# and geometry (the window's WxH+X+Y on the screen).
start_app() {
  local name=$1 wid=""
  local -a vars
  mapfile -t vars < <(user_env "$name")
  app_log="$work/app-$name.log"
  env -u IMGCLOUD_SERVER -u IMGCLOUD_TOKEN "${vars[@]}" NO_COLOR=1 "$bin" >"$app_log" 2>&1 &
  app_pid=$!
  for _ in $(seq 600); do
    kill -0 "$app_pid" 2>/dev/null || fail "the app exited early"
    wid=$(xwininfo -root -tree 2>/dev/null | awk '/"imgcloud"/ { print $1; exit }')
    [ -n "$wid" ] && break
    sleep 0.1
  done
  [ -n "$wid" ] || fail "no window titled imgcloud within 60 s"
  geometry=$(xwininfo -id "$wid" | awk '
    /Absolute upper-left X/ { x = $NF } /Absolute upper-left Y/ { y = $NF }
    /Width:/ { w = $NF } /Height:/ { h = $NF } END { printf "%dx%d+%d+%d", w, h, x, y }')
  echo "window $wid at $geometry" >&2
}

# Screenshots the screen into $shot until CHECK (a function reading $shot and setting $seen)
# succeeds, or fails after SECONDS.
shot="$work/shot.png"
await_screen() {
  local check=$1 seconds=$2 deadline
  deadline=$(($(date +%s) + seconds))
  while :; do
    kill -0 "$app_pid" 2>/dev/null || fail "the app exited"
    /usr/bin/import -window root "$shot"
    if "$check"; then return 0; fi
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.5
  done
}

# Pixels of the window within 10% of colour $1.
count_colour() {
  /usr/bin/convert "$shot" -crop "$geometry" +repage -fuzz 10% \
    -fill black +opaque "$1" -fill white -opaque "$1" -format '%[fx:round(mean*w*h)]' info:
}

# Starts the embedded cloud (imgcloud-server with no configuration) for the user of the env
# arguments, logging to PREFIX.out/.log; sets cloud_pid and api_url.
start_cloud() {
  local prefix=$1
  shift
  : >"$prefix.out"
  env -u IMGCLOUD_SERVER -u IMGCLOUD_TOKEN "$@" RUST_LOG=info NO_COLOR=1 \
    "$server_bin" --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 \
    </dev/null >"$prefix.out" 2>"$prefix.log" &
  cloud_pid=$!
  api_url=$(wait_ready_url "$cloud_pid" "$prefix.out") || fail "imgcloud-server did not get ready"
}

# A free loopback TCP port.
# --- 1. a fresh user with no server: the app must say so on screen.
t0=$(now)
start_app fresh
# The app's header colour (#1F2430) and the error panel of an unconfigured app (#FDECEA), i.e.
# the Svelte UI ran its first command and drew the answer.
not_configured_drawn() {
  local colours histogram
  colours=$(/usr/bin/convert "$shot" -crop "$geometry" +repage -format '%k' info:)
  histogram=$(/usr/bin/convert "$shot" -crop "$geometry" +repage -format '%c' histogram:info:-)
  seen="$colours colours"
  [ "$colours" -ge 32 ] && grep -qi '#1F2430' <<<"$histogram" && grep -qi '#FDECEA' <<<"$histogram"
}
await_screen not_configured_drawn 30 || {
  if [ -n "${DESKTOP_SHOT:-}" ]; then cp "$shot" "$DESKTOP_SHOT"; fi
  fail "the window stayed blank or showed no 'not configured' panel ($seen)"
}
stop "$app_pid"
app_pid=""
echo "not configured: panel drawn ($seen) in $(since "$t0")" >&2

# --- 2. a real library: the embedded cloud, three uploads, the gallery paints them.
t0=$(now)
mapfile -t cloud_env < <(user_env user)
start_cloud "$work/server" "${cloud_env[@]}"
server_pid=$cloud_pid
echo "embedded cloud at $api_url, ready in $(since "$t0")" >&2

# Flat colours no part of the UI uses, so only painted thumbnails can cover an area with them.
colours=("#E0102F" "#12B040" "#1F5FE0")
mkdir -p "$work/images"
files=()
for i in "${!colours[@]}"; do
  /usr/bin/convert -size 800x600 "xc:${colours[$i]}" "$work/images/colour-$i.png"
  files+=("$work/images/colour-$i.png")
done
t1=$(now)
env -u IMGCLOUD_SERVER -u IMGCLOUD_TOKEN "${cloud_env[@]}" \
  "$cli_bin" upload "${files[@]}" </dev/null >"$work/links" 2>"$work/upload.log" \
  || { cat "$work/upload.log" >&2; fail "imgcloud upload failed"; }
[ "$(grep -c '^http' "$work/links")" -eq "${#files[@]}" ] \
  || { cat "$work/links" "$work/upload.log" >&2; fail "imgcloud upload printed no link per image"; }
echo "uploaded ${#files[@]} images in $(since "$t1")" >&2

t1=$(now)
start_app user
# Each uploaded colour covers at least ~140×140 px of the window (a grid cell is ~200 px wide).
min_pixels=20000
gallery_drawn() {
  local colour n all=0
  seen=""
  for colour in "${colours[@]}"; do
    n=$(count_colour "$colour")
    seen+="$colour: $n px; "
    [ "$n" -ge "$min_pixels" ] || all=1
  done
  return "$all"
}
ok=""
gallery_timeout=30
await_screen gallery_drawn "$gallery_timeout" && ok=1
cp "$shot" "$gallery_png"
if [ -n "${DESKTOP_SHOT:-}" ]; then cp "$shot" "$DESKTOP_SHOT"; fi
[ -n "$ok" ] || fail "the gallery did not paint the uploaded thumbnails within $gallery_timeout s (${seen}need $min_pixels px each); screenshot: $gallery_png"
echo "gallery: thumbnails painted (${seen%; }) in $(since "$t1") after launch; $gallery_png" >&2

stop "$app_pid"
app_pid=""
stop "$server_pid"
server_pid=""

# --- 3. end to end through tauri-driver: upload, thumbnail, copy link, delete, restore.
driver_bin=$(command -v tauri-driver || echo "$HOME/.cargo/bin/tauri-driver")
[ -x "$driver_bin" ] || die "tauri-driver is missing: cargo install tauri-driver --version 2.1.0 --locked (scripts/test.sh does)"
command -v WebKitWebDriver >/dev/null || die "WebKitWebDriver is missing: apt-get install webkit2gtk-driver"
command -v xclip >/dev/null || die "xclip is missing: apt-get install xclip"
t0=$(now)
mapfile -t e2e_env < <(user_env e2e)
start_cloud "$work/e2e-server" "${e2e_env[@]}"
e2e_server_pid=$cloud_pid
mkdir -p "$work/e2e-images"
e2e_images=()
gradients=("#ff7e5f-#feb47b" "#43cea2-#185a9d" "#f7971e-#ffd200" "#8e2de2-#4a00e0" "#56ab2f-#a8e063" "#ee0979-#ff6a00")
for i in "${!gradients[@]}"; do
  /usr/bin/convert -size 960x640 -define "gradient:angle=$((i * 30))" "gradient:${gradients[$i]}" \
    "$work/e2e-images/photo-$((i + 1)).png"
  e2e_images+=("$work/e2e-images/photo-$((i + 1)).png")
done
/usr/bin/convert -size 640x480 "gradient:#00c6ff-#0072ff" "$work/e2e-images/pasted.png"
driver_port=$(pick_free_port)
native_port=$(pick_free_port "$driver_port")
env -u IMGCLOUD_SERVER -u IMGCLOUD_TOKEN "${e2e_env[@]}" NO_COLOR=1 \
  "$driver_bin" --port "$driver_port" --native-port "$native_port" >"$work/driver.log" 2>&1 &
driver_pid=$!
for _ in $(seq 100); do
  port_in_use "$driver_port" && break
  kill -0 "$driver_pid" 2>/dev/null || { cat "$work/driver.log" >&2; die "tauri-driver exited"; }
  sleep 0.1
done
shots=${DESKTOP_SCREENSHOTS:-$root/target/desktop-e2e}
app_log="$work/driver.log"
node desktop/e2e/e2e.mjs --driver "http://127.0.0.1:$driver_port" --app "$bin" \
  --images "$(IFS=,; echo "${e2e_images[*]}")" --paste "$work/e2e-images/pasted.png" --shots "$shots" \
  || fail "the end-to-end test failed (screenshots so far in $shots)"
echo "end to end: passed in $(since "$t0"); screenshots in $shots" >&2
log "desktop tests passed"
