#!/usr/bin/env bash
# Runs one Python reference test (ctest calls this). The interpreter is
# $KDTEXT_PYTHON, else the one scripts/setup.sh recorded in the build
# directory; without one the test reports itself skipped (exit 77).
set -euo pipefail
PY=${KDTEXT_PYTHON:-$(cat "$KDTEXT_BIN_DIR/../.kdtext-python" 2>/dev/null || true)}
if [ -z "$PY" ] || [ ! -x "$PY" ]; then
  echo "SKIP: no Python with transformers (run scripts/test.sh, or set KDTEXT_PYTHON)"
  exit 77
fi
cd "$(dirname "${BASH_SOURCE[0]}")"
exec "$PY" "$@"
