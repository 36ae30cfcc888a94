#!/usr/bin/env bash
# Set up (if needed) and run every test through ctest.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KDTEXT_PYTHON_TESTS=1 "$ROOT/scripts/setup.sh"
BUILD=${KDTEXT_BUILD_DIR:-$ROOT/build}
ctest --test-dir "$BUILD" -j "${KDTEXT_JOBS:-$(nproc)}" --output-on-failure "$@"
