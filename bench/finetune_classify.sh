#!/usr/bin/env bash
# SST-2 fine-tuning and classify throughput vs transformers (see bench/finetune_classify.py).
#   bench/finetune_classify.sh --teacher runs/teacher-mlm/final
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/setup.sh" >/dev/null
VENV=${KDTEXT_CACHE:-$HOME/.cache/kdtext}/venv-torch-${KDTEXT_TORCH_VERSION:-2.11.0}
"$VENV/bin/python" -c "import transformers, sentencepiece" 2>/dev/null ||
  "$VENV/bin/pip" install -q transformers sentencepiece numpy
exec python3 "$ROOT/bench/finetune_classify.py" "$@"
