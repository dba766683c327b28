#!/usr/bin/env bash
# The OpenAPI-driven API fuzzer: Schemathesis generates requests for every operation of the real
# server's /openapi.json (examples, coverage, fuzzing and stateful phases) and sends them with a
# real token to a fresh embedded cloud seeded with real images, an album and share links.
#
#   scripts/api-fuzz.sh              50 examples per operation (what scripts/test.sh runs)
#   API_FUZZ_EXAMPLES=500 scripts/api-fuzz.sh
#
# It fails on any 5xx (but the 501 oEmbed must answer for a format other than json), any answer
# whose body breaks its schema, an undocumented status code or content type, a panic in the
# server's log, or the server dying. Schemathesis (pinned) is installed on first use into
# ~/.cache/imgcloud/schemathesis. The server binary comes from IMGCLOUD_BIN_DIR (default: the
# debug build in CARGO_TARGET_DIR).
set -euo pipefail

# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

target=${CARGO_TARGET_DIR:-$HOME/.cache/imgcloud/target}
bin=${IMGCLOUD_BIN_DIR:-$target/debug}
[ -x "$bin/imgcloud-server" ] || die "no $bin/imgcloud-server: run cargo build --bins first"

venv=${IMGCLOUD_SCHEMATHESIS_DIR:-$HOME/.cache/imgcloud/schemathesis}
version=4.32.5
if ! "$venv/bin/st" --version 2>/dev/null | grep -q "$version"; then
  pip_venv_install "$venv" "schemathesis==$version"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/imgcloud-api-fuzz.XXXXXX")
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export IMGCLOUD_CONFIG_DIR=$work/config IMGCLOUD_DATA_DIR=$work/data \
  IMGCLOUD_RUNTIME_DIR=$work/run IMGCLOUD_CACHE_DIR=$work/cache
unset IMGCLOUD_SERVER IMGCLOUD_SERVER_CONFIG IMGCLOUD_TOKEN
"$bin/imgcloud-server" --listen 127.0.0.1:0 --s3-listen 127.0.0.1:0 \
  >"$work/server.out" 2>"$work/server.log" &
pid=$!
api=""
for _ in $(seq 1 300); do
  api=$(awk '/^ready /{print $2; exit}' "$work/server.out")
  [ -n "$api" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; die "the server exited at start"; }
  sleep 0.1
done
[ -n "$api" ] || die "the server did not print ready within 30 s"

token=$("$bin/imgcloud-server" user add fuzz)
"$bin/imgcloud-server" token add fuzz --name spare >/dev/null # the token list holds two
python3 "$root/scripts/api-fuzz/seed.py" "$api" "$token" "$work"

examples=${API_FUZZ_EXAMPLES:-50}
log "schemathesis $version on $api/openapi.json, $examples examples per operation"
cd "$work"
set +e
SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$root/scripts/api-fuzz" \
  IMGCLOUD_PROTECTED_IDS=$(cat "$work/protected.txt") \
  "$venv/bin/st" run "$api/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$examples" --workers 2 --seed "${API_FUZZ_SEED:-1}" \
  --generation-database none --continue-on-failure --request-timeout 20 --no-color \
  >"$work/st.log" 2>&1
status=$?
set -e
sed -n '/SUMMARY/,$p' "$work/st.log"

failed=""
if [ "$status" -ne 0 ]; then
  cat "$work/st.log" >&2
  failed="schemathesis reported failures"
fi
if grep -q 'panicked' "$work/server.log"; then
  grep -A5 'panicked' "$work/server.log" >&2
  failed="the server panicked"
fi
kill -0 "$pid" 2>/dev/null || failed="the server died during the run"
[ -z "$failed" ] || die "API fuzz: $failed"
tested=$(grep -oE '[0-9]+ generated' "$work/st.log" | tail -1 | cut -d' ' -f1 || true)
echo "api fuzz: ${tested:-?} requests generated over every operation of /openapi.json: 0 server errors, 0 schema violations, 0 panics"
