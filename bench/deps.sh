#!/usr/bin/env bash
# What the benchmarks need, idempotently: kdtext built (scripts/setup.sh, with the Python
# references), Debian's fasttext, and the Python peers in kdtext's cached venv (transformers,
# onnxruntime + the ONNX exporter, textbrewer, matplotlib for the plots, ctranslate2). Pinned versions.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KDTEXT_PYTHON_TESTS=1 "$ROOT/scripts/setup.sh"
if ! command -v fasttext >/dev/null; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "[bench] installing Debian's fasttext" >&2
  $SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends fasttext
fi
PY=$(cat "${KDTEXT_BUILD_DIR:-$ROOT/build}/.kdtext-python")
PEERS=(onnxruntime==1.32.0 onnx==1.23.2 onnxscript==0.7.2 textbrewer==0.2.1.post1 matplotlib==3.11.2 ctranslate2==4.8.5)
if ! "$PY" -c "import onnxruntime, onnx, onnxscript, textbrewer, matplotlib, ctranslate2" 2>/dev/null; then
  echo "[bench] installing ${PEERS[*]} into $(dirname "$(dirname "$PY")")" >&2
  "$PY" -m pip install -q "${PEERS[@]}"
fi
echo "$PY"
