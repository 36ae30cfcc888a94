#!/usr/bin/env bash
# Data-parallel pretraining throughput on the CPU: 1 process vs 2 (mpirun) vs 2 threads
# (see bench/data_parallel.py). bench/data_parallel.sh [--steps N] [--bf16]   (~5 minutes)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec python3 "$ROOT/bench/data_parallel.py" "$@"
