#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang, ASan + UBSan) and runs each
# for SECONDS (default 60) over its seed corpus in tests/fuzz/corpus/<target>.
# The corpus a run grows is kept in BUILD/corpus/<target> (next run continues
# from it); a crashing input is written to BUILD/crashes/ and the script exits 1.
#   usage: scripts/fuzz.sh [--build-dir DIR] [--jobs N] [--runs N] [--build-only] [SECONDS [TARGET...]]
# --build-only builds the targets and runs none (scripts/test.sh, before ctest).
# --runs N stops each target after N executions instead (SECONDS is then a cap).
# Targets: safetensors json_configs labelled wordpiece cleaner shard torch_zip hf_tokenizer.
# Prints one line per target: executions, exec/s, coverage, corpus size, result.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-fuzz
JOBS=1
RUNS=-1
BUILD_ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) BUILD=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --build-only) BUILD_ONLY=1; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(safetensors json_configs labelled wordpiece cleaner shard torch_zip hf_tokenizer)
[[ "$SECONDS_EACH" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a whole number, got '$SECONDS_EACH'" >&2; exit 2; }

CXX=${KDTEXT_FUZZ_CXX:-$(command -v clang++ || true)}
[ -n "$CXX" ] || { echo "fuzz.sh: clang++ not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S "$ROOT/tests/fuzz" -B "$BUILD" -G Ninja -DCMAKE_CXX_COMPILER="$CXX" "${launcher[@]}" >/dev/null
fi
cmake --build "$BUILD" -j "${KDTEXT_JOBS:-$(nproc)}" >/dev/null
[ "$BUILD_ONLY" = 0 ] || exit 0

mkdir -p "$BUILD/crashes" "$BUILD/logs"
status=0
run_one() {
  local t=$1 log=$BUILD/logs/$1.log
  mkdir -p "$BUILD/corpus/$t"
  # Grown corpus first (new units are written there), then the committed seeds.
  if "$BUILD/fuzz_$t" -max_total_time="$SECONDS_EACH" -runs="$RUNS" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
       -print_final_stats=1 -artifact_prefix="$BUILD/crashes/$t-" \
       "$BUILD/corpus/$t" "$ROOT/tests/fuzz/corpus/$t" >"$log" 2>&1; then
    result=ok
  else
    result="CRASH (see $log; input in $BUILD/crashes/)"
  fi
  local execs rate cov corp
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  corp=$(ls "$BUILD/corpus/$t" | wc -l)
  printf '%-14s %4ss %11s execs %7s/s  cov %5s  corpus %5s  %s\n' "$t" "$SECONDS_EACH" "${execs:-?}" \
         "${rate:-?}" "${cov:-?}" "$corp" "$result"
  [ "$result" = ok ]
}
printf '%-14s %5s %17s %9s  %9s  %12s  %s\n' target time executions rate coverage corpus result
if [ "$JOBS" -gt 1 ]; then
  pids=()
  for t in "${TARGETS[@]}"; do
    run_one "$t" > "$BUILD/logs/$t.line" & pids+=($!)
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 1; done
  done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
  for t in "${TARGETS[@]}"; do cat "$BUILD/logs/$t.line"; done
else
  for t in "${TARGETS[@]}"; do
    [ -x "$BUILD/fuzz_$t" ] || { echo "fuzz.sh: unknown target '$t'" >&2; exit 2; }
    run_one "$t" || status=1
  done
fi
exit $status
