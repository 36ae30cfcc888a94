#!/usr/bin/env bash
# CI's run of the GPU check without a GPU (ctest calls this): scripts/bundle.sh packs a bundle
# into a scratch folder, the bundle's programs start with only its own libraries and LibTorch
# on the library path, and its gpu-check.sh runs the whole route on the CPU (the device tests
# narrowed to one, to keep CI short). Skipped (77) without the Python that has torch and
# transformers (scripts/test.sh installs it).
set -euo pipefail
PY=${KDTEXT_PYTHON:-$(cat "$KDTEXT_BIN_DIR/../.kdtext-python" 2>/dev/null || true)}
if [ -z "$PY" ] || [ ! -x "$PY" ]; then echo "SKIP: no Python with torch and transformers"; exit 77; fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
"$KDTEXT_SOURCE_DIR/scripts/bundle.sh" -o "$TMP/bundle" --build-dir "$KDTEXT_BIN_DIR/.."
B=$TMP/bundle
for lib in libsentencepiece.so.0 libspdlog.so.1.10 libicuuc.so.72; do [ -f "$B/lib/$lib" ] || fail "$lib not bundled"; done
for engine in "$KDTEXT_BIN_DIR"/../lib/kdtext/libkdtext_engine_*.so; do  # those this build has
  [ ! -e "$engine" ] || [ -f "$B/lib/kdtext/$(basename "$engine")" ] || fail "$(basename "$engine") not bundled"
done
ls "$B/lib" | grep -Eq '^lib(torch|c10|c\.so|stdc\+\+)' && fail "LibTorch, glibc or libstdc++ bundled: $(ls "$B/lib")"
TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
# A clean environment: nothing but the bundle's run.sh sets the library path.
out=$(env -i PATH=/usr/bin:/bin KDTEXT_TORCH_LIB="$TORCH_LIB" "$B/run.sh" kdtext-classify --version) || fail "run.sh: $out"
echo "$out" | grep -q '^kdtext-classify ' || fail "unexpected --version output: $out"
unresolved=$(env -i LD_LIBRARY_PATH="$B/lib:$TORCH_LIB" ldd "$B/bin/kdtext-distill" | grep 'not found' || true)
[ -z "$unresolved" ] || fail "unresolved libraries: $unresolved"
# The whole route, small, on the CPU.
OMP_NUM_THREADS=1 KDTEXT_PYTHON=$PY "$B/gpu-check.sh" --out "$TMP/out" --device cpu \
  --tests 'Devices/OnDevice.EncoderForward*' || fail "gpu-check.sh exited $?"
"$PY" - "$TMP/out/gpu-check.json" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["mode"] == "dry-run" and not r["failed"], r["failed"]
assert r["cuda_devices"]["kdtext"] == 0, r["cuda_devices"]
assert r["tests"]["passed"] == 1 and r["tests"]["failed"] == [], r["tests"]
assert r["pretrain"]["tokens_per_s"] > 0 and r["pretrain"]["train_flops_per_token"] > 0, r["pretrain"]
assert r["finetune"]["steps_per_s"] > 0 and r["distill"]["steps_per_s"] > 0
assert r["data_parallel"]["processes"] == 1 and r["data_parallel"]["tokens_per_s"] > 0, r["data_parallel"]
for b in ("1", "32", "256"):
    v = r["classify"]["batches"][b]
    assert v["kdtext"] > 0 and v["transformers"] > 0 and abs(v["ratio"] - v["kdtext"] / v["transformers"]) < 1e-9, v
print("gpu-check dry run: ok")
PYEOF
grep -q '| batch 256 |' "$TMP/out/gpu-check.md" || fail "gpu-check.md has no classify table"
