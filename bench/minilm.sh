#!/usr/bin/env bash
# The imported all-MiniLM-L6-v2 as an SST-2 teacher (prints figures; not a test):
# import, fine-tune (training time, dev/test accuracy), then the distillation
# table of bench/distill.py with a TinyBERT-4 student (4 x 312).
#   bench/minilm.sh [WORK_DIR]      (default: runs/bench-minilm)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${1:-$ROOT/runs/bench-minilm}
SST=${KDTEXT_SHARED_DATA:-$ROOT/../shared/data}/sst2
THREADS=${KDTEXT_THREADS:-$(nproc)}
mkdir -p "$WORK"
"$ROOT/scripts/import-minilm.sh" "$WORK/minilm"
# Two epochs: one at 5e-5, then one more from its best checkpoint at 2e-5.
FT=("$ROOT/build/bin/kdtext-finetune" --train "$SST/train.tsv" --dev "$SST/dev.tsv" --test "$SST/test.tsv"
    --overwrite --epochs 1 --evals-per-epoch 4 --batch-size 32 --max-len 64 --threads "$THREADS" --log-every 100)
"${FT[@]}" --from "$WORK/minilm" -o "$WORK/teacher-e1" --lr 5e-5
"${FT[@]}" --from "$WORK/teacher-e1/best" -o "$WORK/teacher" --lr 2e-5 --seed 2
python3 - "$WORK/teacher-e1/metrics.json" "$WORK/teacher/metrics.json" <<'PY'
import json, sys
for epoch, path in enumerate(sys.argv[1:], 1):
    m = json.load(open(path))
    print(f"# MiniLM-L6 on SST-2, epoch {epoch}: {m['train_seconds']:.0f} s, {m['steps']} steps, "
          f"dev {m['dev']['accuracy']:.4f}, test {m['test']['accuracy']:.4f}")
PY
python3 "$ROOT/bench/distill.py" --teacher "$WORK/teacher/best" --work "$WORK/distill" --threads "$THREADS" \
  --layers 4 --hidden 312 --heads 12 --intermediate 1200 --layer-list 2,3,5,6
