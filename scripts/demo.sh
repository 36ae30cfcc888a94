#!/usr/bin/env bash
# Set up (if needed), then run every pipeline stage that exists on the tiny
# corpus and task in data/. Outputs go to runs/demo/ (or $KDTEXT_DEMO_DIR).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Only the six stages it runs are built here; scripts/test.sh builds the rest.
KDTEXT_BUILD_TARGETS="kdtext-preprocess kdtext-pretrain kdtext-finetune kdtext-build-student kdtext-distill kdtext-classify" \
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

echo "== 4/6 build-student: a 1-layer student initialised from the teacher's top layer"
"$BIN/kdtext-build-student" --teacher "$OUT/teacher/best" --output "$OUT/student-init" --overwrite \
  --layers 1 --hidden 64 --heads 2 --intermediate 256 --init teacher-layers --layer-selection last

echo "== 5/6 distill: DistilBERT-style loss (soft logits + hard labels + cosine hidden states)"
"$BIN/kdtext-distill" --config "$ROOT/configs/distill/distilbert.json" --teacher "$OUT/teacher/best" \
  --student "$OUT/student-init" --train "$ROOT/data/task/train.tsv" --dev "$ROOT/data/task/dev.tsv" \
  --test "$ROOT/data/task/test.tsv" --output "$OUT/student" --overwrite \
  --epochs 4 --batch-size 16 --lr 1e-3 --max-len 48 --log-every 50

echo "== 5/6 distill, TinyBERT's route: general distillation of a student of the pretrained teacher on the"
echo "   unlabelled shards (hidden states, attention, embeddings + masked-LM), then task distillation"
"$BIN/kdtext-build-student" --teacher "$OUT/teacher-mlm/final" --output "$OUT/general-init" --overwrite \
  --layers 1 --hidden 64 --heads 2 --intermediate 256 --init teacher-layers --layer-selection last --quiet
"$BIN/kdtext-distill" --config "$ROOT/configs/distill/tinybert-general.json" --teacher "$OUT/teacher-mlm/final" \
  --student "$OUT/general-init" --shards "$OUT/prep" --output "$OUT/student-general" --overwrite \
  --epochs 2 --mlm-weight 1 --batch-size 16 --max-len 64 --validation-every 10 --log-every 50
"$BIN/kdtext-distill" --config "$ROOT/configs/distill/distilbert.json" --teacher "$OUT/teacher/best" \
  --student "$OUT/student-general/best" --train "$ROOT/data/task/train.tsv" --dev "$ROOT/data/task/dev.tsv" \
  --test "$ROOT/data/task/test.tsv" --output "$OUT/student-tinybert" --overwrite \
  --epochs 4 --batch-size 16 --lr 1e-3 --max-len 48 --log-every 50 --quiet

echo "== 6/6 classify: texts from stdin with the student, then the test set with --eval"
printf 'The striker scored twice in the derby.\nMy grandmother baked a loaf of bread.\nThe compiler crashed.\n' |
  "$BIN/kdtext-classify" --model "$OUT/student/best" --top-k 2 --quiet
"$BIN/kdtext-classify" --model "$OUT/student/best" "$ROOT/data/task/test.tsv" --eval \
  --output "$OUT/test-predictions.tsv" --quiet
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
t = json.load(open(f"{out}/teacher/metrics.json"))
s = json.load(open(f"{out}/student/metrics.json"))
g = json.load(open(f"{out}/student-tinybert/metrics.json"))
print(f"teacher test accuracy {t['test']['accuracy']:.4f} | student test accuracy {s['test']['accuracy']:.4f} "
      f"with {s['parameters']} parameters | general+task distilled student {g['test']['accuracy']:.4f}")
PY

echo "demo outputs: $OUT"
