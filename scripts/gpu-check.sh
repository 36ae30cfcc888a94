#!/usr/bin/env bash
# The GPU check: kdtext's device tests, then training and inference speed on the GPU against
# transformers eager (bench/gpu_check.py says what is measured), written to OUT/gpu-check.json
# and OUT/gpu-check.md. Made for a machine with an NVIDIA driver and python's torch but none of
# our Debian packages and no network: run it inside a bundle (scripts/bundle.sh), where it lies
# beside run.sh. Run from the repository, it makes the bundle first (build/bundle).
#   gpu-check.sh [--out DIR] [--device auto|cuda|cpu] [--dry-run] [--tests FILTER] [--skip-tests]
# Without a GPU (or with --device cpu) it is a dry run: the same route, small, on the CPU.
# Python: $KDTEXT_PYTHON, else python3 (it must import torch; transformers for the comparison).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ ! -x "$HERE/run.sh" ]; then  # in the repository: bundle first
  "$HERE/bundle.sh" -o "$HERE/../build/bundle" >&2
  exec "$HERE/../build/bundle/gpu-check.sh" "$@"
fi
OUT=gpu-check
ARGS=()
while [ $# -gt 0 ]; do
  case $1 in
    --out|-o) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
PY=${KDTEXT_PYTHON:-python3}
if [ -z "${KDTEXT_TORCH_LIB:-}" ]; then
  KDTEXT_TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))') ||
    { echo "gpu-check.sh: $PY cannot import torch (set KDTEXT_PYTHON or KDTEXT_TORCH_LIB)" >&2; exit 2; }
fi
export KDTEXT_TORCH_LIB KDTEXT_PYTHON=$PY
mkdir -p "$OUT"
exec "$PY" -u "$HERE/bench/gpu_check.py" --out "$OUT" ${ARGS[@]+"${ARGS[@]}"}
