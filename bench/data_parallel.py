#!/usr/bin/env python3
"""Data-parallel pretraining throughput on the CPU (prints figures; not a test).

kdtext-pretrain of bert-small (configs/model/bert-small.json) at sequence 128 on gutenberg_en +
wikitext103_valtest, the same global batch (32 sequences) three ways:
  - 1 process, 1 thread, batch 32;
  - 2 processes (mpirun, MPI engine), 1 thread each, batch 16 each;
  - 1 process, 2 threads, batch 32 (the same cores used by intra-op threads instead).
Tokens/s is the median of the trainer's progress windows after the first (global tokens; rank 0's
clock), comm is the share of rank 0's time spent waiting in collectives (gradient all-reduce and
the per-step batch weights). Run it on a quiet machine: bench/data_parallel.sh [--steps N] [--bf16]
"""
import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import BIN, english_prep


def run(prep, out, processes, threads, batch, steps, bf16):
    cmd = [str(BIN / "kdtext-pretrain"), str(prep), "-o", str(out), "--overwrite", "--model", "bert-small",
           "--max-len", "128", "--batch-size", str(batch), "--threads", str(threads), "--device", "cpu",
           "--max-steps", str(steps), "--log-every", "5", "--eval-every", "0", "--quiet"] + (["--bf16"] if bf16 else [])
    if processes > 1:
        cmd = ["mpirun", "--allow-run-as-root", "--bind-to", "core", "-n", str(processes)] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    records = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    train = [x for x in records if x.get("event") == "train"][1:]  # the first window has the warm-up
    return statistics.median(x["tokens_per_s"] for x in train), \
        statistics.median(x.get("comm_fraction", 0.0) for x in train)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast")
    ap.add_argument("--work", default="")
    args = ap.parse_args()
    if shutil.which("mpirun") is None:
        sys.exit("mpirun is missing (Debian: openmpi-bin; scripts/setup.sh installs it)")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="kdtext-bench-dp-"))
    work.mkdir(parents=True, exist_ok=True)
    prep = english_prep(work)
    precision = "bf16 autocast" if args.bf16 else "fp32"
    print(f"# data-parallel pretraining on the CPU: bert-small, seq 128, global batch 32, {precision}, "
          f"{args.steps} steps")
    print("| layout | processes x threads | batch per process | tokens/s (median) | vs 1x1 | comm share |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    base = None
    for name, processes, threads, batch in (("one process", 1, 1, 32), ("data parallel (MPI)", 2, 1, 16),
                                            ("intra-op threads", 1, 2, 32)):
        tps, comm = run(prep, work / f"run-{processes}x{threads}", processes, threads, batch, args.steps, args.bf16)
        base = base or tps
        comm_text = f"{100 * comm:.1f}%" if processes > 1 else "-"
        print(f"| {name} | {processes} x {threads} | {batch} | {tps:.0f} | {tps / base:.2f}x | {comm_text} |",
              flush=True)


if __name__ == "__main__":
    main()
