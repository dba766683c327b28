# Private PostgreSQL clusters for imgcloud's scripts (sourced after lib/common.sh).
#
# A cluster is one directory: data/ (PGDATA), sock/ (its Unix socket) and postgres.log. The
# machine's own clusters (pg_ctlcluster, systemd) are never touched. PostgreSQL refuses to run
# as root, so as root every tool runs as the `postgres` user, and the directory is owned by it
# (it must then live where that user can reach it, e.g. under /tmp).
#
#   pg_bindir                        prints the newest /usr/lib/postgresql/*/bin, installing
#                                    postgresql when there is none
#   pg_as_owner CMD...               runs CMD as the cluster owner (postgres when root)
#   pg_init DIR                      initdb in DIR/data (scram for TCP, trust on the socket)
#   pg_start DIR PORT [OPTIONS]      starts it on 127.0.0.1:PORT (OPTIONS: more postgres
#                                    options, e.g. "-c wal_level=logical"), waits until it accepts
#   pg_pid DIR                       prints the postmaster's pid (empty when not running)
#   pg_stop DIR [fast|immediate]     stops it (by pg_ctl, else by its postmaster pid)
#   pg_create_db DIR PORT ROLE PASSWORD DB [ATTRS]   creates a login role (with more role
#                                    attributes ATTRS, e.g. REPLICATION) and a database it owns

pg_find_bindir() {
  local initdb
  initdb=$(ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$initdb" ] && dirname "$initdb"
}

pg_bindir() {
  local dir
  dir=$(pg_find_bindir || true)
  if [ -z "$dir" ]; then
    apt_install_missing postgresql
    dir=$(pg_find_bindir || true)
    [ -n "$dir" ] || die "no initdb under /usr/lib/postgresql after installing postgresql"
  fi
  echo "$dir"
}

# Runs a PostgreSQL tool as the cluster's owner (from /, which that user can always enter).
pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

pg_init() {
  local dir=$1 bindir
  bindir=$(pg_bindir)
  mkdir -p "$dir/sock"
  [ "$(id -u)" -ne 0 ] || chown -R postgres: "$dir"
  pg_as_owner "$bindir/initdb" -D "$dir/data" -U postgres -E UTF8 --no-locale \
    --auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 || {
    tail -n 40 "$dir/initdb.log" >&2
    return 1
  }
}

pg_start() {
  local dir=$1 port=$2 options=${3:-} bindir
  bindir=$(pg_bindir)
  pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
    -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 $options" start >/dev/null
}

pg_pid() {
  local dir=$1
  [ -f "$dir/data/postmaster.pid" ] && head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true
}

pg_stop() {
  local dir=$1 mode=${2:-fast} bindir pid
  [ -f "$dir/data/postmaster.pid" ] || return 0
  bindir=$(pg_bindir)
  pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -m "$mode" -w -t 30 stop >/dev/null 2>&1 || {
    # pg_ctl could not stop it: end exactly that postmaster, by its pid file.
    pid=$(pg_pid "$dir")
    [ -z "$pid" ] || kill -TERM "$pid" 2>/dev/null || true
    sleep 2
  }
}

pg_create_db() {
  local dir=$1 port=$2 role=$3 password=$4 db=$5 attrs=${6:-} bindir
  bindir=$(pg_bindir)
  pg_as_owner "$bindir/psql" -X -q -h "$dir/sock" -p "$port" -U postgres -d postgres \
    -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE $role LOGIN CREATEDB $attrs PASSWORD '$password'" \
    -c "CREATE DATABASE $db OWNER $role"
}
