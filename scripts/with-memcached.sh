#!/usr/bin/env bash
# Runs a command against a private, throw-away memcached:
#
#   scripts/with-memcached.sh cargo test -p imgcloud-server --lib cache:: -- --ignored
#
# It installs memcached if it is missing, starts one on a free loopback port (64 MB, no UDP;
# as root it runs with `-u root`, which memcached requires to start as root), runs the command
# with IMGCLOUD_TEST_MEMCACHED=127.0.0.1:PORT set, then stops exactly that memcached (by its
# pid). The machine's own memcached (systemd) is never touched. Tests that stop and restart a
# memcached start their own (the `memcached` binary from PATH).
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }

[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }

# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

if ! command -v memcached >/dev/null 2>&1; then
  apt_install_missing memcached
  command -v memcached >/dev/null 2>&1 || die "no memcached on PATH after installing"
fi

user_args=()
[ "$(id -u)" -ne 0 ] || user_args=(-u root)

dir=$(mktemp -d "${TMPDIR:-/tmp}/imgcloud-memcached.XXXXXX")
pid=""
stop_memcached() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap stop_memcached EXIT
trap 'exit 130' INT TERM

# A free loopback port: pick one nothing answers on; retry if another process took it.
started=""
for attempt in 1 2 3 4 5; do
  port=$((15000 + RANDOM % 17000)) # below the ephemeral range
  port_in_use "$port" && continue
  memcached "${user_args[@]}" -l 127.0.0.1 -p "$port" -U 0 -m 64 >"$dir/memcached.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 50); do
    port_in_use "$port" && { started=1; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$started" ] && break
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
done
[ -n "$started" ] || { echo "error: memcached did not start" >&2; cat "$dir/memcached.log" >&2; exit 1; }

export IMGCLOUD_TEST_MEMCACHED="127.0.0.1:$port"
log "memcached $(memcached -V | cut -d' ' -f2) on 127.0.0.1:$port (IMGCLOUD_TEST_MEMCACHED is set)"

status=0
"$@" || status=$?
exit "$status"
