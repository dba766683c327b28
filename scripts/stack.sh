#!/usr/bin/env bash
# The production-like imgcloud stack on loopback: PostgreSQL, memcached, the S3-compatible store
# (`imgcloud-server s3`), two API replicas (`imgcloud-server --config replica-N.toml`) and nginx
# as load balancer (round robin, skips a dead replica) and CDN (caching proxy for image GETs).
#
#   scripts/stack.sh up                 start everything, print NAME=value lines (stdout)
#   scripts/stack.sh status             one line per service: "NAME up PID" / "NAME down";
#                                       exit 0 when all are up, 3 when one is down, 1 when no
#                                       stack runs
#   scripts/stack.sh stop SERVICE [--kill]   stop one service, keeping its port and data
#                                       (--kill: SIGKILL for a replica, immediate shutdown for
#                                       postgres; otherwise SIGTERM / fast shutdown)
#   scripts/stack.sh start SERVICE      start it again with the same port and configuration,
#                                       waits until it is ready
#   scripts/stack.sh down               stop exactly what `up` started (by pid files) and
#                                       remove the state directory
#
# SERVICE: postgres, postgres-standby (only with IMGCLOUD_STACK_STANDBY=1), memcached, s3,
# replica-1, replica-2, nginx.
#
# Environment:
#   IMGCLOUD_STACK_DIR   state directory (default ${XDG_RUNTIME_DIR:-/tmp}/imgcloud-stack-$USER)
#   IMGCLOUD_BIN_DIR     directory holding imgcloud-server; when unset, `up` runs
#                        `cargo build --release -p imgcloud-server` and uses target/release
#   IMGCLOUD_STACK_NO_MEMCACHED=1   replicas get no [cache] url (each uses its in-process
#                        cache); memcached still runs (for comparisons with memcached on/off)
#   IMGCLOUD_STACK_STANDBY=1   also a second, empty PostgreSQL (postgres-standby) for a standby
#                        or a restore; its role is a superuser there (a self-managed standby),
#                        the primary's role may replicate, both run with wal_level=logical
#
# `up` prints (and writes to $STATE/stack.env, 0600) exactly these lines on stdout, all
# progress goes to stderr:
#   IMGCLOUD_SERVER=http://127.0.0.1:LB          the load balancer (what clients use)
#   IMGCLOUD_TOKEN=...                           an API token of the demo user
#   IMGCLOUD_STACK_DIR=...                       the state directory
#   IMGCLOUD_STACK_CDN=http://127.0.0.1:CDN      nginx CDN (links are $IMGCLOUD_STACK_CDN/imgcloud/KEY)
#   IMGCLOUD_STACK_S3=http://127.0.0.1:S3        the S3 store (bucket "imgcloud", path style)
#   IMGCLOUD_STACK_DATABASE_URL=postgres://imgcloud:PASSWORD@127.0.0.1:PG/imgcloud
#   IMGCLOUD_STACK_MEMCACHED=127.0.0.1:MC
#   IMGCLOUD_STACK_REPLICAS=http://127.0.0.1:R1,http://127.0.0.1:R2
#   IMGCLOUD_STACK_DEMO_USER=demo                (its password is in $STATE/demo-password, 0600)
#   IMGCLOUD_STACK_STANDBY_DATABASE_URL=postgres://imgcloud:PASSWORD@127.0.0.1:PG2/imgcloud
#                                                (with IMGCLOUD_STACK_STANDBY=1 only)
# Use them with `set -a; . "$STATE/stack.env"; set +a`.
#
# State directory layout: pids/SERVICE.pid, logs/SERVICE.log (nginx: logs/nginx-error.log,
# logs/nginx-lb-access.log and logs/nginx-cdn-access.log with upstream=ADDR per request),
# replica-N.toml (0600), ports.env, nginx/ (config, cache, temp files), s3/ (the bucket's
# files: s3/imgcloud/...), postgres.dir (where the cluster lives: under the state directory, or
# as root a directory under /tmp owned by the postgres user).
#
# Works as root (PostgreSQL then runs as the postgres user, memcached and nginx as root) and
# as a normal user (apt packages are installed with sudo when missing). A second `up` while a
# stack runs fails; a failed `up` stops what it started, keeps the logs and prints the failing
# service's log tail.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=lib/common.sh
. "$root/scripts/lib/common.sh"
# shellcheck source=lib/postgres.sh
. "$root/scripts/lib/postgres.sh"

user_name=${USER:-$(id -un)}
STATE=${IMGCLOUD_STACK_DIR:-${XDG_RUNTIME_DIR:-/tmp}/imgcloud-stack-$user_name}
BUCKET=imgcloud
SERVICES=(postgres postgres-standby memcached s3 replica-1 replica-2 nginx)

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

pidfile() { echo "$STATE/pids/$1.pid"; }
logfile() { echo "$STATE/logs/$1.log"; }

# The pid recorded for SERVICE when that process is alive and is what we started.
live_pid() {
  local service=$1 pid expect cmdline
  [ -f "$(pidfile "$service")" ] || return 1
  pid=$(cat "$(pidfile "$service")" 2>/dev/null || true)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  case $service in
    postgres | postgres-standby) expect=postgres ;;
    memcached) expect=memcached ;;
    nginx) expect=nginx ;;
    *) expect=imgcloud-server ;;
  esac
  # Guard against a recycled pid: the process must still be the program we started.
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
  case $cmdline in
    *"$expect"*) echo "$pid" ;;
    *) return 1 ;;
  esac
}

log_tail() {
  local file=$1
  if [ -f "$file" ]; then
    printf -- '--- last lines of %s ---\n' "$file" >&2
    tail -n 40 "$file" >&2
    printf -- '---\n' >&2
  fi
}

# Fails `up`/`start` for SERVICE: shows its log, stops what runs (during `up`).
fail_service() {
  local service=$1 message=$2
  printf 'error: %s: %s\n' "$service" "$message" >&2
  case $service in
    postgres | postgres-standby) log_tail "$(cat "$STATE/$service.dir" 2>/dev/null)/postgres.log" ;;
    nginx) log_tail "$STATE/logs/nginx-error.log"; log_tail "$(logfile nginx)" ;;
    *) log_tail "$(logfile "$service")" ;;
  esac
  if [ -n "${STACK_UP_IN_PROGRESS:-}" ]; then
    log "stopping what was started; logs kept in $STATE/logs"
    stop_all
  fi
  exit 1
}

wait_until() {
  # wait_until SECONDS SERVICE PID CHECK...: polls CHECK every 0.1 s while PID lives.
  local seconds=$1 service=$2 pid=$3
  shift 3
  local deadline=$((SECONDS + seconds))
  while [ $SECONDS -lt $deadline ]; do
    if "$@" 2>/dev/null; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      fail_service "$service" "exited during start-up"
    fi
    sleep 0.1
  done
  fail_service "$service" "not ready after ${seconds}s"
}

http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }
log_has_ready() { grep -q '^ready http://' "$1"; }

# Starts a long-running program detached from this script (its own session, output to its
# log, stdin from /dev/null) and records its pid.
spawn() {
  local service=$1
  shift
  : >"$(logfile "$service")"
  setsid "$@" </dev/null >>"$(logfile "$service")" 2>&1 &
  echo $! >"$(pidfile "$service")"
}

load_ports() {
  [ -f "$STATE/ports.env" ] || die "no stack in $STATE (run: scripts/stack.sh up)"
  # shellcheck disable=SC1091
  . "$STATE/ports.env"
}

# --- the services ----------------------------------------------------------------------------

# start_postgres [SERVICE]: postgres (default) or postgres-standby. Both run with
# wal_level=logical: either can be the primary a standby follows.
start_postgres() {
  local service=${1:-postgres} dir pid port
  dir=$(cat "$STATE/$service.dir")
  port=$PG_PORT
  [ "$service" = postgres ] || port=$PG_STANDBY_PORT
  pg_start "$dir" "$port" "-c wal_level=logical" || fail_service "$service" "pg_ctl start failed"
  pid=$(pg_pid "$dir")
  [ -n "$pid" ] || fail_service "$service" "no postmaster.pid after start"
  echo "$pid" >"$(pidfile "$service")"
  log "$service 127.0.0.1:$port (pid $pid)"
}

start_memcached() {
  local as_user=()
  [ "$(id -u)" -ne 0 ] || as_user=(-u root)
  spawn memcached memcached "${as_user[@]}" -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 64 -c 1024
  wait_until 10 memcached "$(cat "$(pidfile memcached)")" port_in_use "$MC_PORT"
  log "memcached  127.0.0.1:$MC_PORT (pid $(cat "$(pidfile memcached)"))"
}

start_s3() {
  # The key pair is handed over in the environment, never on the command line.
  (
    # shellcheck disable=SC1091
    . "$STATE/s3.env"
    export IMGCLOUD_S3_ACCESS_KEY IMGCLOUD_S3_SECRET_KEY
    spawn s3 "$BIN/imgcloud-server" s3 --listen "127.0.0.1:$S3_PORT" --data "$STATE/s3" \
      --bucket "$BUCKET"
  )
  wait_until 30 s3 "$(cat "$(pidfile s3)")" log_has_ready "$(logfile s3)"
  log "s3         127.0.0.1:$S3_PORT (pid $(cat "$(pidfile s3)"))"
}

start_replica() {
  local n=$1 port
  port=$(eval echo "\$REPLICA_${n}_PORT")
  spawn "replica-$n" "$BIN/imgcloud-server" --config "$STATE/replica-$n.toml"
  wait_until 60 "replica-$n" "$(cat "$(pidfile "replica-$n")")" http_ok "http://127.0.0.1:$port/readyz"
  log "replica-$n  127.0.0.1:$port (pid $(cat "$(pidfile "replica-$n")"))"
}

start_nginx() {
  local prefix=$STATE/nginx
  "$NGINX" -t -q -p "$prefix" -e "$STATE/logs/nginx-error.log" -c "$prefix/nginx.conf" \
    >"$(logfile nginx)" 2>&1 || fail_service nginx "configuration test failed"
  spawn nginx "$NGINX" -p "$prefix" -e "$STATE/logs/nginx-error.log" -c "$prefix/nginx.conf"
  wait_until 10 nginx "$(cat "$(pidfile nginx)")" port_in_use "$LB_PORT"
  wait_until 10 nginx "$(cat "$(pidfile nginx)")" port_in_use "$CDN_PORT"
  log "nginx      LB 127.0.0.1:$LB_PORT, CDN 127.0.0.1:$CDN_PORT (pid $(cat "$(pidfile nginx)"))"
}

start_service() {
  case $1 in
    postgres) start_postgres ;;
    postgres-standby) start_postgres postgres-standby ;;
    memcached) start_memcached ;;
    s3) start_s3 ;;
    replica-1) start_replica 1 ;;
    replica-2) start_replica 2 ;;
    nginx) start_nginx ;;
    *) die "unknown service $1 (one of: ${SERVICES[*]})" ;;
  esac
}

# Stops SERVICE by its pid file and waits until it is gone. MODE: term (default) or kill.
stop_service() {
  local service=$1 mode=${2:-term} pid i
  if [ "$service" = postgres ] || [ "$service" = postgres-standby ]; then
    local dir
    dir=$(cat "$STATE/$service.dir" 2>/dev/null || true)
    if [ -n "$dir" ] && [ -d "$dir" ]; then
      if [ "$mode" = kill ]; then pg_stop "$dir" immediate; else pg_stop "$dir" fast; fi
    fi
    rm -f "$(pidfile "$service")"
    return 0
  fi
  pid=$(live_pid "$service" || true)
  if [ -n "$pid" ]; then
    if [ "$mode" = kill ]; then kill -KILL "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
    for i in $(seq 1 300); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "$service (pid $pid) did not stop in 30 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$(pidfile "$service")"
}

stop_all() {
  local service i
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
    service=${SERVICES[$i]}
    stop_service "$service" term
  done
}

any_alive() {
  local service
  for service in "${SERVICES[@]}"; do
    live_pid "$service" >/dev/null && return 0
  done
  return 1
}

# --- configuration files ---------------------------------------------------------------------

write_replica_config() {
  local n=$1 with_cache=$2 port file
  port=$(eval echo "\$REPLICA_${n}_PORT")
  file=$STATE/replica-$n.toml
  # shellcheck disable=SC1091
  . "$STATE/s3.env"
  (
    umask 077
    cat >"$file" <<EOF
# imgcloud replica $n of the local stack (generated by scripts/stack.sh; holds secrets).
listen = "127.0.0.1:$port"
public_url = "http://127.0.0.1:$LB_PORT"
database_url = "postgres://imgcloud:$PG_PASSWORD@127.0.0.1:$PG_PORT/imgcloud"
# the load balancer (it appends the client's address to X-Forwarded-For)
trusted_proxies = ["127.0.0.1"]

[s3]
endpoint = "http://127.0.0.1:$S3_PORT"
region = "us-east-1"
bucket = "$BUCKET"
access_key = "$IMGCLOUD_S3_ACCESS_KEY"
secret_key = "$IMGCLOUD_S3_SECRET_KEY"
path_style = true

[cdn]
base_url = "http://127.0.0.1:$CDN_PORT/$BUCKET"
# tell the nginx CDN at once when a link stops serving (it revalidates within 30 s anyway)
purge = "refresh"
EOF
    if [ "$with_cache" = 1 ]; then
      printf '\n[cache]\nurl = "memcached://127.0.0.1:%s"\n' "$MC_PORT" >>"$file"
    fi
  )
}

render() {
  # render TEMPLATE OUT: fills the @NAME@ placeholders of deploy/nginx templates.
  local user_line="# (not root: nginx runs as the invoking user)"
  [ "$(id -u)" -ne 0 ] || user_line="user root;"
  sed -e "s|@USER_LINE@|$user_line|" \
    -e "s|@PREFIX@|$STATE/nginx|g" \
    -e "s|@LOGS@|$STATE/logs|g" \
    -e "s|@LB_LISTEN@|127.0.0.1:$LB_PORT|g" \
    -e "s|@CDN_LISTEN@|127.0.0.1:$CDN_PORT|g" \
    -e "s|@CEILING_LISTEN@|127.0.0.1:$CEILING_PORT|g" \
    -e "s|@S3_ORIGIN@|127.0.0.1:$S3_PORT|g" \
    -e "s|@BUCKET@|$BUCKET|g" \
    -e "s|@UPSTREAM_SERVERS@|server 127.0.0.1:$REPLICA_1_PORT max_fails=1 fail_timeout=3s;\n    server 127.0.0.1:$REPLICA_2_PORT max_fails=1 fail_timeout=3s;|" \
    "$1" >"$2"
}

write_nginx_config() {
  mkdir -p "$STATE/nginx/tmp" "$STATE/nginx/cache" "$STATE/nginx/ceiling"
  render "$root/deploy/nginx/nginx.conf.template" "$STATE/nginx/nginx.conf"
  render "$root/deploy/nginx/lb.conf.template" "$STATE/nginx/lb.conf"
  render "$root/deploy/nginx/cdn.conf.template" "$STATE/nginx/cdn.conf"
}

# --- commands --------------------------------------------------------------------------------

find_binaries() {
  if [ -n "${IMGCLOUD_BIN_DIR:-}" ]; then
    BIN=$IMGCLOUD_BIN_DIR
  else
    log "building imgcloud-server (release)"
    (cd "$root" && cargo build --release -q -p imgcloud-server) >&2 ||
      die "cargo build --release -p imgcloud-server failed"
    BIN=${CARGO_TARGET_DIR:-$root/target}/release
  fi
  [ -x "$BIN/imgcloud-server" ] || die "no executable imgcloud-server in $BIN (IMGCLOUD_BIN_DIR)"
  BIN=$(cd "$BIN" && pwd)
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

install_packages() {
  local pkgs=()
  command -v memcached >/dev/null 2>&1 || pkgs+=(memcached)
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || pkgs+=(nginx-light)
  command -v curl >/dev/null 2>&1 || pkgs+=(curl)
  [ ${#pkgs[@]} -eq 0 ] || apt_install_missing "${pkgs[@]}"
  pg_bindir >/dev/null
}

cmd_up() {
  if [ -d "$STATE" ]; then
    if any_alive; then
      echo "error: a stack is already running in $STATE (scripts/stack.sh status; scripts/stack.sh down)" >&2
      exit 1
    fi
    log "removing the leftovers of a stopped stack in $STATE"
    cleanup_state
  fi
  install_packages
  find_binaries
  STACK_UP_IN_PROGRESS=1

  (umask 077 && mkdir -p "$STATE")
  mkdir -p "$STATE/pids" "$STATE/logs" "$STATE/s3"
  # PostgreSQL must reach its directory: as root it runs as postgres, so its cluster lives in
  # a directory of its own under /tmp (a runtime dir like /run/user/0 is closed to it).
  local pgdir service
  local pg_services=(postgres)
  [ -z "${IMGCLOUD_STACK_STANDBY:-}" ] || pg_services+=(postgres-standby)
  for service in "${pg_services[@]}"; do
    if [ "$(id -u)" -eq 0 ]; then
      pgdir=$(mktemp -d "${TMPDIR:-/tmp}/imgcloud-stack-pg.XXXXXX")
    else
      pgdir=$STATE/$service
      mkdir -p "$pgdir"
    fi
    echo "$pgdir" >"$STATE/$service.dir"
  done
  pgdir=$(cat "$STATE/postgres.dir")

  local taken=()
  for name in PG_PORT PG_STANDBY_PORT MC_PORT S3_PORT REPLICA_1_PORT REPLICA_2_PORT LB_PORT CDN_PORT \
    CEILING_PORT; do
    port=$(pick_free_port "${taken[@]}")
    [ -n "$port" ] || die "no free loopback port"
    taken+=("$port")
    printf -v "$name" '%s' "$port"
  done
  PG_PASSWORD=$(random_secret 32)
  PG_STANDBY_PASSWORD=$(random_secret 32)
  (
    umask 077
    {
      for name in PG_PORT PG_STANDBY_PORT MC_PORT S3_PORT REPLICA_1_PORT REPLICA_2_PORT LB_PORT \
        CDN_PORT CEILING_PORT PG_PASSWORD PG_STANDBY_PASSWORD; do
        printf '%s=%s\n' "$name" "${!name}"
      done
      printf 'BIN=%s\nNGINX=%s\n' "$BIN" "$NGINX"
    } >"$STATE/ports.env"
    printf 'IMGCLOUD_S3_ACCESS_KEY=IC%s\nIMGCLOUD_S3_SECRET_KEY=%s\n' \
      "$(random_secret 18 | tr 'a-z' 'A-Z')" "$(random_secret 40)" >"$STATE/s3.env"
  )

  log "initdb"
  pg_init "$pgdir" || fail_service postgres "initdb failed"
  start_postgres
  pg_create_db "$pgdir" "$PG_PORT" imgcloud "$PG_PASSWORD" imgcloud REPLICATION >/dev/null ||
    fail_service postgres "cannot create the imgcloud role and database"
  local standby_line=""
  if [ -n "${IMGCLOUD_STACK_STANDBY:-}" ]; then
    pg_init "$(cat "$STATE/postgres-standby.dir")" || fail_service postgres-standby "initdb failed"
    start_postgres postgres-standby
    pg_create_db "$(cat "$STATE/postgres-standby.dir")" "$PG_STANDBY_PORT" imgcloud \
      "$PG_STANDBY_PASSWORD" imgcloud SUPERUSER >/dev/null ||
      fail_service postgres-standby "cannot create the imgcloud role and database"
    standby_line="IMGCLOUD_STACK_STANDBY_DATABASE_URL=postgres://imgcloud:$PG_STANDBY_PASSWORD@127.0.0.1:$PG_STANDBY_PORT/imgcloud"
  fi
  start_memcached
  start_s3

  # The [cache] url key needs a server that knows memcached; an older one refuses the key, so
  # fall back to its in-process cache (and say so).
  local with_cache=1
  [ -z "${IMGCLOUD_STACK_NO_MEMCACHED:-}" ] || with_cache=0
  write_replica_config 1 $with_cache
  write_replica_config 2 $with_cache
  spawn replica-1 "$BIN/imgcloud-server" --config "$STATE/replica-1.toml"
  local pid1
  pid1=$(cat "$(pidfile replica-1)")
  local i
  for i in $(seq 1 600); do
    http_ok "http://127.0.0.1:$REPLICA_1_PORT/readyz" 2>/dev/null && break
    kill -0 "$pid1" 2>/dev/null || break
    sleep 0.1
  done
  if ! kill -0 "$pid1" 2>/dev/null && grep -q 'unknown field `url`' "$(logfile replica-1)"; then
    log "WARNING: this imgcloud-server has no [cache] url (memcached): replicas use their in-process cache"
    write_replica_config 1 0
    write_replica_config 2 0
    start_replica 1
  else
    wait_until 60 replica-1 "$pid1" http_ok "http://127.0.0.1:$REPLICA_1_PORT/readyz"
    log "replica-1  127.0.0.1:$REPLICA_1_PORT (pid $pid1)"
  fi
  start_replica 2

  write_nginx_config
  start_nginx

  # The demo user: a random password (0600 file, never printed) and a first token.
  (umask 077 && random_secret 24 >"$STATE/demo-password")
  local token
  if token=$("$BIN/imgcloud-server" --config "$STATE/replica-1.toml" user add demo \
    --password-stdin <"$STATE/demo-password" 2>"$STATE/logs/user-add.log"); then
    :
  elif grep -q "unexpected argument '--password-stdin'" "$STATE/logs/user-add.log"; then
    log "WARNING: this imgcloud-server has no --password-stdin: the demo user has a token, no password"
    token=$("$BIN/imgcloud-server" --config "$STATE/replica-1.toml" user add demo \
      2>"$STATE/logs/user-add.log") || fail_service user-add "imgcloud-server user add demo failed"
  else
    fail_service user-add "imgcloud-server user add demo failed"
  fi
  token=$(printf '%s\n' "$token" | tail -n 1)
  [ -n "$token" ] || fail_service user-add "imgcloud-server user add demo printed no token"

  (
    umask 077
    cat >"$STATE/stack.env" <<EOF
IMGCLOUD_SERVER=http://127.0.0.1:$LB_PORT
IMGCLOUD_TOKEN=$token
IMGCLOUD_STACK_DIR=$STATE
IMGCLOUD_STACK_CDN=http://127.0.0.1:$CDN_PORT
IMGCLOUD_STACK_S3=http://127.0.0.1:$S3_PORT
IMGCLOUD_STACK_DATABASE_URL=postgres://imgcloud:$PG_PASSWORD@127.0.0.1:$PG_PORT/imgcloud
IMGCLOUD_STACK_MEMCACHED=127.0.0.1:$MC_PORT
IMGCLOUD_STACK_REPLICAS=http://127.0.0.1:$REPLICA_1_PORT,http://127.0.0.1:$REPLICA_2_PORT
IMGCLOUD_STACK_DEMO_USER=demo
EOF
    [ -z "$standby_line" ] || echo "$standby_line" >>"$STATE/stack.env"
  )
  unset STACK_UP_IN_PROGRESS
  log "stack up in $STATE; use it with: set -a; . $STATE/stack.env; set +a"
  cat "$STATE/stack.env"
}

cleanup_state() {
  local pgdir service
  for service in postgres postgres-standby; do
    pgdir=$(cat "$STATE/$service.dir" 2>/dev/null || true)
    # Only ever delete the cluster directories this script created.
    case $pgdir in
      "$STATE/$service" | */imgcloud-stack-pg.*) rm -rf "$pgdir" ;;
    esac
  done
  rm -rf "$STATE"
}

cmd_down() {
  if [ ! -d "$STATE" ]; then
    log "no stack in $STATE"
    return 0
  fi
  if [ -f "$STATE/ports.env" ]; then load_ports; fi
  stop_all
  cleanup_state
  log "stack down"
}

cmd_status() {
  [ -d "$STATE/pids" ] || {
    echo "no stack in $STATE"
    exit 1
  }
  local service pid down=0
  for service in "${SERVICES[@]}"; do
    # The standby cluster exists only in stacks brought up with IMGCLOUD_STACK_STANDBY=1.
    [ "$service" != postgres-standby ] || [ -f "$STATE/$service.dir" ] || continue
    if [ "$service" = postgres ] || [ "$service" = postgres-standby ]; then
      pid=$(pg_pid "$(cat "$STATE/$service.dir" 2>/dev/null)")
      if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        echo "$service up $pid"
        continue
      fi
      # kill -0 fails for another user's process when not root: ask /proc.
      if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
        echo "$service up $pid"
        continue
      fi
    elif pid=$(live_pid "$service"); then
      echo "$service up $pid"
      continue
    fi
    echo "$service down"
    down=1
  done
  [ $down -eq 0 ] || exit 3
}

cmd_stop() {
  local service=${1:-} mode=term
  [ -n "$service" ] || usage
  [ "${2:-}" != "--kill" ] || mode=kill
  case " ${SERVICES[*]} " in *" $service "*) ;; *) die "unknown service $service (one of: ${SERVICES[*]})" ;; esac
  load_ports
  stop_service "$service" "$mode"
  log "$service stopped"
}

cmd_start() {
  local service=${1:-}
  [ -n "$service" ] || usage
  case " ${SERVICES[*]} " in *" $service "*) ;; *) die "unknown service $service (one of: ${SERVICES[*]})" ;; esac
  load_ports
  if live_pid "$service" >/dev/null; then
    log "$service is already running"
    return 0
  fi
  if [ "$service" = postgres ] || [ "$service" = postgres-standby ]; then
    [ -f "$STATE/$service.dir" ] || die "this stack has no $service (IMGCLOUD_STACK_STANDBY=1 at up)"
    if [ -n "$(pg_pid "$(cat "$STATE/$service.dir")")" ]; then
      log "$service is already running"
      return 0
    fi
  fi
  start_service "$service"
}

case ${1:-} in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  stop) shift; cmd_stop "$@" ;;
  start) shift; cmd_start "$@" ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
