#!/bin/sh
# Build the ICE harness against pjlib, pjlib-util and pjnath from a pjproject
# tree, optionally after applying patches.
#
#   build.sh PJPROJECT_TREE BUILD_DIR [PATCH...]
#
# The tree is copied to BUILD_DIR/src (the original is never touched); each
# PATCH is applied in order with `patch -p1`, like Asterisk's
# third-party/apply_patches, but with --fuzz=0 so a stale patch fails here.
# Result: BUILD_DIR/harness.  Takes 15 to 50 s on 2 busy cores
# (ICE_HARNESS_JOBS sets make's -j, default 2).
set -eu

if [ $# -lt 2 ]; then
    echo "usage: $0 PJPROJECT_TREE BUILD_DIR [PATCH...]" >&2
    exit 2
fi
tree=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
shift 2
here=$(cd "$(dirname "$0")" && pwd)
jobs=${ICE_HARNESS_JOBS:-2}

rm -rf "$out/src"
# A full copy (about 60 MB, under a second): aconfigure writes files all over
# the tree even though only pjlib, pjlib-util and pjnath are built.
cp -a "$tree" "$out/src"
chmod -R u+w "$out/src"   # the source may be a read-only fixture
cd "$out/src"

for p in "$@"; do
    echo "applying $(basename "$p")"
    patch -p1 --fuzz=0 --no-backup-if-mismatch -s -i "$p"
done

# The ICE-relevant settings of Asterisk's third-party/pjproject/patches/
# config_site.h, so the harness exercises pjnath as Asterisk builds it.
cat > pjlib/include/pj/config_site.h <<'EOF'
#define PJ_HAS_IPV6 1
#define PJ_LOG_MAX_LEVEL 6
#define PJ_ICE_MAX_CAND 64
#define PJ_ICE_MAX_CHECKS (PJ_ICE_MAX_CAND * PJ_ICE_MAX_CAND)
#define PJ_ICE_SESS_CHECK_SRC_ADDR 0
EOF

./aconfigure --disable-ssl --disable-sound --disable-video \
    --disable-libsrtp --disable-libwebrtc --disable-upnp --disable-opus \
    --disable-speex-codec --disable-speex-aec --disable-gsm-codec \
    --disable-ilbc-codec --disable-l16-codec --disable-g722-codec \
    --disable-g7221-codec --disable-resample --disable-libyuv \
    --disable-ffmpeg --disable-openh264 --disable-v4l2 --disable-sdl \
    --disable-bcg729 --disable-silk --disable-opencore-amr \
    > "$out/configure.log" 2>&1 || {
    tail -20 "$out/configure.log" >&2
    exit 1
}

PJDIR=$out/src
export PJDIR
for d in pjlib pjlib-util pjnath; do
    make -s -j"$jobs" -C "$d/build" lib > "$out/make-$d.log" 2>&1 || {
        tail -30 "$out/make-$d.log" >&2
        exit 1
    }
done

make -s -C "$here" -f Makefile PJDIR="$PJDIR" OUT="$out" > "$out/make-harness.log" 2>&1 || {
    cat "$out/make-harness.log" >&2
    exit 1
}
echo "built $out/harness"
