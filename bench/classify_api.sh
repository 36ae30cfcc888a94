#!/usr/bin/env bash
# The C++ API's throughput against kdtext-classify (see bench/classify_api.py). ~2 minutes.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
exec python3 "$ROOT/bench/classify_api.py" "$@"
