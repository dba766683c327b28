#!/usr/bin/env bash
# Which JPEG decoder the server's derivative service uses, by measurement: the pure-Rust
# candidates (zune-jpeg, jpeg-decoder with IDCT scaling) against libjpeg-turbo's `djpeg` with
# its SIMD (NASM-built, the reference) and without it (JSIMD_FORCENONE=1: the speed of a C
# build made with only a C compiler, as turbojpeg's and mozjpeg-sys's source builds are without
# NASM), all on one thread, over the upload benchmark's photos.
#
#   scripts/bench/jpeg-decoders.sh               # 40 photos of 3000×2000, quality 92
#
# Environment: BENCH_COUNT (40), BENCH_WIDTH (3000), BENCH_HEIGHT (2000), BENCH_QUALITY (92),
# BENCH_DIR (photo cache), CARGO_TARGET_DIR.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
count=${BENCH_COUNT:-40}
width=${BENCH_WIDTH:-3000}
height=${BENCH_HEIGHT:-2000}
quality=${BENCH_QUALITY:-92}
cache=${BENCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/imgcloud-bench}
photos="$cache/photos-${count}-${width}x${height}-q${quality}"

# shellcheck source=../lib/common.sh
. "$repo/scripts/lib/common.sh"
apt_install_missing libjpeg-turbo-progs

cd "$repo"
log "building the measurement (release)"
cargo build --release --quiet -p imgcloud-server --example jpeg_decoders
cargo build --release --quiet -p imgcloud-tests --bin gen-photos
target=${CARGO_TARGET_DIR:-$repo/target}/release
"$target/gen-photos" "$photos" "$count" "$width" "$height" "$quality" 1
rm -f "$photos"/*.tmp
megapixels=$(awk -v n="$count" -v w="$width" -v h="$height" 'BEGIN { print n * w * h / 1e6 }')

djpeg_time() { # label, env, scale
    local start end
    start=$(date +%s.%N)
    for f in "$photos"/photo-*.jpg; do
        env $2 djpeg -scale "$3" -outfile /dev/null "$f"
    done
    end=$(date +%s.%N)
    awk -v l="$1" -v a="$start" -v b="$end" -v n="$count" -v mp="$megapixels" \
        'BEGIN { s = b - a; printf "%-44s %7.1f ms/image %6.1f MP/s\n", l, s * 1000 / n, mp / s }'
}

echo "$count photos of ${width}×${height} (quality $quality), one thread:"
djpeg_time "djpeg (libjpeg-turbo, NASM SIMD), full size" "" 1/1
djpeg_time "djpeg (libjpeg-turbo, NASM SIMD), scale 1/2" "" 1/2
djpeg_time "djpeg without SIMD (C only), full size" "JSIMD_FORCENONE=1" 1/1
djpeg_time "djpeg without SIMD (C only), scale 1/2" "JSIMD_FORCENONE=1" 1/2
"$target/examples/jpeg_decoders" "$photos"
