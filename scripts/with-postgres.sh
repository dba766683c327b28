#!/usr/bin/env bash
# Runs a command against a private, throw-away PostgreSQL cluster:
#
#   scripts/with-postgres.sh cargo test -p imgcloud-server --lib store::postgres -- --ignored
#
# It installs PostgreSQL if no initdb is found, creates a cluster in a temp directory, starts
# it on a free loopback port (its socket in that directory too), creates a role with a random
# password that may create databases plus a database it owns, runs the command with
# IMGCLOUD_TEST_POSTGRES_URL set, then stops the cluster (by its pid file) and deletes it. The
# machine's own clusters (pg_ctlcluster, systemd) are never touched. PostgreSQL refuses to run
# as root, so as root the cluster runs as the `postgres` user.
set -euo pipefail

log() { printf '==> %s\n' "$*" >&2; }

[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARG...]" >&2; exit 2; }

# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

find_bindir() {
  local initdb
  initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$initdb" ] && dirname "$initdb"
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ]; then
  apt_install_missing postgresql
  bindir=$(find_bindir || true)
  [ -n "$bindir" ] || { echo "error: no initdb under /usr/lib/postgresql after installing" >&2; exit 1; }
fi

# Runs a PostgreSQL tool as the cluster's owner (from /, which that user can always enter).
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

cluster=$(mktemp -d "${TMPDIR:-/tmp}/imgcloud-pg.XXXXXX")
data="$cluster/data"
sock="$cluster/sock"
mkdir -p "$sock"
[ "$(id -u)" -ne 0 ] || chown -R postgres: "$cluster"

stop_cluster() {
  if [ -f "$data/postmaster.pid" ]; then
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 || {
      # pg_ctl could not stop it: end exactly that postmaster, by its pid file.
      pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
      [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true
      sleep 2
    }
  fi
  rm -rf "$cluster"
}
trap stop_cluster EXIT
trap 'exit 130' INT TERM

log "initdb ($("$bindir/postgres" --version)) in $cluster"
as_owner "$bindir/initdb" -D "$data" -U postgres -E UTF8 --no-locale \
  --auth-local=trust --auth-host=scram-sha-256 >"$cluster/initdb.log" 2>&1 || {
  cat "$cluster/initdb.log" >&2
  exit 1
}

# A free loopback port: pick one nothing answers on; retry the start if another process took
# it in between.
started=""
for attempt in 1 2 3 4 5; do
  port=$((15000 + RANDOM % 17000)) # below the ephemeral range
  port_in_use "$port" && continue
  if as_owner "$bindir/pg_ctl" -D "$data" -l "$cluster/postgres.log" -w -t 60 \
    -o "-p $port -k $sock -c listen_addresses=127.0.0.1" start >/dev/null; then
    started=1
    break
  fi
done
[ -n "$started" ] || { echo "error: PostgreSQL did not start" >&2; cat "$cluster/postgres.log" >&2; exit 1; }

password=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24)
as_owner "$bindir/psql" -X -q -h "$sock" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
  -c "CREATE ROLE imgcloud LOGIN CREATEDB PASSWORD '$password'" \
  -c "CREATE DATABASE imgcloud OWNER imgcloud"

export IMGCLOUD_TEST_POSTGRES_URL="postgres://imgcloud:$password@127.0.0.1:$port/imgcloud"
log "PostgreSQL on 127.0.0.1:$port (IMGCLOUD_TEST_POSTGRES_URL is set)"

status=0
"$@" || status=$?
exit "$status"
