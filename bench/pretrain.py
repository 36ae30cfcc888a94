#!/usr/bin/env python3
"""Pretrain benchmark for kdtext-pretrain (prints figures; not a test).

1. Throughput (tokens/s) and peak RSS of the small teacher (configs/model/bert-small.json)
   at seq 128, fp32 and bf16 autocast, on CPU; model FLOPs per token x tokens/s as a
   fraction of this machine's matmul peak, measured in the same run with the same LibTorch
   (the PyPI torch in the kdtext venv), fp32 and bf16.
2. Optionally (--budget-minutes N) a fixed-budget pretraining run on gutenberg_en +
   wikitext103_valtest with its validation perplexity curve.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import BIN, ROOT, english_prep, matmul_peak


def flops_per_token(cfg, seq, vocab, mask_prob=0.15):
    """Training FLOPs per token (forward + backward = 3x forward, 2 FLOPs per MAC)."""
    h, L, i = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    per_layer = 4 * h * h + 2 * h * i      # Q, K, V, O projections + FFN (MACs per token)
    attention = 2 * seq * h                 # QK^T and PV (MACs per token)
    head = mask_prob * (h * h + h * vocab)  # MLM transform + decoder on masked tokens only
    return 6 * (L * (per_layer + attention) + head)


def run_pretrain(prep, out, extra, threads):
    cmd = [str(BIN / "kdtext-pretrain"), str(prep), "-o", str(out), "--overwrite", "--model", "bert-small",
           "--max-len", "128", "--batch-size", "32", "--threads", str(threads), "--log-every", "5",
           "--quiet"] + extra
    probe = subprocess.run(
        [sys.executable, "-c",
         "import resource,subprocess,sys,json;p=subprocess.run(sys.argv[1:]);"
         "print(json.dumps({'rc':p.returncode,'rss':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024}))"]
        + cmd, capture_output=True, text=True)
    r = json.loads(probe.stdout.strip().splitlines()[-1])
    if r["rc"] != 0:
        sys.exit(f"kdtext-pretrain failed: {' '.join(cmd)}\n{probe.stderr}")
    records = [json.loads(l) for l in (out / "metrics.jsonl").read_text().splitlines()]
    return records, r["rss"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--budget-minutes", type=float, default=0)
    ap.add_argument("--budget-bf16", action="store_true", help="bf16 autocast for the budget run")
    ap.add_argument("--skip-throughput", action="store_true")
    ap.add_argument("--work", default="")
    args = ap.parse_args()

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="kdtext-bench-pretrain-"))
    work.mkdir(parents=True, exist_ok=True)
    prep = english_prep(work)
    vocab = json.loads((prep / "stats.json").read_text())["vocab_size"]
    cfg = json.loads((ROOT / "configs" / "model" / "bert-small.json").read_text())
    fpt = flops_per_token(cfg, 128, vocab)

    if args.skip_throughput:
        peak32 = peak16 = 0
    else:
        peak32, peak16 = matmul_peak(args.threads)
    print(f"# kdtext-pretrain throughput: bert-small ({cfg['num_hidden_layers']}x{cfg['hidden_size']}, vocab {vocab}), "
          f"seq 128, batch 32, {args.threads} threads, {args.steps} steps")
    print(f"matmul peak (torch.mm, same LibTorch): fp32 {peak32 / 1e9:.1f} GFLOP/s, bf16 {peak16 / 1e9:.1f} GFLOP/s")
    print(f"model training FLOPs per token: {fpt / 1e6:.2f} MFLOP\n")
    print("| precision | tokens/s (median) | achieved GFLOP/s | % of matmul peak | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, extra, peak in () if args.skip_throughput else (("fp32", [], peak32), ("bf16 autocast", ["--bf16"], peak16)):
        records, rss = run_pretrain(prep, work / "tp", ["--max-steps", str(args.steps), "--eval-every", "0"] + extra,
                                    args.threads)
        tps = [r["tokens_per_s"] for r in records if r.get("event") == "train"][1:]  # first window has warm-up
        med = statistics.median(tps)
        gf = med * fpt / 1e9
        print(f"| {name} | {med:.0f} | {gf:.1f} | {100 * gf * 1e9 / peak:.0f}% (of {name.split()[0]} peak) | {rss:.0f} |")

    if args.budget_minutes > 0:
        out = work / "budget"
        t = time.time()
        records, rss = run_pretrain(prep, out, ["--max-steps", "1000000", "--max-minutes", str(args.budget_minutes),
                                                "--eval-every", "200", "--save-every", "1000", "--lr", "5e-4",
                                                "--warmup-steps", "500", "--schedule", "constant"]
                               + (["--bf16"] if args.budget_bf16 else []), args.threads)
        print(f"\n# fixed budget: {args.budget_minutes} min on gutenberg_en + wikitext103_valtest, "
              f"{'bf16 autocast' if args.budget_bf16 else 'fp32'}, lr 5e-4 constant after 500 warm-up steps "
              f"({time.time() - t:.0f} s wall, peak RSS {rss:.0f} MB)")
        print("| step | minutes | val loss | val perplexity |")
        print("| ---: | ---: | ---: | ---: |")
        for r in records:
            if r.get("event") == "eval":
                print(f"| {r['step']} | {r['time'] / 60:.1f} | {r['val_loss']:.3f} | {r['val_perplexity']:.1f} |")


if __name__ == "__main__":
    main()
