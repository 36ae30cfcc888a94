#!/usr/bin/env bash
# One command from a labelled set to a deployable student (TinyBERT's route):
#
#   teacher (--teacher, or fine-tuned here from --base)
#   -> a student of --preset, built from the base (random init; the same for every task)
#   -> general distillation on --corpus, kept in --store under a key of (teacher, student,
#      corpus, budget, settings) and reused by every later task with the same base
#   -> augmented copies of the training set (kdtext-augment)
#   -> intermediate-layer distillation on them, then prediction-layer distillation with the
#      teacher's logits computed once and cached
#   -> a student of the same shape trained on labels only, for comparison
#   -> OUT/student (the deployable checkpoint) and OUT/report.md + OUT/report.json.
#
# Every stage's output is kept under OUT; running the same command again skips finished
# stages and resumes an interrupted one. The time budget is split between the stages
# (no hand tuning per data set); see --help.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${KDTEXT_BIN:-${KDTEXT_BUILD_DIR:-$ROOT/build}/bin}
CONFIGS=$ROOT/configs/distill

usage() {
  cat <<'EOF'
Usage: scripts/distill-recipe.sh --train FILE --dev FILE [--test FILE]
                                 (--teacher CKPT | --base CKPT | both) -o OUT [options]

Data (tsv, csv or jsonl, as every kdtext stage reads them):
  --train, --dev, --test FILE   labelled sets (dev selects checkpoints; test is only reported)
  --format, --text-column, --pair-column, --label-column, --header   as in kdtext-finetune
Models:
  --teacher CKPT     a fine-tuned classifier (kdtext-finetune best/)
  --base CKPT        a pretrained encoder (kdtext-pretrain final/, kdtext-import-hf): the teacher
                     is fine-tuned from it when --teacher is not given, and the student is built
                     from it and generally distilled from it (so tasks share that work)
  --preset NAME      student shape (kdtext-build-student --preset) [3l-256]
Budget and data:
  --budget MIN       minutes for the student's training stages in all [20]; with a corpus, half
                     goes to general distillation; of the task's share, 60% to the intermediate
                     stage and 40% to the prediction stage (each also stops at its epochs)
  --general-minutes MIN, --task-minutes MIN   set the two shares yourself
  --corpus PATH      unlabelled text (file or directory, repeatable) for general distillation
  --store DIR        where general distillations are kept [$KDTEXT_CACHE/general or ~/.cache/kdtext/general]
  --copies N         augmented copies per training example [auto: up to 20, ~60k rows in all]
Run:
  -o, --output OUT   run directory
  --max-len N [128]  --batch-size N [32]  --threads N [0: all]  --device D [auto]
  --seed N [42]      seed of the teacher fine-tuning, the student's initial weights and general distillation
  --task-seed N      seed of augmentation and the student's task stages [--seed]: repeat a run with
                     other task seeds (and the first run's OUT/teacher/best as --teacher) to measure
                     the spread; the general distillation is reused from the store
  --overwrite        start over (the old OUT is kept aside, and put back if the new run fails)
EOF
}

die() { echo "distill-recipe: error: $*" >&2; exit 2; }
say() { echo "== distill-recipe: $*" >&2; }

TRAIN="" DEV="" TEST="" TEACHER="" BASE="" PRESET=3l-256 BUDGET=20 GENERAL_MIN="" TASK_MIN=""
STORE=${KDTEXT_CACHE:-$HOME/.cache/kdtext}/general COPIES=auto OUT="" MAX_LEN=128 BATCH=32 SEED=42 TASK_SEED=""
THREADS=0 DEVICE=auto OVERWRITE=0
CORPUS=() FORMAT=()
while [ $# -gt 0 ]; do
  opt=$1
  case $opt in
    -h|--help) usage; exit 0 ;;
    --overwrite) OVERWRITE=1; shift; continue ;;
  esac
  [ $# -ge 2 ] || die "$opt needs a value (see --help)"
  case $opt in
    --train) TRAIN=$2 ;; --dev) DEV=$2 ;; --test) TEST=$2 ;;
    --teacher) TEACHER=$2 ;; --base) BASE=$2 ;; --preset) PRESET=$2 ;;
    --budget) BUDGET=$2 ;; --general-minutes) GENERAL_MIN=$2 ;; --task-minutes) TASK_MIN=$2 ;;
    --corpus) CORPUS+=("$2") ;; --store) STORE=$2 ;; --copies) COPIES=$2 ;;
    -o|--output) OUT=$2 ;; --max-len) MAX_LEN=$2 ;; --batch-size) BATCH=$2 ;; --seed) SEED=$2 ;;
    --task-seed) TASK_SEED=$2 ;;
    --threads) THREADS=$2 ;; --device) DEVICE=$2 ;;
    --format|--text-column|--pair-column|--label-column|--header) FORMAT+=("$opt" "$2") ;;
    *) die "unknown option $opt (see --help)" ;;
  esac
  shift 2
done

# ---------------------------------------------------------------- checks
[ -n "$TRAIN" ] || die "--train is required"
[ -n "$DEV" ] || die "--dev is required"
[ -n "$OUT" ] || die "-o/--output is required"
[ -n "$TEACHER$BASE" ] || die "give --teacher (a fine-tuned classifier) or --base (a pretrained encoder to fine-tune)"
for f in "$TRAIN" "$DEV" ${TEST:+"$TEST"}; do [ -f "$f" ] || die "$f: no such file"; done
for d in ${TEACHER:+"$TEACHER"} ${BASE:+"$BASE"}; do [ -f "$d/kdtext.json" ] || die "$d: not a kdtext checkpoint (no kdtext.json)"; done
for c in ${CORPUS[@]+"${CORPUS[@]}"}; do [ -e "$c" ] || die "--corpus $c: no such file or directory"; done
is_number() { [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]; }
is_number "$BUDGET" || die "--budget: expected minutes, got '$BUDGET'"
for v in "$GENERAL_MIN" "$TASK_MIN"; do [ -z "$v" ] || is_number "$v" || die "--general-minutes/--task-minutes: expected minutes, got '$v'"; done
[[ $COPIES == auto || $COPIES =~ ^[0-9]+$ ]] || die "--copies: expected a count or auto, got '$COPIES'"
[ -x "$BIN/kdtext-distill" ] || die "$BIN/kdtext-distill: not built (run scripts/setup.sh, or set KDTEXT_BIN)"
command -v jq >/dev/null || die "jq is needed for the report (apt-get install jq; scripts/setup.sh installs it)"

abs() { (cd "$(dirname "$1")" && echo "$(pwd)/$(basename "$1")"); }
TRAIN=$(abs "$TRAIN"); DEV=$(abs "$DEV"); [ -z "$TEST" ] || TEST=$(abs "$TEST")
[ -z "$TEACHER" ] || TEACHER=$(abs "$TEACHER"); [ -z "$BASE" ] || BASE=$(abs "$BASE")
for i in "${!CORPUS[@]}"; do CORPUS[$i]=$(abs "${CORPUS[$i]}"); done
ENCODER=${BASE:-$TEACHER}  # what the student is built from and generally distilled from
for v in "$MAX_LEN" "$BATCH" "$SEED" ${TASK_SEED:+"$TASK_SEED"}; do
  [[ $v =~ ^[0-9]+$ ]] || die "--max-len/--batch-size/--seed/--task-seed: expected a whole number, got '$v'"
done
[ "$BATCH" -ge 1 ] || die "--batch-size: must be >= 1"
for d in "$ENCODER" ${TEACHER:+"$TEACHER"}; do
  positions=$(jq -r '.max_position_embeddings // empty' "$d/config.json" 2>/dev/null) ||
    die "$d/config.json: not readable JSON"
  [ -z "$positions" ] || [ "$MAX_LEN" -le "$positions" ] ||
    die "--max-len $MAX_LEN exceeds the max_position_embeddings ($positions) of $d"
  [ "$MAX_LEN" -ge 8 ] || die "--max-len: must be >= 8"
done

# Everything the stages check about --preset, --threads and --device, before anything is written
# under OUT: the student is built now, into a temporary directory (moved into OUT below). A refused
# setting leaves no recipe.json behind, so the corrected command is not taken for another recipe.
PROBE=$(mktemp -d "${TMPDIR:-/tmp}/kdtext-recipe.XXXXXX")
trap 'rm -rf "$PROBE"' EXIT
if [ ! -f "$OUT/student-init/kdtext.json" ]; then
  "$BIN/kdtext-build-student" --teacher "$ENCODER" --preset "$PRESET" -o "$PROBE/student-init" \
    --seed "$SEED" --threads "$THREADS" --device "$DEVICE" --quiet ||
    die "the student could not be built (--preset $PRESET, --threads $THREADS, --device $DEVICE; the message above says why); nothing was written to $OUT"
fi

# Budget split (minutes), with awk for the arithmetic.
calc() { awk "BEGIN { printf \"%.4g\", $1 }"; }
if [ -z "$GENERAL_MIN" ]; then
  if [ ${#CORPUS[@]} -gt 0 ]; then GENERAL_MIN=$(calc "$BUDGET / 2"); else GENERAL_MIN=0; fi
fi
[ -n "$TASK_MIN" ] || TASK_MIN=$(calc "$BUDGET - $GENERAL_MIN")
awk "BEGIN { exit !($TASK_MIN > 0) }" || die "no time left for the task stages (--budget $BUDGET, general $GENERAL_MIN min)"
if awk "BEGIN { exit !($GENERAL_MIN > 0) }" && [ ${#CORPUS[@]} -eq 0 ]; then
  die "--general-minutes $GENERAL_MIN needs --corpus (unlabelled text)"
fi
INTER_MIN=$(calc "$TASK_MIN * 0.6"); PRED_MIN=$(calc "$TASK_MIN * 0.4")

# ---------------------------------------------------------------- run directory
RECIPE=$(jq -n --arg train "$TRAIN" --arg dev "$DEV" --arg test "$TEST" --arg teacher "$TEACHER" \
  --arg base "$BASE" --arg preset "$PRESET" --arg general "$GENERAL_MIN" --arg task "$TASK_MIN" \
  --arg copies "$COPIES" --arg max_len "$MAX_LEN" --arg batch "$BATCH" --arg seed "$SEED" --arg task_seed "${TASK_SEED:-$SEED}" \
  --arg device "$DEVICE" --arg store "$STORE" --args '{train: $train, dev: $dev, test: $test,
  teacher: $teacher, base: $base, preset: $preset, general_minutes: ($general | tonumber),
  task_minutes: ($task | tonumber), copies: $copies, max_len: ($max_len | tonumber),
  batch_size: ($batch | tonumber), seed: ($seed | tonumber), task_seed: ($task_seed | tonumber), device: $device, store: $store,
  corpus: $ARGS.positional[0:'"${#CORPUS[@]}"'], format: $ARGS.positional['"${#CORPUS[@]}"':]}' \
  ${CORPUS[@]+"${CORPUS[@]}"} ${FORMAT[@]+"${FORMAT[@]}"})
OLD=""
if [ -f "$OUT/recipe.json" ] && [ "$(jq -S . "$OUT/recipe.json")" != "$(jq -S . <<<"$RECIPE")" ]; then
  [ $OVERWRITE -eq 1 ] || die "$OUT was made by another recipe (see $OUT/recipe.json); pass --overwrite or use another -o"
elif [ -e "$OUT" ] && [ ! -f "$OUT/recipe.json" ] && [ -n "$(ls -A "$OUT")" ] && [ $OVERWRITE -eq 0 ]; then
  die "$OUT exists and is not a recipe run; pass --overwrite or use another -o"
fi
if [ $OVERWRITE -eq 1 ] && [ -e "$OUT" ]; then
  OLD="$OUT.replaced-$$"; mv "$OUT" "$OLD"; say "the previous $OUT is kept at $OLD until this run finishes"
fi
# A failed or interrupted --overwrite run puts the previous run back.
restore_previous() {
  local rc=$?
  rm -rf "$PROBE"
  if [ $rc -ne 0 ] && [ -n "$OLD" ] && [ -e "$OLD" ]; then
    rm -rf "$OUT" && mv "$OLD" "$OUT" && echo "distill-recipe: failed (exit $rc); the previous $OUT is back" >&2
  fi
}
trap restore_previous EXIT
trap 'exit 130' INT TERM
mkdir -p "$OUT"
OUT=$(abs "$OUT")
printf '%s\n' "$RECIPE" >"$OUT/recipe.json.tmp" && mv "$OUT/recipe.json.tmp" "$OUT/recipe.json"
LOG="$OUT/recipe.log"
say "run directory $OUT (log: $LOG); budget: general ${GENERAL_MIN} min, intermediate ${INTER_MIN} min, prediction ${PRED_MIN} min"

COMMON=(--threads "$THREADS" --device "$DEVICE")
TASK_SEED=${TASK_SEED:-$SEED}
DATA=(--format jsonl --text-column text --label-column label)
[[ " ${FORMAT[*]-} " == *" --pair-column "* ]] && DATA+=(--pair-column pair)

# Runs a training stage into DIR unless it finished; resumes it when it was interrupted.
train_stage() {
  local name=$1 dir=$2; shift 2
  if [ -f "$dir/metrics.json" ]; then say "$name: done before, kept ($dir)"; return; fi
  local extra=()
  if compgen -G "$dir/checkpoints/step-*" >/dev/null; then extra=(--resume); say "$name: resuming ($dir)"
  elif [ -e "$dir" ]; then extra=(--overwrite); fi
  say "$name"
  "$@" -o "$dir" "${extra[@]}" "${COMMON[@]}" --log-file "$LOG"
}

# ---------------------------------------------------------------- 1. data as JSON lines
# One format for every stage (the augmented set is JSON lines): the user's files are converted once.
for split in train dev test; do
  src=$TRAIN; [ $split = dev ] && src=$DEV; [ $split = test ] && src=$TEST
  [ -n "$src" ] || continue
  [ -f "$OUT/$split.jsonl" ] || "$BIN/kdtext-augment" "$src" --teacher "$ENCODER" --copies 0 \
    -o "$OUT/$split.jsonl" ${FORMAT[@]+"${FORMAT[@]}"} "${COMMON[@]}" --log-file "$LOG" --quiet
done
ROWS=$(wc -l <"$OUT/train.jsonl")
EVAL=(--dev "$OUT/dev.jsonl"); [ -z "$TEST" ] || EVAL+=(--test "$OUT/test.jsonl")

# ---------------------------------------------------------------- 2. teacher
if [ -z "$TEACHER" ]; then
  train_stage "fine-tune the teacher from $BASE" "$OUT/teacher" "$BIN/kdtext-finetune" --from "$BASE" \
    --train "$OUT/train.jsonl" "${EVAL[@]}" "${DATA[@]}" --epochs 3 --evals-per-epoch 2 --lr 1e-4 \
    --max-len "$MAX_LEN" --batch-size "$BATCH" --seed "$SEED"
  TEACHER=$OUT/teacher/best
fi

# TinyBERT's uniform layer map (student layer i <- teacher layer i*Lt/Ls) needs Lt % Ls == 0;
# otherwise the library's "spread" map (model::select_teacher_layers): teacher layers
# ceil(i*Lt/Ls), as even as whole layers allow, the last still the teacher's top (e.g. 4 of 6:
# 2,3,5,6). Prints the flags (none: the config's uniform map).
layer_map() {
  local lt ls
  lt=$(jq -r .num_hidden_layers "$1/config.json"); ls=$(jq -r .num_hidden_layers "$OUT/student-init/config.json")
  [ $((lt % ls)) -ne 0 ] || return 0
  say "layer map for $1: spread, $ls student layers over $lt teacher layers ($lt does not divide by $ls)"
  echo "--layer-map spread"
}

# ---------------------------------------------------------------- 3. student and general distillation
if [ ! -f "$OUT/student-init/kdtext.json" ] && [ -f "$PROBE/student-init/kdtext.json" ]; then
  rm -rf "$OUT/student-init" && mv "$PROBE/student-init" "$OUT/student-init"
  say "built the $PRESET student from $ENCODER"
fi
if [ ! -f "$OUT/student-init/kdtext.json" ]; then
  say "build the $PRESET student from $ENCODER"
  "$BIN/kdtext-build-student" --teacher "$ENCODER" --preset "$PRESET" -o "$OUT/student-init" --overwrite \
    --seed "$SEED" "${COMMON[@]}" --log-file "$LOG" --quiet
fi
START=$OUT/student-init
if awk "BEGIN { exit !($GENERAL_MIN > 0) }"; then
  if [ ! -f "$OUT/corpus/stats.json" ]; then
    say "preprocess the corpus with the teacher's tokenizer"
    "$BIN/kdtext-preprocess" "${CORPUS[@]}" --tokenizer "$ENCODER/tokenizer" --min-chars 20 -o "$OUT/corpus" \
      --overwrite "${COMMON[@]}" --log-file "$LOG" --quiet
  fi
  say "general distillation (${GENERAL_MIN} min; reused from $STORE when done before)"
  GENERAL=$("$BIN/kdtext-distill" --config "$CONFIGS/tinybert-general.json" --mode general --teacher "$ENCODER" \
    $(layer_map "$ENCODER") --student "$OUT/student-init" --shards "$OUT/corpus" --store "$STORE" --max-minutes "$GENERAL_MIN" \
    --epochs 100 --max-len "$MAX_LEN" --batch-size "$BATCH" --eval-every 200 --save-every 200 \
    --seed "$SEED" "${COMMON[@]}" --log-file "$LOG")
  [ -f "$GENERAL/best/model.safetensors" ] || die "general distillation gave no student ($GENERAL)"
  START=$GENERAL/best
fi

# ---------------------------------------------------------------- 4. augmentation
if [ "$COPIES" = auto ]; then COPIES=$(( 60000 / ROWS - 1 )); [ $COPIES -le 20 ] || COPIES=20; [ $COPIES -ge 0 ] || COPIES=0; fi
# A base with a masked-LM head proposes single-piece replacements in context (TinyBERT); the
# teacher's embedding neighbours serve the other words, or all of them when there is no such head.
MLM=()
if [ -n "$BASE" ] && [ "$(jq -r '.heads // ""' "$BASE/kdtext.json")" = masked_lm ]; then MLM=(--mlm "$BASE"); fi
if [ ! -f "$OUT/train.aug.jsonl" ]; then
  say "augment: $COPIES copies of each of $ROWS training examples${MLM[*]:+ (masked-LM candidates from $BASE)}"
  "$BIN/kdtext-augment" "$OUT/train.jsonl" --teacher "$TEACHER" "${MLM[@]}" --copies "$COPIES" -o "$OUT/train.aug.jsonl" \
    "${DATA[@]}" --seed "$TASK_SEED" "${COMMON[@]}" --log-file "$LOG" --quiet
fi

# ---------------------------------------------------------------- 5. task distillation and the label-only student
TASK=(--train "$OUT/train.aug.jsonl" "${EVAL[@]}" "${DATA[@]}" --max-len "$MAX_LEN" --batch-size "$BATCH"
      --seed "$TASK_SEED")
train_stage "intermediate-layer distillation (${INTER_MIN} min)" "$OUT/intermediate" "$BIN/kdtext-distill" \
  --config "$CONFIGS/tinybert-intermediate.json" --teacher "$TEACHER" $(layer_map "$TEACHER") --student "$START" "${TASK[@]}" \
  --epochs 10 --max-minutes "$INTER_MIN"
train_stage "prediction-layer distillation (${PRED_MIN} min)" "$OUT/student" "$BIN/kdtext-distill" \
  --config "$CONFIGS/tinybert-prediction.json" --teacher "$TEACHER" --student "$OUT/intermediate/final" \
  "${TASK[@]}" --teacher-logits "$OUT/teacher-logits.safetensors" --epochs 3 --evals-per-epoch 2 \
  --max-minutes "$PRED_MIN"
train_stage "label-only student (${PRED_MIN} min)" "$OUT/labels-only" "$BIN/kdtext-finetune" \
  --from "$OUT/student-init" "${TASK[@]}" --lr 3e-4 --epochs 3 --evals-per-epoch 2 --max-minutes "$PRED_MIN"

# ---------------------------------------------------------------- 6. report
say "evaluate and time the teacher and the students"
mkdir -p "$OUT/report"
measure() {  # name checkpoint -> report/<name>.json: dev/test metrics, sentences/s at batch 32 (best of 3)
  local name=$1 ck=$2 best=0 r
  for split in dev test; do
    [ -f "$OUT/$split.jsonl" ] || continue
    "$BIN/kdtext-classify" -m "$ck" "$OUT/$split.jsonl" --eval --metrics "$OUT/report/$name.$split.json" \
      -o "$OUT/report/$name.$split.tsv" --max-len "$MAX_LEN" "${DATA[@]}" "${COMMON[@]}" --quiet 2>/dev/null
  done
  for _ in 1 2 3; do
    "$BIN/kdtext-classify" -m "$ck" "$OUT/dev.jsonl" --batch-size 32 --max-len "$MAX_LEN" "${DATA[@]}" \
      -o "$OUT/report/$name.timed.tsv" --timings "$OUT/report/$name.timings.json" "${COMMON[@]}" --quiet
    r=$(jq '.texts / (.tokenize_seconds + .model_seconds)' "$OUT/report/$name.timings.json")
    best=$(awk "BEGIN { print ($r > $best) ? $r : $best }")
  done
  jq -n --arg name "$name" --arg ck "$ck" --argjson sps "$best" \
    --slurpfile dev "$OUT/report/$name.dev.json" \
    --slurpfile test <( [ -f "$OUT/report/$name.test.json" ] && cat "$OUT/report/$name.test.json" || echo null ) \
    '{model: $name, checkpoint: $ck, sentences_per_s: $sps,
      dev: {accuracy: $dev[0].accuracy, macro_f1: $dev[0].macro_f1},
      test: (if $test[0] then {accuracy: $test[0].accuracy, macro_f1: $test[0].macro_f1} else null end)}' \
    >"$OUT/report/$name.json"
}
measure teacher "$TEACHER"
measure student "$OUT/student/best"
measure labels-only "$OUT/labels-only/best"

seconds() { jq -r '.train_seconds // 0' "$1" 2>/dev/null || echo 0; }
GEN_SECONDS=0; [ -z "${GENERAL:-}" ] || GEN_SECONDS=$(seconds "$GENERAL/metrics.json")
jq -n --slurpfile t "$OUT/report/teacher.json" --slurpfile s "$OUT/report/student.json" \
  --slurpfile l "$OUT/report/labels-only.json" --slurpfile init "$OUT/student-init/kdtext.json" \
  --slurpfile recipe "$OUT/recipe.json" --arg copies "$COPIES" --arg rows "$ROWS" \
  --argjson general_s "$GEN_SECONDS" --argjson inter_s "$(seconds "$OUT/intermediate/metrics.json")" \
  --argjson pred_s "$(seconds "$OUT/student/metrics.json")" --argjson labels_s "$(seconds "$OUT/labels-only/metrics.json")" \
  --arg general_dir "${GENERAL:-}" '
  ($init[0].provenance) as $p |
  {recipe: $recipe[0], training_rows: ($rows | tonumber), copies: ($copies | tonumber),
   general_distillation: (if $general_dir == "" then null else $general_dir end),
   flops_tokens: $p.flops_per_sentence.tokens,
   teacher: ($t[0] + {parameters: $p.teacher_parameters, flops_per_sentence: $p.flops_per_sentence.teacher}),
   student: ($s[0] + {parameters: $p.parameters, flops_per_sentence: $p.flops_per_sentence.student,
             train_seconds: {general: $general_s, intermediate: $inter_s, prediction: $pred_s}}),
   labels_only: ($l[0] + {parameters: $p.parameters, flops_per_sentence: $p.flops_per_sentence.student,
                 train_seconds: $labels_s}),
   student_vs_teacher: {dev_accuracy: ($s[0].dev.accuracy / $t[0].dev.accuracy),
                        test_accuracy: (if $t[0].test then $s[0].test.accuracy / $t[0].test.accuracy else null end),
                        flops: $p.flops_per_sentence.ratio, speedup: ($s[0].sentences_per_s / $t[0].sentences_per_s)},
   student_minus_labels_only_dev: ($s[0].dev.accuracy - $l[0].dev.accuracy)}' >"$OUT/report.json.tmp"
mv "$OUT/report.json.tmp" "$OUT/report.json"

jq -r '
  def pct: . * 10000 | round / 100 | tostring;
  def row($name; m): "| \($name) | \(m.dev.accuracy | pct) | \(m.dev.macro_f1 | pct) | " +
    (if m.test then "\(m.test.accuracy | pct) | \(m.test.macro_f1 | pct)" else "- | -" end) +
    " | \(m.parameters) | \(m.flops_per_sentence / 1e6 | round) | \(m.sentences_per_s | round) |";
  "# Distillation report\n",
  "Student `\(.recipe.preset)` from `\(.recipe.base // .recipe.teacher)`; teacher `\(.teacher.checkpoint)`;",
  "\(.training_rows) training examples + \(.copies) augmented copies each. Accuracy and macro-F1 in %;",
  "parameters without the classifier; MFLOP per \(.flops_tokens)-token sentence; sentences/s of",
  "kdtext-classify on the dev set at batch 32 (best of 3).\n",
  "| model | dev acc | dev F1 | test acc | test F1 | parameters | MFLOP | sentences/s |",
  "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  row("teacher"; .teacher), row("student (distilled)"; .student), row("student (labels only)"; .labels_only),
  "",
  "The student keeps \(.student_vs_teacher.dev_accuracy | pct)% of the teacher'"'"'s dev accuracy" +
    (if .student_vs_teacher.test_accuracy then " (\(.student_vs_teacher.test_accuracy | pct)% on test)" else "" end) +
    " at \(.student_vs_teacher.flops * 1000 | round / 1000)x its FLOPs and \(.student_vs_teacher.speedup * 100 | round / 100)x its speed;",
  "distillation adds \(.student_minus_labels_only_dev * 10000 | round / 100) dev points over labels only.",
  "Training: general distillation \(.student.train_seconds.general | round) s" +
    (if .general_distillation then " (\(.general_distillation))" else " (none)" end) +
    ", intermediate \(.student.train_seconds.intermediate | round) s, prediction \(.student.train_seconds.prediction | round) s;" +
    " labels only \(.labels_only.train_seconds | round) s."
' "$OUT/report.json" >"$OUT/report.md.tmp"
mv "$OUT/report.md.tmp" "$OUT/report.md"
[ -z "$OLD" ] || rm -rf "$OLD"
cat "$OUT/report.md"
say "the student: $OUT/student/best (kdtext-classify -m $OUT/student/best ...)"
