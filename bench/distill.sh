#!/usr/bin/env bash
# SST-2 distillation table (see bench/distill.py).
#   bench/distill.sh --teacher <finetune run>/best
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/bench/deps.sh" >/dev/null
exec python3 "$ROOT/bench/distill.py" "$@"
