#!/usr/bin/env bash
# The benchmark suite in one command: kdtext against fastText, Hugging Face transformers,
# ONNX Runtime and TextBrewer on the labelled sets of ../shared/data, then a report with plots.
#   bench/run.sh quick [WORK]   subsets, < 15 minutes on 2 cores; report in WORK/RESULTS.md
#   bench/run.sh full  [WORK]   the real table and the one-command route (kdtext-recipe,
#                               ~30 min per set); report in docs/RESULTS.md, plots in docs/results/
# WORK defaults to runs/bench-MODE. Environment:
#   KDTEXT_THREADS         threads for every engine (default: nproc)
#   KDTEXT_BENCH_REUSE=1   keep training stages finished by an earlier run in WORK (the report
#                          lists them); everything measured (accuracy, speed) is re-run
#   KDTEXT_BENCH_TEACHER_<DATASET>=CKPT  a teacher already fine-tuned on that set (e.g.
#                          KDTEXT_BENCH_TEACHER_SST2 from bench/minilm.sh); its training time is
#                          read from the runs along its provenance
#   KDTEXT_BENCH_REPORT    where the report goes (a .md path; the PNGs go beside it)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MODE=${1:-quick}
case "$MODE" in quick|full) ;; *) echo "usage: bench/run.sh [quick|full] [WORK]" >&2; exit 2 ;; esac
WORK=$(mkdir -p "${2:-$ROOT/runs/bench-$MODE}" && cd "${2:-$ROOT/runs/bench-$MODE}" && pwd)
THREADS=${KDTEXT_THREADS:-$(nproc)}
DATA_DIR=${KDTEXT_SHARED_DATA:-$ROOT/../shared/data}
if [ "$MODE" = full ]; then REPORT=${KDTEXT_BENCH_REPORT:-$ROOT/docs/RESULTS.md}
else REPORT=${KDTEXT_BENCH_REPORT:-$WORK/RESULTS.md}; fi
REUSE=(); [ "${KDTEXT_BENCH_REUSE:-0}" = 1 ] && REUSE=(--reuse)

"$ROOT/bench/deps.sh" >/dev/null
START=$(date +%s)
# The CPU (model name, kernel flags) every figure of this run was measured on.
python3 "$ROOT/bench/common.py" > "$WORK/machine.json"
: > "$WORK/commands.txt"
step() {  # runs a command, recording it (and how long it took) for the report
  echo "+ $*" >&2
  local t=$(date +%s)
  "$@"
  echo "$(( $(date +%s) - t ))s	$*" >> "$WORK/commands.txt"
}

# Per mode: training rows / evaluation rows sampled per set (0 = all), epochs of the teacher
# and of each student stage, and max_len per set; repeats of every timing; timed training steps.
if [ "$MODE" = quick ]; then
  TRAIN=480; EVAL=120; REPEATS=2; STEPS=10
  declare -A LEN=([sst2]=64 [trec6]=64 [chnsenticorp]=64 [ag_news]=64)
  declare -A TEP=([sst2]=3 [trec6]=3 [chnsenticorp]=3 [ag_news]=3)
  declare -A SEP=([sst2]=2 [trec6]=2 [chnsenticorp]=2 [ag_news]=2)
else
  TRAIN=0; EVAL=0; REPEATS=3; STEPS=30
  declare -A LEN=([sst2]=64 [trec6]=64 [chnsenticorp]=128 [ag_news]=128)
  declare -A TEP=([sst2]=2 [trec6]=3 [chnsenticorp]=3 [ag_news]=2)
  declare -A SEP=([sst2]=1 [trec6]=3 [chnsenticorp]=2 [ag_news]=2)
fi
DATASETS=(sst2 trec6 chnsenticorp ag_news)
# The pretrained encoder each set's teacher is fine-tuned from: MiniLM-L6 for English, m3e-small
# (a Chinese BERT; research, non-commercial use only: benchmarks may use it) for ChnSentiCorp.
declare -A BASE=([sst2]=minilm [trec6]=minilm [chnsenticorp]=m3e [ag_news]=minilm)

[ -f "$WORK/minilm/model.safetensors" ] || step "$ROOT/scripts/import-minilm.sh" "$WORK/minilm" >/dev/null
[ -f "$WORK/m3e/model.safetensors" ] || step "$ROOT/scripts/import-m3e.sh" "$WORK/m3e" >/dev/null
step python3 "$ROOT/bench/fasttext.py" --work "$WORK/fasttext" --threads "$THREADS" --train-limit "$TRAIN" \
  --eval-limit "$EVAL" --json "$WORK/fasttext.json"
for d in "${DATASETS[@]}"; do
  var=KDTEXT_BENCH_TEACHER_${d^^}
  if [ -n "${!var:-}" ]; then TEACHER=(--teacher "${!var}")
  else TEACHER=(--base "$WORK/${BASE[$d]}" --teacher-epochs "${TEP[$d]}" --teacher-lr 1e-4); fi
  SPEED=(); [ "$d" = sst2 ] && SPEED=(--textbrewer-steps "$STEPS")
  step python3 "$ROOT/bench/distill.py" --dataset "$d" "${TEACHER[@]}" --train-limit "$TRAIN" --eval-limit "$EVAL" \
    --epochs "${SEP[$d]}" --max-len "${LEN[$d]}" --threads "$THREADS" --repeats "$REPEATS" --work "$WORK/$d" \
    --json "$WORK/$d.json" "${SPEED[@]}" "${REUSE[@]}"
done
# Full mode: the one-command route (kdtext-recipe) on every set, with the teachers fine-tuned
# above; one general distillation per base in WORK/store serves its sets (English: three English
# corpora; Chinese: dh_msra_zh news).
if [ "$MODE" = full ]; then
  EN=(); for c in wikitext103_valtest en_pd_speeches gutenberg_en; do EN+=(--corpus "$DATA_DIR/$c/corpus.txt"); done
  for d in sst2 trec6 chnsenticorp ag_news; do
    CORPUS=("${EN[@]}"); [ "${BASE[$d]}" = m3e ] && CORPUS=(--corpus "$DATA_DIR/dh_msra_zh/corpus.txt")
    T=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['rows'][0]['checkpoint'])" "$WORK/$d.json")
    step "$ROOT/build/bin/kdtext-recipe" --train "$WORK/$d/data/train.tsv" --dev "$WORK/$d/data/dev.tsv" \
      --test "$WORK/$d/data/test.tsv" --teacher "$T" --base "$WORK/${BASE[$d]}" --preset 3l-256 "${CORPUS[@]}" \
      --general-minutes 15 --task-minutes 12 --max-len "${LEN[$d]}" --threads "$THREADS" --store "$WORK/store" \
      -o "$WORK/recipe-$d" >/dev/null
  done
fi
# Inference (teacher and distilled student) on the SST-2 dev sentences the accuracy table used,
# and fine-tuning step throughput from the imported MiniLM.
TEACHER_SST2=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['rows'][0]['checkpoint'])" "$WORK/sst2.json")
step python3 "$ROOT/bench/finetune_classify.py" --model "teacher=$TEACHER_SST2" \
  --model "student=$WORK/sst2/tb-pred/best" --data "$WORK/sst2/data/dev.tsv" --train "$WORK/sst2/data/train.tsv" \
  --onnx --ct2 --threads "$THREADS" --repeats "$REPEATS" --train-from "$WORK/minilm" --train-steps "$STEPS" \
  --work "$WORK/speed" --json "$WORK/speed.json"
# Accuracy and speed of kdtext-classify's precisions (fp32, int8, bf16) for every set's teacher and student.
PREC=()
for d in "${DATASETS[@]}"; do
  [ -f "$WORK/$d.json" ] || continue
  T=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['rows'][0]['checkpoint'])" "$WORK/$d.json")
  PREC+=(--model "$d teacher=$T@$WORK/$d/data/dev.tsv@$WORK/$d/data/test.tsv"
         --model "$d student=$WORK/$d/tb-pred/best@$WORK/$d/data/dev.tsv@$WORK/$d/data/test.tsv")
done
step python3 "$ROOT/bench/precision_accuracy.py" "${PREC[@]}" --threads "$THREADS" --json "$WORK/precision.json"
echo "$(( $(date +%s) - START ))" > "$WORK/seconds.txt"
step "$(cat "${KDTEXT_BUILD_DIR:-$ROOT/build}/.kdtext-python")" "$ROOT/bench/report.py" --work "$WORK" --mode "$MODE" \
  --threads "$THREADS" --out "$REPORT"
echo "report: $REPORT ($(( $(date +%s) - START )) s)" >&2
