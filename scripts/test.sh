#!/usr/bin/env bash
# Set up (if needed) and run every test through ctest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KDTEXT_PYTHON_TESTS=1 "$ROOT/scripts/setup.sh"
BUILD=${KDTEXT_BUILD_DIR:-$ROOT/build}
# The fuzz targets (clang) are built here, with every core, rather than inside
# ctest's fuzz.brief, where their build would hold one of ctest's slots.
"$ROOT/scripts/fuzz.sh" --build-dir "$BUILD/fuzz" --build-only ||
  echo "[test] the fuzz targets did not build; ctest's fuzz.brief says why" >&2
ctest --test-dir "$BUILD" -j "${KDTEXT_JOBS:-$(nproc)}" --output-on-failure "$@"
