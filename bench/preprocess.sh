#!/usr/bin/env bash
# Preprocess throughput and peak RSS (see bench/preprocess.py). Builds first if needed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$ROOT/bench/deps.sh" >/dev/null
exec python3 "$ROOT/bench/preprocess.py" "$@"
