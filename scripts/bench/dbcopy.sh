#!/usr/bin/env bash
# Database copy benchmark.
#
# 1. Backup and restore of a library of BENCH_IMAGES image rows (default 100,000) on both
#    backends: `imgcloud-server backup`, `backup verify` and `restore`, and, on the same
#    PostgreSQL database in the same run, the peer: `pg_dump -Fc` and `pg_restore` into an empty
#    database. Prints times, sizes and the ratios.
# 2. Replication lag of a standby under an upload load, on the production stack with a second
#    PostgreSQL (scripts/stack.sh, IMGCLOUD_STACK_STANDBY=1): BENCH_UPLOADS (1,500) images uploaded
#    through the load balancer (8 at a time). Every 100 ms a probe (server/examples/lag-probe.rs)
#    reads the newest change on the primary and times how long until the standby has it (the
#    end-to-end lag); /metrics of a replica is sampled too (imgcloud_standby_lag_seconds/_bytes:
#    PostgreSQL's own replay lag and the WAL not yet confirmed). Prints p50/p99/max of each.
#
#   scripts/bench/dbcopy.sh
#   BENCH_IMAGES=20000 BENCH_UPLOADS=300 scripts/bench/dbcopy.sh
#
# Everything runs on private clusters and a stack in a temp dir, removed at the end.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
count=${BENCH_IMAGES:-100000}
uploads=${BENCH_UPLOADS:-1500}
# shellcheck source=../lib/common.sh
. "$repo/scripts/lib/common.sh"
# shellcheck source=../lib/postgres.sh
. "$repo/scripts/lib/postgres.sh"

cd "$repo"
log "building release binaries"
cargo build --release --quiet -p imgcloud-server -p imgcloud-tests --bin imgcloud-server \
  --bin bench-api --example seed-library --example lag-probe
target=${CARGO_TARGET_DIR:-$repo/target}/release
server="$target/imgcloud-server"
seed="$target/examples/seed-library"
bindir=$(pg_bindir)

work=$(mktemp -d "${TMPDIR:-/tmp}/imgcloud-bench-dbcopy.XXXXXX")
chmod 0755 "$work"
pgdir=""
stack_up=""
cleanup() {
  [ -z "$stack_up" ] || IMGCLOUD_STACK_DIR="$work/stack" "$repo/scripts/stack.sh" down >/dev/null 2>&1 || true
  [ -z "$pgdir" ] || { pg_stop "$pgdir" fast || true; rm -rf "$pgdir"; }
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
size() { stat -c %s "$1"; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# imgcloud-server --config needs object store settings it never uses here.
config="$work/server.toml"
cat >"$config" <<'TOML'
database_url = "set by IMGCLOUD_DATABASE_URL"
[s3]
endpoint = "http://127.0.0.1:9"
region = "us-east-1"
bucket = "unused"
path_style = true
access_key = ""
secret_key = ""
[cdn]
base_url = "https://cdn.invalid"
TOML
export IMGCLOUD_S3_ACCESS_KEY=unused IMGCLOUD_S3_SECRET_KEY=unused-unused

# --- PostgreSQL ------------------------------------------------------------------------------
if [ "$(id -u)" -eq 0 ]; then
  pgdir=$(mktemp -d "${TMPDIR:-/tmp}/imgcloud-bench-pg.XXXXXX")
else
  pgdir="$work/pg"
  mkdir -p "$pgdir"
fi
port=$(pick_free_port)
password=$(random_secret 24)
log "PostgreSQL ($("$bindir/postgres" --version)) on 127.0.0.1:$port"
pg_init "$pgdir"
pg_start "$pgdir" "$port"
pg_create_db "$pgdir" "$port" imgcloud "$password" imgcloud >/dev/null
for db in imgcloud_restored imgcloud_peer; do
  pg_as_owner "$bindir/psql" -X -q -h "$pgdir/sock" -p "$port" -U postgres -d postgres \
    -c "CREATE DATABASE $db OWNER imgcloud" >/dev/null
done
pg_url() { echo "postgres://imgcloud:$password@127.0.0.1:$port/$1"; }
rows() { # DB: images in it
  PGPASSWORD=$password "$bindir/psql" -X -qtA -h 127.0.0.1 -p "$port" -U imgcloud -d "$1" \
    -c "SELECT count(*) FROM images"
}

log "seeding $count images into PostgreSQL"
IMGCLOUD_DATABASE_URL=$(pg_url imgcloud) "$seed" "$count"
db_bytes=$(PGPASSWORD=$password "$bindir/psql" -X -qtA -h 127.0.0.1 -p "$port" -U imgcloud \
  -d imgcloud -c "SELECT pg_database_size('imgcloud')")

log "imgcloud-server backup (PostgreSQL)"
t0=$(now)
file=$(IMGCLOUD_DATABASE_URL=$(pg_url imgcloud) "$server" --config "$config" backup \
  --to "$work/pg-backups" --keep-all)
t1=$(now)
"$server" backup verify "$file" >&2
t2=$(now)
ours_backup=$(secs "$t0" "$t1")
ours_verify=$(secs "$t1" "$t2")
ours_size=$(size "$file")

log "pg_dump -Fc (the peer)"
t0=$(now)
PGPASSWORD=$password "$bindir/pg_dump" -Fc -h 127.0.0.1 -p "$port" -U imgcloud -d imgcloud \
  -f "$work/imgcloud.dump"
t1=$(now)
peer_backup=$(secs "$t0" "$t1")
peer_size=$(size "$work/imgcloud.dump")

log "imgcloud-server restore into an empty database"
t0=$(now)
IMGCLOUD_DATABASE_URL=$(pg_url imgcloud_restored) "$server" --config "$config" restore "$file" >&2
t1=$(now)
ours_restore=$(secs "$t0" "$t1")

log "pg_restore into an empty database (the peer)"
t0=$(now)
PGPASSWORD=$password "$bindir/pg_restore" --no-owner -h 127.0.0.1 -p "$port" -U imgcloud \
  -d imgcloud_peer "$work/imgcloud.dump"
t1=$(now)
peer_restore=$(secs "$t0" "$t1")
for db in imgcloud_restored imgcloud_peer; do
  n=$(rows "$db")
  [ "$n" -eq "$count" ] || die "$db holds $n images after the restore, not $count"
done

# --- SQLite ----------------------------------------------------------------------------------
sqlite_db="$work/sqlite/imgcloud.db"
mkdir -p "$work/sqlite"
log "seeding $count images into SQLite"
IMGCLOUD_DATABASE_URL="sqlite://$sqlite_db" "$seed" "$count"
sqlite_bytes=$(size "$sqlite_db")
log "imgcloud-server backup (SQLite)"
t0=$(now)
sfile=$(IMGCLOUD_DATABASE_URL="sqlite://$sqlite_db" "$server" --config "$config" backup \
  --to "$work/sqlite-backups" --keep-all)
t1=$(now)
"$server" backup verify "$sfile" >&2
t2=$(now)
IMGCLOUD_DATABASE_URL="sqlite://$work/sqlite/restored.db" "$server" --config "$config" \
  restore "$sfile" >&2
t3=$(now)
s_backup=$(secs "$t0" "$t1")
s_verify=$(secs "$t1" "$t2")
s_restore=$(secs "$t2" "$t3")
s_size=$(size "$sfile")

pg_stop "$pgdir" fast
rm -rf "$pgdir"
pgdir=""

# --- replication lag under an upload load ----------------------------------------------------
log "starting the stack with a standby PostgreSQL"
export IMGCLOUD_STACK_DIR="$work/stack" IMGCLOUD_BIN_DIR="$target"
stack_up=1
IMGCLOUD_STACK_STANDBY=1 "$repo/scripts/stack.sh" up >"$work/stack.env" 2>"$work/stack.err" || {
  cat "$work/stack.err" >&2
  die "stack.sh up failed"
}
set -a
# shellcheck disable=SC1091
source <(grep -E '^[A-Z_][A-Z0-9_]*=' "$work/stack.env")
set +a
unset IMGCLOUD_DATABASE_URL
replica=${IMGCLOUD_STACK_REPLICAS%%,*}
IMGCLOUD_STANDBY_DATABASE_URL=$IMGCLOUD_STACK_STANDBY_DATABASE_URL \
  "$server" --config "$work/stack/replica-1.toml" standby setup >&2

log "uploading $uploads images while sampling the standby's lag every 100 ms"
samples="$work/lag.txt"
: >"$samples"
"$target/bench-api" seed "$uploads" --no-wait >"$work/seed.out" 2>&1 &
load=$!
# The probe runs until its stdin closes, i.e. until the load is over.
IMGCLOUD_PRIMARY_DATABASE_URL=$IMGCLOUD_STACK_DATABASE_URL \
  IMGCLOUD_STANDBY_DATABASE_URL=$IMGCLOUD_STACK_STANDBY_DATABASE_URL \
  "$target/examples/lag-probe" >"$work/probe.out" 2>&1 \
  < <(while kill -0 "$load" 2>/dev/null; do sleep 0.1; done) &
probe=$!
t0=$(now)
while kill -0 "$load" 2>/dev/null; do
  curl -fsS --max-time 2 "$replica/metrics" 2>/dev/null | awk '
    /^imgcloud_standby_lag_seconds / { s = $2 }
    /^imgcloud_standby_lag_bytes / { b = $2 }
    END { if (b != "") print ((s == "" || b == 0) ? "nan" : s), b }' >>"$samples" || true
  sleep 0.1
done
wait "$load" || { cat "$work/seed.out" >&2; die "the upload load failed"; }
t1=$(now)
wait "$probe" || { cat "$work/probe.out" >&2; die "the lag probe failed"; }
probe_line=$(tail -n 1 "$work/probe.out")
load_secs=$(secs "$t0" "$t1")
status=$(IMGCLOUD_STANDBY_DATABASE_URL=$IMGCLOUD_STACK_STANDBY_DATABASE_URL \
  "$server" --config "$work/stack/replica-1.toml" standby status)
percentiles() { # COLUMN: p50 p99 max over the samples
  awk -v c="$1" '$c != "nan" { print $c }' "$samples" | sort -g | awk '
    { v[NR] = $1 }
    END {
      if (NR == 0) { print "- - -"; exit }
      i50 = int(0.50 * NR + 0.5); if (i50 < 1) i50 = 1
      i99 = int(0.99 * NR + 0.5); if (i99 < 1) i99 = 1; if (i99 > NR) i99 = NR
      print v[i50], v[i99], v[NR]
    }'
}
read -r lag_s50 lag_s99 lag_smax <<<"$(percentiles 1)"
# Samples taken while WAL was pending in which PostgreSQL reported a replay lag at all.
reported=$(awk '$1 != "nan"' "$samples" | wc -l)
read -r lag_b50 lag_b99 lag_bmax <<<"$(percentiles 2)"
nsamples=$(wc -l <"$samples")
ms() { awk -v s="$1" 'BEGIN { if (s == "-") print "-"; else printf "%.1f ms", s * 1000 }'; }

echo
echo "database copy benchmark: $count images ($(nproc) cores)"
echo
echo "| backend | step | imgcloud | peer | imgcloud / peer |"
echo "|---|---|---|---|---|"
echo "| PostgreSQL ($(mib "$db_bytes") on disk) | backup | ${ours_backup} s, $(mib "$ours_size") | pg_dump -Fc ${peer_backup} s, $(mib "$peer_size") | $(ratio "$ours_backup" "$peer_backup") |"
echo "| PostgreSQL | verify (read back, every check) | ${ours_verify} s | - | - |"
echo "| PostgreSQL | restore into an empty database | ${ours_restore} s | pg_restore ${peer_restore} s | $(ratio "$ours_restore" "$peer_restore") |"
echo "| SQLite ($(mib "$sqlite_bytes")) | backup | ${s_backup} s, $(mib "$s_size") | - | - |"
echo "| SQLite | verify | ${s_verify} s | - | - |"
echo "| SQLite | restore | ${s_restore} s | - | - |"
echo
field() { printf '%s\n' "$probe_line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
echo "replication lag while $uploads images were uploaded in ${load_secs} s:"
echo "  end to end (a change seen on the primary, then read on the standby; $(field samples) probes):"
echo "    p50 $(field p50_ms) ms, p99 $(field p99_ms) ms, max $(field max_ms) ms"
echo "  /metrics ($nsamples samples; PostgreSQL reported a replay lag in $reported while WAL was pending): p50 $(ms "$lag_s50"), p99 $(ms "$lag_s99"),"
echo "    max $(ms "$lag_smax"); WAL not yet confirmed p50 ${lag_b50} B, p99 ${lag_b99} B, max ${lag_bmax} B"
echo "standby status after the load:"
printf '%s\n' "$status" | sed 's/^/  /'
