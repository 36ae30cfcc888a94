#!/usr/bin/env bash
# The crash campaign: kills kdtext-pretrain, kdtext-finetune, kdtext-distill and kdtext-recipe
# with SIGKILL, at random moments and at the commit points of a checkpoint
# (KDTEXT_CRASH_AT, util/fault.h: before/after each rename, while pruning),
# resumes each run until it finishes, and checks after every kill and at the end:
#   - every checkpoint left is complete (model.safetensors, config, training
#     state) or absent; best/ and final/ likewise;
#   - once the run has finished, no leftovers (.partial-, .old-, .tmp-,
#     .pruning-, .replaced- entries, the .lock file);
#   - final/model.safetensors byte-identical to an uninterrupted run's.
# Then resource limits at every kind of write (issue 26): a file-size limit
# (`ulimit -f`, as a full disk) below config.json, below model.safetensors and
# between the model and optimizer.pt must end the run with exit 1 and a message
# naming the file (never LibTorch's abort, 134); a memory budget below the
# working-memory floor (KDTEXT_MEMORY_LIMIT_MB, the user's own setting) must
# end it with exit 2 naming the memory available; an
# address-space limit (`ulimit -v`, around the process's needs) with exit 0, 1
# or 2, never a signal; after each, the run is finished as above. Then the
# general-distillation store with an entry damaged between runs, and
# kdtext-recipe killed at random, at commit points, between its stages and once
# its teacher-logits cache is written (that cache then damaged), each time
# finished by the same command to the same students.
#   usage: scripts/crash-test.sh [--short] [--seed N] [--work DIR] [--bin DIR]
# --short (CI): 2 random kills and 4 commit-point kills per stage. Without it:
# 8 random kills and 6 points x 3 occurrences per stage. Prints one line per
# trial and a summary; exits 1 if any check fails.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${KDTEXT_BIN_DIR:-$ROOT/build/bin}
WORK=$ROOT/build/crash-test
SHORT=0
SEED=${RANDOM}
while [ $# -gt 0 ]; do
  case "$1" in
    --short) SHORT=1; shift ;;
    --seed) SEED=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "crash-test.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
RANDOM=$SEED
for b in kdtext-preprocess kdtext-pretrain kdtext-finetune kdtext-build-student kdtext-distill kdtext-recipe; do
  [ -x "$BIN/$b" ] || { echo "crash-test.sh: $BIN/$b not built (scripts/setup.sh)" >&2; exit 2; }
done
rm -rf "$WORK"
mkdir -p "$WORK"
LOG=$WORK/log
: >"$LOG"
say() { echo "$*"; }
failures=0
trials=0
kills=0
fail() { say "  FAIL: $*"; failures=$((failures + 1)); }

# --- the three runs, small enough for seconds each --------------------------
STEPS=64
COMMON=(--max-steps $STEPS --save-every 8 --threads 1 --quiet)
"$BIN/kdtext-preprocess" "$ROOT/data/corpus" -o "$WORK/prep" --vocab-size 400 --quiet >>"$LOG" 2>&1
# Sets CMD to the command line of STAGE writing OUT (a plain command, so
# `"${CMD[@]}" &` gives the process itself in $!).
stage_cmd() {  # STAGE OUT [extra flags...]
  local stage=$1 out=$2
  shift 2
  case "$stage" in
    pretrain) CMD=("$BIN/kdtext-pretrain" "$WORK/prep" -o "$out" --model bert-tiny --max-len 64 --batch-size 16 \
                --lr 2e-3 "${COMMON[@]}" "$@") ;;
    finetune) CMD=("$BIN/kdtext-finetune" --from "$WORK/ref-pretrain/final" --train "$ROOT/data/task/train.tsv" \
                --dev "$ROOT/data/task/dev.tsv" -o "$out" --batch-size 16 --lr 1e-3 --max-len 48 \
                --eval-every 8 "${COMMON[@]}" "$@") ;;
    distill) CMD=("$BIN/kdtext-distill" --teacher "$WORK/ref-finetune/best" --student "$WORK/student-init" \
               --train "$ROOT/data/task/train.tsv" --dev "$ROOT/data/task/dev.tsv" -o "$out" --batch-size 16 \
               --max-len 48 --eval-every 8 "${COMMON[@]}" "$@") ;;
  esac
}
run_stage() { stage_cmd "$@"; "${CMD[@]}"; }

# Starts CMD (set by stage_cmd or recipe_cmd) in the background and kills it
# with SIGKILL after a random delay of up to SPAN seconds. Prints what happened.
kill_cmd_after_random_delay() {  # SPAN
  local delay pid
  delay=$(awk -v r=$RANDOM -v s="$1" 'BEGIN { printf "%.2f", 0.2 + (r / 32767) * s * 0.9 }')
  "${CMD[@]}" >>"$LOG" 2>&1 &
  pid=$!
  sleep "$delay"
  if kill -9 $pid 2>/dev/null; then echo "killed after ${delay}s"; else echo "finished before ${delay}s"; fi
  wait $pid 2>/dev/null || true
}
kill_after_random_delay() {  # SPAN STAGE OUT [extra flags...]
  local span=$1
  shift
  stage_cmd "$@"
  kill_cmd_after_random_delay "$span"
}

# --- checks ---------------------------------------------------------------------
LEFTOVER='.*\.(partial|old|tmp|pruning|replaced)-[0-9]+'
check_complete() {  # OUT: every checkpoint present is whole
  local out=$1 d
  for d in "$out"/checkpoints/step-*; do
    [ -e "$d" ] || continue
    [[ "$(basename "$d")" =~ ^step-[0-9]{8}$ ]] || continue
    for f in model.safetensors config.json kdtext.json training_state/state.json training_state/optimizer.pt; do
      [ -s "$d/$f" ] || fail "$d: $f missing or empty"
    done
  done
  for d in "$out/best" "$out/final"; do
    [ -e "$d" ] || continue
    for f in model.safetensors config.json kdtext.json; do [ -s "$d/$f" ] || fail "$d: $f missing or empty"; done
  done
}
check_finished() {  # OUT REFERENCE
  local out=$1 ref=$2 left
  check_complete "$out"
  left=$( (find "$out" -regextype posix-extended -regex "$LEFTOVER"; \
           find "$(dirname "$out")" -maxdepth 1 -regextype posix-extended \
                \( -regex "$out$LEFTOVER" -o -name "$(basename "$out").lock" \)) | head -5)
  [ -z "$left" ] || fail "leftovers after the run finished: $left"
  if [ ! -f "$out/final/model.safetensors" ]; then
    fail "$out: no final/model.safetensors"
  elif ! cmp -s "$out/final/model.safetensors" "$ref/final/model.safetensors"; then
    fail "$out/final/model.safetensors differs from the uninterrupted run's"
  fi
}

# Continues a killed run to the end: --resume when it has a checkpoint,
# otherwise a fresh start over it (--overwrite), as a user would.
finish_run() {  # STAGE OUT
  local stage=$1 out=$2 rc=0
  run_stage "$stage" "$out" --resume >>"$LOG" 2>&1 || rc=$?
  if [ $rc -eq 2 ] && tail -3 "$LOG" | grep -q "no resumable checkpoint"; then
    rc=0
    run_stage "$stage" "$out" --overwrite >>"$LOG" 2>&1 || rc=$?
  fi
  [ $rc -eq 0 ] || fail "$stage: the run after the kill exited $rc (see $LOG)"
}

campaign() {  # STAGE
  local stage=$1 ref=$WORK/ref-$1 out=$WORK/run-$1 t0 span n point k rc
  t0=$(date +%s.%N)
  run_stage "$stage" "$ref" >>"$LOG" 2>&1 || { fail "$stage: the uninterrupted run failed (see $LOG)"; return; }
  span=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  say "$stage: uninterrupted run ${span}s, $(ls "$ref/checkpoints" | wc -l) checkpoint(s) kept"
  n=$([ $SHORT = 1 ] && echo 2 || echo 8)
  for ((k = 1; k <= n; k++)); do
    trials=$((trials + 1))
    local what more
    what=$(kill_after_random_delay "$span" "$stage" "$out" --overwrite)
    [[ "$what" == killed* ]] && kills=$((kills + 1))
    check_complete "$out"
    if [ $((k % 2)) = 0 ]; then  # every other trial: a second kill while resuming
      more=$(kill_after_random_delay "$span" "$stage" "$out" --resume)
      [[ "$more" == killed* ]] && kills=$((kills + 1))
      what+="; resuming: $more"
      check_complete "$out"
    fi
    finish_run "$stage" "$out"
    check_finished "$out" "$ref"
    say "  random kill $k: $what: resumed, final weights $(cmp -s "$out/final/model.safetensors" "$ref/final/model.safetensors" && echo identical || echo DIFFERENT)"
  done
  local points=(file.before_rename file.after_rename dir.before_rename dir.after_rename dir.old_aside prune.renamed)
  local occurrences=(1 3 7)
  [ $SHORT = 1 ] && points=(file.before_rename dir.after_rename prune.renamed '*') && occurrences=(2)
  for point in "${points[@]}"; do
    for k in "${occurrences[@]}"; do
      trials=$((trials + 1))
      rc=0
      KDTEXT_CRASH_AT="$point:$k" run_stage "$stage" "$out" --overwrite >>"$LOG" 2>&1 || rc=$?
      local what="reached, SIGKILL"
      if [ $rc -eq 137 ]; then kills=$((kills + 1)); elif [ $rc -eq 0 ]; then what="not reached ($k times), run finished"; else fail "$stage at $point:$k: exit $rc"; fi
      check_complete "$out"
      finish_run "$stage" "$out"
      check_finished "$out" "$ref"
      say "  at $point #$k: $what: final weights $(cmp -s "$out/final/model.safetensors" "$ref/final/model.safetensors" && echo identical || echo DIFFERENT)"
    done
  done
}

# Resource limits: a full disk at each kind of write, too little memory.
limits() {  # STAGE
  local stage=$1 ref=$WORK/ref-$1 out=$WORK/run-$1 model_kb opt_kb lim rc vm
  model_kb=$(( $(stat -c %s "$ref/final/model.safetensors") / 1024 ))
  opt_kb=$(( $(stat -c %s "$(ls -d "$ref"/checkpoints/step-* | tail -1)/training_state/optimizer.pt") / 1024 ))
  local sizes=(1 $((model_kb / 2)))
  [ $((model_kb * 3 / 2)) -lt "$opt_kb" ] && sizes+=($((model_kb * 3 / 2)))
  for lim in "${sizes[@]}"; do
    trials=$((trials + 1))
    rc=0
    # Its messages to a file of their own: the limit applies to the log as well.
    (ulimit -f "$lim"; run_stage "$stage" "$out" --overwrite) >"$WORK/limited.log" 2>&1 || rc=$?
    cat "$WORK/limited.log" >>"$LOG"
    if [ $rc -ne 1 ]; then
      fail "$stage under ulimit -f $lim: exit $rc (expected 1, an error naming the file)"
    elif ! grep -Eq "write failed|File too large" "$WORK/limited.log"; then
      fail "$stage under ulimit -f $lim: no message naming the failed write (see $LOG)"
    fi
    check_complete "$out"
    finish_run "$stage" "$out"
    check_finished "$out" "$ref"
    say "  disk full at ${lim} KB: exit $rc, resumed, final weights $(cmp -s "$out/final/model.safetensors" "$ref/final/model.safetensors" && echo identical || echo DIFFERENT)"
  done
  # Memory: a budget below the floor (refused before anything is allocated)
  # and address-space limits around what the process needs.
  trials=$((trials + 1))
  rc=0
  KDTEXT_MEMORY_LIMIT_MB=0.25 run_stage "$stage" "$out" --overwrite >>"$LOG" 2>&1 || rc=$?
  # (refused at the start: below the working-memory floor; the model-size refusal, exit 2 naming
  # hidden_size, is a row of the bad-input table)
  [ $rc -eq 2 ] && tail -3 "$LOG" | grep -q "of memory available" ||
    fail "$stage with a 0.25 MB memory budget: exit $rc (expected 2 naming the memory available)"
  check_complete "$out"
  # About 450 MiB of address space go to the libraries at start: below ~710 MiB the run is refused
  # at its start, above it runs (this size of model peaks near 740 MiB) or fails with an error.
  for vm in 600000 730000 760000 1000000; do
    trials=$((trials + 1))
    rc=0
    (ulimit -v "$vm"; run_stage "$stage" "$out" --overwrite) >>"$LOG" 2>&1 || rc=$?
    [ $rc -le 2 ] || fail "$stage under ulimit -v $vm: exit $rc (a signal or an abort, not an error)"
    check_complete "$out"
    finish_run "$stage" "$out"
    check_finished "$out" "$ref"
    say "  address space ${vm} KB: exit $rc, then finished: final weights $(cmp -s "$out/final/model.safetensors" "$ref/final/model.safetensors" && echo identical || echo DIFFERENT)"
  done
}

# kdtext-recipe (issue 27): the whole route killed anywhere (in any of its stages, between them,
# while measuring) and at commit points, then the same command again until it finishes: the
# student and the label-only student byte-identical to an uninterrupted recipe's, no leftovers
# (inside the run, beside it, the student probe in the temporary directory). Then an --overwrite
# run killed midway: the same command without --overwrite finds the earlier run put back, whole.
# The full campaign also fine-tunes the teacher inside the recipe (--base) and augments, and kills both.
RECIPE_COPIES=$([ $SHORT = 1 ] && echo 0 || echo 1)
RECIPE_TEACHER=(--teacher "$WORK/ref-finetune/best")
[ $SHORT = 1 ] || RECIPE_TEACHER=(--base "$WORK/ref-pretrain/final")
recipe_cmd() {  # OUT [extra flags...]
  local out=$1
  shift
  CMD=(env TMPDIR="$WORK/tmp" "$BIN/kdtext-recipe" --train "$ROOT/data/task/train.tsv" --dev "$ROOT/data/task/dev.tsv"
       "${RECIPE_TEACHER[@]}" --preset 2l-128 --copies "$RECIPE_COPIES" --task-minutes 60 --max-len 32
       --threads 1 --store "$WORK/store" -o "$out" --quiet "$@")
}
check_recipe() {  # OUT REFERENCE
  local out=$1 ref=$2 left f
  left=$( (find "$out" -regextype posix-extended \( -regex "$LEFTOVER" -o -name '*.lock' \); \
           find "$(dirname "$out")" -maxdepth 1 -regextype posix-extended \
                \( -regex "$out$LEFTOVER" -o -name "$(basename "$out").lock" \); \
           find "$WORK/tmp" -maxdepth 1 -name 'kdtext-recipe-*') 2>/dev/null | head -5)
  [ -z "$left" ] || fail "recipe: leftovers after it finished: $left"
  [ -f "$out/report.json" ] || fail "recipe: $out/report.json missing"
  for f in student/best labels-only/best; do
    cmp -s "$out/$f/model.safetensors" "$ref/$f/model.safetensors" ||
      fail "recipe: $out/$f/model.safetensors differs from the uninterrupted recipe's"
  done
}
run_cmd() { "${CMD[@]}"; }
finish_recipe() {  # OUT
  local rc=0
  recipe_cmd "$1"
  "${CMD[@]}" >>"$LOG" 2>&1 || rc=$?
  [ $rc -eq 0 ] || fail "recipe: the run after the kill exited $rc (see $LOG)"
}
recipe_kill() {  # SPAN OUT [extra flags...]: SIGKILL after a random delay
  local span=$1
  shift
  recipe_cmd "$@"
  kill_cmd_after_random_delay "$span"
}
recipe_campaign() {
  local ref=$WORK/ref-recipe out=$WORK/run-recipe t0 span n k what point rc
  mkdir -p "$WORK/tmp"
  t0=$(date +%s.%N)
  recipe_cmd "$ref"
  "${CMD[@]}" >>"$LOG" 2>&1 || { fail "recipe: the uninterrupted run failed (see $LOG)"; return; }
  span=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  say "recipe: uninterrupted run ${span}s"
  n=$([ $SHORT = 1 ] && echo 2 || echo 8)
  for ((k = 1; k <= n; k++)); do
    trials=$((trials + 1))
    rm -rf "$out"
    what=$(recipe_kill "$span" "$out")
    [[ "$what" == killed* ]] && kills=$((kills + 1))
    if [ $((k % 2)) = 0 ]; then
      local more
      more=$(recipe_kill "$span" "$out")
      [[ "$more" == killed* ]] && kills=$((kills + 1))
      what+="; again: $more"
    fi
    finish_recipe "$out"
    check_recipe "$out" "$ref"
    say "  random kill $k: $what: same command again, students $(cmp -s "$out/student/best/model.safetensors" "$ref/student/best/model.safetensors" && echo identical || echo DIFFERENT)"
  done
  # Commit points, and between the recipe's stages: the student built, each distillation stage, the
  # teacher-logits cache just written, and in full the teacher's fine-tuning, the augmentation and the
  # labels-only student.
  local points=(file.before_rename:5 dir.after_rename:2 dir.before_rename:4 prune.renamed:1 recipe.build-student:1
                recipe.finetune:1 recipe.augment:1 recipe.distill:1 recipe.distill:2 distill.teacher_logits:1
                recipe.finetune:2)
  [ $SHORT = 1 ] && points=(dir.after_rename:2 recipe.distill:2 distill.teacher_logits:1)
  for point in "${points[@]}"; do
    trials=$((trials + 1))
    rm -rf "$out"
    rc=0
    recipe_cmd "$out"
    KDTEXT_CRASH_AT="$point" run_cmd >>"$LOG" 2>&1 || rc=$?
    what="reached, SIGKILL"
    if [ $rc -eq 137 ]; then kills=$((kills + 1)); elif [ $rc -eq 0 ]; then what="not reached, run finished"; else fail "recipe at $point: exit $rc"; fi
    finish_recipe "$out"
    check_recipe "$out" "$ref"
    say "  at $point: $what: students $(cmp -s "$out/student/best/model.safetensors" "$ref/student/best/model.safetensors" && echo identical || echo DIFFERENT)"
  done
  # A teacher-logits cache damaged between runs (killed once it was written, 4000 bytes overwritten):
  # the same command computes it again, says so, and ends with the same students.
  trials=$((trials + 1))
  rm -rf "$out"
  rc=0
  recipe_cmd "$out"
  KDTEXT_CRASH_AT=distill.teacher_logits:1 run_cmd >>"$LOG" 2>&1 || rc=$?
  [ $rc -eq 137 ] && kills=$((kills + 1)) || fail "recipe at distill.teacher_logits: exit $rc"
  local cache=$out/teacher-logits.safetensors size
  if [ -f "$cache" ]; then
    size=$(stat -c %s "$cache")
    head -c 4000 /dev/urandom | dd of="$cache" bs=1 seek=$((size - 4000)) conv=notrunc status=none
  else
    fail "recipe: no $cache after the kill"
  fi
  finish_recipe "$out"
  check_recipe "$out" "$ref"
  grep -q "teacher-logits.safetensors fails its checksum (damaged): computing it again" "$out/recipe.log" ||
    fail "recipe: the damaged teacher-logits cache was not recomputed with a line saying so"
  say "  teacher-logits cache damaged between runs: recomputed, students $(cmp -s "$out/student/best/model.safetensors" "$ref/student/best/model.safetensors" && echo identical || echo DIFFERENT)"
  # --overwrite killed midway (other settings, so its own stages run): the earlier run comes back.
  trials=$((trials + 1))
  what=$(recipe_kill "$span" "$out" --overwrite --copies $((1 - RECIPE_COPIES)))
  [[ "$what" == killed* ]] && kills=$((kills + 1))
  finish_recipe "$out"
  check_recipe "$out" "$ref"
  grep -q "\"copies\": \"$RECIPE_COPIES\"" "$out/recipe.json" || fail "recipe: the run an --overwrite replaced was not put back"
  say "  --overwrite run $what: the earlier run back, students $(cmp -s "$out/student/best/model.safetensors" "$ref/student/best/model.safetensors" && echo identical || echo DIFFERENT)"
}

# The general-distillation store: an entry damaged between runs (its best/ weights cut short)
# is moved aside, distilled again with a line saying so, to the same weights.
store_campaign() {
  local g=("$BIN/kdtext-distill" --config "$ROOT/configs/distill/tinybert-general.json" --mode general
           --teacher "$WORK/ref-pretrain/final" --student "$WORK/student-init" --shards "$WORK/prep"
           --store "$WORK/gstore" --max-len 32 --batch-size 8 --max-steps 6 --threads 1)
  local entry weights
  trials=$((trials + 1))
  entry=$("${g[@]}" 2>>"$LOG") || { fail "store: the first general distillation failed (see $LOG)"; return; }
  weights=$(cksum <"$entry/final/model.safetensors")
  truncate -s 100 "$entry/best/model.safetensors"
  "${g[@]}" >>"$LOG" 2>&1 || fail "store: the run after the damage failed (see $LOG)"
  tail -20 "$LOG" | grep -q "is damaged (best/ " || fail "store: the damaged entry was not set aside with a line"
  [ "$(cksum <"$entry/final/model.safetensors")" = "$weights" ] || fail "store: the recomputed entry differs"
  ls -d "$entry".bad-* >/dev/null 2>&1 || fail "store: the damaged entry was not kept aside"
  say "store: an entry damaged between runs: set aside and distilled again, weights $([ "$(cksum <"$entry/final/model.safetensors")" = "$weights" ] && echo identical || echo DIFFERENT)"
}

say "crash campaign (seed $SEED, $([ $SHORT = 1 ] && echo short || echo full)); commands and errors in $LOG"
campaign pretrain
limits pretrain
campaign finetune
limits finetune
"$BIN/kdtext-build-student" --teacher "$WORK/ref-finetune/best" --layers 1 --hidden 32 --heads 2 \
  --intermediate 64 -o "$WORK/student-init" --quiet >>"$LOG" 2>&1
campaign distill
limits distill
store_campaign
recipe_campaign
say "trials: $trials, processes killed: $kills, failed checks: $failures"
[ $failures -eq 0 ]
