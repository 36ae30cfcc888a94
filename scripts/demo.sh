#!/usr/bin/env bash
# Set up (if needed), then run every pipeline stage that exists on the tiny
# corpus and task in data/. Outputs go to runs/demo/ (or $KDTEXT_DEMO_DIR).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/scripts/setup.sh"
BIN=${KDTEXT_BUILD_DIR:-$ROOT/build}/bin
OUT=${KDTEXT_DEMO_DIR:-$ROOT/runs/demo}
mkdir -p "$OUT"

echo "== 1/6 preprocess: clean data/corpus, train a tokenizer, write token shards"
"$BIN/kdtext-preprocess" "$ROOT/data/corpus" --output "$OUT/prep" --overwrite \
  --vocab-size 512 --character-coverage 0.9995
echo "-- stats:"; cat "$OUT/prep/stats.json"

echo "== stages 2-6 (pretrain, finetune, build-student, distill, classify) are not built yet"
echo "demo outputs: $OUT"
