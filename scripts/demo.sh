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

echo "== 2/6 pretrain: masked-LM pretraining of the tiny teacher on the shards"
"$BIN/kdtext-pretrain" "$OUT/prep" --output "$OUT/teacher-mlm" --overwrite \
  --model bert-tiny --max-len 64 --batch-size 16 --max-steps 400 --lr 2e-3 \
  --eval-every 100 --save-every 200 --log-every 50
echo "-- summary:"; cat "$OUT/teacher-mlm/summary.json"

echo "== 3/6 finetune: the teacher on the labelled task in data/task"
"$BIN/kdtext-finetune" --from "$OUT/teacher-mlm/final" --train "$ROOT/data/task/train.tsv" \
  --dev "$ROOT/data/task/dev.tsv" --test "$ROOT/data/task/test.tsv" --output "$OUT/teacher" --overwrite \
  --epochs 5 --batch-size 16 --lr 1e-3 --max-len 48 --log-every 50

echo "== 6/6 classify: texts from stdin, then the test set with --eval"
printf 'The striker scored twice in the derby.\nMy grandmother baked a loaf of bread.\nThe compiler crashed.\n' |
  "$BIN/kdtext-classify" --model "$OUT/teacher/best" --top-k 2 --quiet
"$BIN/kdtext-classify" --model "$OUT/teacher/best" "$ROOT/data/task/test.tsv" --eval \
  --output "$OUT/test-predictions.tsv" --quiet

echo "== stages 4-5 (build-student, distill) are not built yet"
echo "demo outputs: $OUT"
