"""Helpers shared by the benchmark scripts (paths, measured child processes, checkpoint facts,
FLOP counts, the machine's matmul peak). Benchmarks print figures; they are not tests."""
import json
import os
import random
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KDTEXT_SHARED_DATA", ROOT.parent / "shared" / "data"))
BIN = ROOT / "build" / "bin"
# The CPU flags that decide which kernels run fast (as util/cpu.h keeps them).
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16",
                "avx512_fp16", "amx_bf16", "amx_int8", "amx_tile")


def cpu_facts():
    """This machine's CPU from /proc/cpuinfo: model name, the kernel flags it has, logical CPUs."""
    model, flags, cpus = "unknown", set(), 0
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        cpus += key == "processor"
        if key in ("model name", "Processor") and model == "unknown":
            model = value.strip()
        if key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return {"model": model, "flags": [f for f in KERNEL_FLAGS if f in flags], "logical_cpus": cpus}


def describe_cpu(cpu=None):
    """'AMD EPYC (avx2 fma ... avx512_bf16)' for tables."""
    cpu = cpu or cpu_facts()
    return f"{cpu['model']} ({' '.join(cpu['flags'])})"


def venv_python():
    """The interpreter of kdtext's cached virtual environment (PyPI torch + the Python peers)."""
    cache = Path(os.environ.get("KDTEXT_CACHE", Path.home() / ".cache" / "kdtext"))
    return cache / f"venv-torch-{os.environ.get('KDTEXT_TORCH_VERSION', '2.11.0')}" / "bin" / "python"


def measured(cmd, stdout=None, env=None):
    """Runs cmd to completion; returns (wall seconds, peak RSS in MB) of that process alone."""
    t = time.time()
    p = subprocess.Popen([str(c) for c in cmd], stdout=stdout, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise subprocess.CalledProcessError(p.returncode, cmd)
    return time.time() - t, usage.ru_maxrss / 1024


def kdtext_step_seconds(run_dir, warmup, steps):
    """(seconds, real tokens) of steps warmup+1..warmup+steps of a kdtext training run logged with
    --log-every 1, from its metrics.jsonl."""
    t = {r["step"]: r for r in map(json.loads, (Path(run_dir) / "metrics.jsonl").read_text().splitlines())
         if r.get("event") == "train"}
    tokens = sum(t[s]["tokens_per_s"] * (t[s]["time"] - t[s - 1]["time"]) for s in range(warmup + 1, warmup + steps + 1))
    return t[warmup + steps]["time"] - t[warmup]["time"], tokens


def hf_peer(args, out):
    """Runs bench/hf_peers.py with the venv's Python, its JSON going to out; returns (that JSON,
    the peer's peak RSS in MB)."""
    with open(out, "w") as f:
        _, rss = measured([venv_python(), ROOT / "bench" / "hf_peers.py"] + [str(a) for a in args], stdout=f)
    return json.loads(Path(out).read_text()), rss


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


def params(ckpt):
    """Parameter count from the safetensors header of a checkpoint directory."""
    with open(Path(ckpt) / "model.safetensors", "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
    total = 0
    for k, v in header.items():
        if k != "__metadata__":
            count = 1
            for d in v["shape"]:
                count *= d
            total += count
    return total


def read_tsv(path):
    """(header, rows) of a labelled TSV file with a header line."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    return lines[0], [l for l in lines[1:] if l]


def subset(src, dst, n, seed=13):
    """Writes n rows of src (a seeded random sample, header kept) to dst; n <= 0 copies all."""
    header, rows = read_tsv(src)
    if 0 < n < len(rows):
        rows = random.Random(seed).sample(rows, n)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_text(header + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def token_lengths(ckpt, tsv, max_len, work):
    """Token count ([CLS] and [SEP] included, truncated to max_len) of every text of a labelled
    TSV file, with the checkpoint's own tokenizer (kdtext-tokenize)."""
    header, rows = read_tsv(tsv)
    col = header.split("\t").index("text")
    texts = Path(work) / "texts.txt"
    texts.write_text("".join(r.split("\t")[col] + "\n" for r in rows), encoding="utf-8")
    out = subprocess.run([str(BIN / "kdtext-tokenize"), "-t", str(ckpt), str(texts), "--quiet"], check=True,
                         capture_output=True, text=True).stdout.split("\n")
    return [min(max_len, len(l.split()) + 2) for l in out[:len(rows)]]  # kdtext-tokenize prints no [CLS]/[SEP]


def forward_flops(config, lengths, labels):
    """Inference FLOPs (2 per multiply-add) of a BERT classifier over sentences of these token
    lengths: per layer and token the Q/K/V/O projections (4h^2) and the FFN (2hi), per layer and
    sentence the attention products (2T^2h), per sentence the pooler and classifier. Embedding
    lookups, LayerNorm, softmax and GELU are not counted."""
    h, L, i = config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]
    macs = 0
    for t in lengths:
        macs += L * (t * (4 * h * h + 2 * h * i) + 2 * t * t * h) + h * h + h * labels
    return 2 * macs


def model_facts(ckpt):
    cfg = json.loads((Path(ckpt) / "config.json").read_text())
    meta = json.loads((Path(ckpt) / "kdtext.json").read_text())
    labels = len(meta.get("labels") or cfg.get("id2label") or [0, 1])
    return cfg, labels


MATMUL = r"""
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
out = {}
for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
    best = 0.0
    for n in (1024, 2048):
        a = torch.randn(n, n, dtype=dt); b = torch.randn(n, n, dtype=dt)
        for _ in range(2): a @ b
        reps = 10 if n == 1024 else 3
        t = time.perf_counter()
        for _ in range(reps): a @ b
        s = (time.perf_counter() - t) / reps
        best = max(best, 2 * n ** 3 / s)
    out[name] = best
print(out["fp32"], out["bf16"])
"""


def matmul_peak(threads):
    """The best square-matmul FLOP/s (fp32, bf16) of the PyPI LibTorch kdtext links, at these threads."""
    r = subprocess.run([str(venv_python()), "-c", MATMUL, str(threads)], capture_output=True, text=True, check=True)
    fp32, bf16 = map(float, r.stdout.split())
    return fp32, bf16


def english_prep(work):
    """kdtext-preprocess of gutenberg_en + wikitext103_valtest (vocabulary 8000) into work/prep-en, once."""
    prep = Path(work) / "prep-en"
    if not (prep / "stats.json").exists():
        subprocess.run([str(BIN / "kdtext-preprocess"), str(SHARED / "gutenberg_en" / "corpus.txt"),
                        str(SHARED / "wikitext103_valtest" / "corpus.txt"), "-o", str(prep), "--overwrite",
                        "--vocab-size", "8000", "--quiet"], check=True)
    return prep


if __name__ == "__main__":  # bench/run.sh records the machine: python3 bench/common.py > machine.json
    print(json.dumps({"cpu": cpu_facts(), "nproc": os.cpu_count()}))
