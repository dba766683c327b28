# Shared shell helpers of imgcloud's scripts (sourced, not run).
#
#   log MSG...                      "==> MSG" on stderr
#   die MSG...                      "error: MSG" on stderr, exit 1
#   apt_install_missing PKG...      apt-get install the packages dpkg does not know yet, with
#                                   retries (sudo when not root)
#   port_in_use PORT                true when something answers on 127.0.0.1:PORT
#   pick_free_port [TAKEN...]       prints a free loopback port in 15000-32767, not in TAKEN
#   random_secret [LEN]             prints LEN (default 32) random letters and digits
#   wait_ready_url PID OUT          waits up to 60 s for imgcloud-server (or imgcloudd) PID to
#                                   print "ready URL" to the file OUT and prints URL; fails with
#                                   a message when PID exits first or the time runs out
#   jpeg_decode_floor DIR           prints the seconds libjpeg-turbo's djpeg takes to decode every
#                                   *.jpg in DIR at 1/8 scale, one process per core (benchmarks)

log() { printf '==> %s\n' "$*" >&2; }

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

imgcloud_sudo() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install_missing() {
  local missing=() pkg attempt ok=""
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -gt 0 ] || return 0
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  for attempt in 1 2 3; do
    imgcloud_sudo apt-get update -qq && break
    sleep 2
  done
  for attempt in 1 2 3; do
    if imgcloud_sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
      ok=1
      break
    fi
    log "apt-get install ${missing[*]} failed (attempt $attempt), retrying"
    sleep 3
  done
  [ -n "$ok" ] || die "could not install ${missing[*]}"
}

# pip_venv_install VENV PACKAGE…: a virtualenv at VENV (python3 and its venv module installed
# first when missing) with these pinned packages, pip retried three times.
pip_venv_install() {
  local venv=$1 attempt
  shift
  log "installing $* into $venv"
  command -v python3 >/dev/null 2>&1 || apt_install_missing python3
  if ! python3 -m venv "$venv" 2>/dev/null; then
    apt_install_missing python3-venv # Debian's python3 keeps venv apart
    python3 -m venv "$venv"
  fi
  for attempt in 1 2 3; do
    "$venv/bin/pip" install -q --disable-pip-version-check "$@" && return 0
    log "pip install failed (attempt $attempt), retrying"
    sleep 3
  done
  die "could not install $*"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ports are picked below the kernel's ephemeral range, where no outgoing connection can hold
# one (a listener's bind would fail with "Address already in use" though nothing listens).
pick_free_port() {
  local port taken attempt low=32768
  read -r low _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  [ "$low" -gt 16000 ] || low=32768
  for attempt in $(seq 1 200); do
    port=$((15000 + RANDOM % (low - 15000)))
    for taken in "$@"; do
      [ "$port" != "$taken" ] || continue 2
    done
    port_in_use "$port" && continue
    echo "$port"
    return 0
  done
  die "no free loopback port found"
}

random_secret() {
  local len=${1:-32} out=""
  while [ ${#out} -lt "$len" ]; do
    out+=$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  done
  printf '%s' "${out:0:$len}"
}

wait_ready_url() {
  local pid=$1 out=$2 url _
  for _ in $(seq 600); do
    url=$(sed -n 's/^ready //p' "$out" 2>/dev/null | head -n 1)
    [ -z "$url" ] || { printf '%s' "$url"; return 0; }
    kill -0 "$pid" 2>/dev/null || { printf 'error: the cloud (pid %s) exited before it was ready\n' "$pid" >&2; return 1; }
    sleep 0.1
  done
  printf 'error: the cloud (pid %s) did not print "ready <url>" within 60 s\n' "$pid" >&2
  return 1
}

# The least CPU any thumbnailer spends on these JPEGs: decoding at 1/8 scale (DC coefficients
# only) still entropy-decodes every byte. Benchmarks print it beside the peer's time.
jpeg_decode_floor() {
  local dir=$1 start
  command -v djpeg >/dev/null || die "djpeg is required (apt-get install libjpeg-turbo-progs)"
  [ -n "$(find "$dir" -maxdepth 1 -name '*.jpg' -print -quit 2>/dev/null)" ] || die "no *.jpg in $dir"
  start=$(date +%s.%N)
  find "$dir" -maxdepth 1 -name '*.jpg' -print0 |
    xargs -0 -r -P "$(nproc)" -n 16 sh -c 'for f; do djpeg -scale 1/8 -outfile /dev/null "$f" || exit 255; done' sh ||
    die "djpeg could not decode the JPEGs in $dir"
  awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'
}
