#!/usr/bin/env bash
# Packs the built executables into one folder that runs on a machine with
# python's torch (LibTorch, CUDA) but none of our Debian packages and no
# network, e.g. a GPU machine for scripts/gpu-check.sh:
#   bin/                 the programs the GPU check runs (kdtext_tests and the
#                        stages with a device: preprocess, pretrain, finetune,
#                        build-student, distill, classify), stripped; the recipe,
#                        augment, import-hf and tokenize stay out (CPU-side tools,
#                        and the bundle must fit the device tool's 64 MiB)
#   lib/kdtext/          the data-parallel engines (NCCL, MPI), loaded at run time
#   lib/                 the shared libraries they need that such a machine lacks
#                        (sentencepiece, spdlog, fmt, ICU, ...), found with ldd;
#                        not glibc, libstdc++ or libgcc_s (every machine with torch
#                        has them), not LibTorch (found at run time)
#   share/kdtext/configs the presets, where the executables look for them
#   data/                the repository's small corpus and task (the tests read them)
#   bench/               the Python peers (transformers) the GPU check measures against
#   run.sh               runs a bundled program with LibTorch from KDTEXT_TORCH_LIB or
#                        python3's torch: bundle/run.sh kdtext-classify --help
#   gpu-check.sh         the GPU check (scripts/gpu-check.sh)
#   manifest.json        commit, LibTorch version built against, files and sizes
# Usage: scripts/bundle.sh [-o DIR] [--build-dir DIR]   (default: build/bundle)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$ROOT/build/bundle
BUILD=${KDTEXT_BUILD_DIR:-$ROOT/build}
LIMIT_MIB=60
die() { echo "bundle.sh: error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    -o|--output) OUT=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
BIN=$BUILD/bin
[ -x "$BIN/kdtext-classify" ] && [ -x "$BIN/kdtext_tests" ] || die "$BIN: not built (run scripts/setup.sh or scripts/test.sh first)"
PROGRAMS=()
for p in kdtext-preprocess kdtext-pretrain kdtext-finetune kdtext-build-student kdtext-distill kdtext-classify kdtext_tests; do
  [ -x "$BIN/$p" ] || die "$BIN/$p: not built"
  PROGRAMS+=("$BIN/$p")
done
command -v ldd >/dev/null && command -v strip >/dev/null || die "ldd and strip are needed (binutils, libc-bin)"

# Assemble beside the target and rename at the end: a failed run leaves an earlier bundle whole.
mkdir -p "$(dirname "$OUT")"
STAGE=$(mktemp -d "$OUT.tmp.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin" "$STAGE/lib" "$STAGE/share/kdtext" "$STAGE/bench"
for exe in "${PROGRAMS[@]}"; do strip -o "$STAGE/bin/$(basename "$exe")" "$exe"; done

# Libraries: whatever ldd resolves outside LibTorch's folders and the base system.
is_base() {
  case $(basename "$1") in
    linux-vdso*|ld-linux*|libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|libutil.so*|libstdc++.so*|libgcc_s.so*) return 0 ;;
  esac
  return 1
}
TORCH_LIB=""
for exe in "${PROGRAMS[@]}"; do
  while read -r name path; do
    [ -n "$path" ] || continue
    [ "$path" != "not" ] || die "$(basename "$exe"): $name is not found by ldd here; fix the build first"
    case $path in
      */torch/lib/libtorch_cpu.so) TORCH_LIB=$(dirname "$(readlink -f "$path")"); continue ;;
      */torch/lib/*|*/nvidia/*) continue ;;
    esac
    is_base "$path" && continue
    [ -f "$STAGE/lib/$name" ] || cp -L "$path" "$STAGE/lib/$name"
  done < <(ldd "$exe" | awk '$2 == "=>" {print $1, $3}')
done

# The data-parallel engines the executables load from ../lib/kdtext (NCCL: LibTorch's CUDA
# half comes with python's torch; MPI only where Open MPI is installed).
if [ -d "$BUILD/lib/kdtext" ]; then
  mkdir -p "$STAGE/lib/kdtext"
  cp "$BUILD"/lib/kdtext/libkdtext_engine_*.so "$STAGE/lib/kdtext/"
fi

cp -rL "$ROOT/configs" "$STAGE/share/kdtext/configs"
cp -r "$ROOT/data" "$STAGE/data"
cp "$ROOT/bench/hf_peers.py" "$ROOT/bench/gpu_check.py" "$STAGE/bench/"
cp "$ROOT/scripts/gpu-check.sh" "$STAGE/gpu-check.sh"
cat > "$STAGE/run.sh" <<'EOF'
#!/usr/bin/env bash
# Runs a bundled program: bundle/run.sh kdtext-classify -m CKPT texts.txt
# LibTorch comes from KDTEXT_TORCH_LIB, else from python3's torch (KDTEXT_PYTHON picks the python).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 PROGRAM [ARGS...]  (programs: $(ls "$HERE/bin" | tr '\n' ' '))" >&2; exit 2; }
if [ -z "${KDTEXT_TORCH_LIB:-}" ]; then
  KDTEXT_TORCH_LIB=$("${KDTEXT_PYTHON:-python3}" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null) ||
    { echo "run.sh: no LibTorch: set KDTEXT_TORCH_LIB, or give python3 a torch ($(jq -r .torch "$HERE/manifest.json" 2>/dev/null || echo 'see manifest.json'))" >&2; exit 2; }
fi
[ -f "$KDTEXT_TORCH_LIB/libtorch_cpu.so" ] || { echo "run.sh: $KDTEXT_TORCH_LIB: no libtorch_cpu.so" >&2; exit 2; }
export LD_LIBRARY_PATH=$HERE/lib:$KDTEXT_TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export KDTEXT_SOURCE_DIR=$HERE KDTEXT_BIN_DIR=$HERE/bin
prog=$1; shift
case $prog in */*) exec "$prog" "$@" ;; *) exec "$HERE/bin/$prog" "$@" ;; esac
EOF
chmod +x "$STAGE/run.sh" "$STAGE/gpu-check.sh"

TORCH_VERSION=unknown
[ -z "$TORCH_LIB" ] || [ ! -f "$TORCH_LIB/../version.py" ] || TORCH_VERSION=$(sed -n "s/^__version__ = '\(.*\)'/\1/p" "$TORCH_LIB/../version.py")
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
{
  printf '{\n  "commit": "%s",\n  "torch": "%s",\n  "built": "%s",\n  "files": {\n' "$COMMIT" "$TORCH_VERSION" "$(date -u +%FT%TZ)"
  (cd "$STAGE" && find . -type f ! -name manifest.json | sort | while read -r f; do printf '    "%s": %s,\n' "${f#./}" "$(stat -c %s "$f")"; done) | sed '$ s/,$//'
  printf '  }\n}\n'
} > "$STAGE/manifest.json"

SIZE=$(du -sb "$STAGE" | cut -f1)
[ "$SIZE" -le $((LIMIT_MIB * 1024 * 1024)) ] || die "the bundle is $((SIZE / 1024 / 1024)) MiB, over its $LIMIT_MIB MiB (see $STAGE/manifest.json)"
rm -rf "$OUT.old"
[ ! -e "$OUT" ] || mv "$OUT" "$OUT.old"
mv "$STAGE" "$OUT"
rm -rf "$OUT.old"
trap - EXIT
echo "bundle: $OUT ($((SIZE / 1024 / 1024)) MiB, $(ls "$OUT/lib" | wc -l) libraries, torch $TORCH_VERSION, commit $COMMIT)"
