#!/usr/bin/env bash
# Fine-tuning and inference against transformers / ONNX Runtime (see bench/finetune_classify.py).
#   bench/finetune_classify.sh --teacher runs/teacher-mlm/final
#   bench/finetune_classify.sh --model teacher=<run>/best --onnx --train-from <pretrained> --train-steps 30
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/bench/deps.sh" >/dev/null
exec python3 "$ROOT/bench/finetune_classify.py" "$@"
