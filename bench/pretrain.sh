#!/usr/bin/env bash
# Pretrain throughput / FLOP efficiency, optionally a fixed-budget run (see bench/pretrain.py).
#   bench/pretrain.sh                       # throughput table (~3 minutes)
#   bench/pretrain.sh --budget-minutes 60   # plus a 60-minute perplexity curve
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/bench/deps.sh" >/dev/null
exec python3 "$ROOT/bench/pretrain.py" "$@"
