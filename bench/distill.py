#!/usr/bin/env python3
"""Distillation benchmark on shared/data/sst2 (prints figures; not a test).

From a fine-tuned SST-2 teacher: the same student architecture (a) distilled with the TinyBERT
preset (intermediate stage, then prediction stage), (b) trained on labels only; and the teacher
itself: dev/test accuracy, parameters and kdtext-classify throughput (batch 32), with the
accuracy the student keeps and its speed-up.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KDTEXT_SHARED_DATA", ROOT.parent / "shared" / "data"))
BIN = ROOT / "build" / "bin"


REUSE = False


def run(args):
    """Runs a stage; returns its wall time. With --reuse, a stage whose run directory already has
    metrics.json is not run again and its recorded training time is returned."""
    out = Path(args[args.index("-o") + 1])
    if REUSE and (out / "metrics.json").exists():
        return json.loads((out / "metrics.json").read_text())["train_seconds"]
    t = time.time()
    subprocess.run([str(a) for a in args], check=True)
    return time.time() - t


def throughput(model, dev, threads, repeats, work):
    rates = []
    for _ in range(repeats):
        subprocess.run([BIN / "kdtext-classify", "-m", model, dev, "--batch-size", "32", "--max-len", "64",
                        "--threads", str(threads), "--timings", work / "t.json", "-o", work / "p.tsv", "--quiet"],
                       check=True)
        t = json.loads((work / "t.json").read_text())
        rates.append(t["texts"] / (t["tokenize_seconds"] + t["model_seconds"]))
    return statistics.median(rates)


def accuracy(model, path, threads, work):
    subprocess.run([BIN / "kdtext-classify", "-m", model, path, "--eval", "--max-len", "64", "--threads",
                    str(threads), "-o", work / "e.tsv", "--metrics", work / "e.json", "--quiet"], check=True,
                   stderr=subprocess.DEVNULL)
    return json.loads((work / "e.json").read_text())["accuracy"]


def params(ckpt):
    """Parameter count from the safetensors header."""
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", required=True, help="fine-tuned SST-2 teacher checkpoint")
    ap.add_argument("--work", default="")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layer-list", default="",
                    help="teacher layers (1-based, comma-separated) per student layer for the intermediate terms, "
                         "when the uniform mapping does not divide (e.g. 2,3,5,6 for 4 of 6 layers)")
    ap.add_argument("--reuse", action="store_true", help="keep finished stages of an earlier run in --work")
    args = ap.parse_args()
    global REUSE
    REUSE = args.reuse
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="kdtext-bench-distill-"))
    work.mkdir(parents=True, exist_ok=True)
    sst = SHARED / "sst2"
    common = ["--train", sst / "train.tsv", "--dev", sst / "dev.tsv", "--test", sst / "test.tsv", "--max-len", "64",
              "--batch-size", "32", "--epochs", str(args.epochs), "--threads", str(args.threads), "--overwrite",
              "--quiet"]
    init = work / "student-init"
    run([BIN / "kdtext-build-student", "--teacher", args.teacher, "-o", init, "--overwrite", "--layers", args.layers,
         "--hidden", args.hidden, "--heads", args.heads, "--intermediate", args.intermediate, "--quiet"])
    times = {}
    mapping = []
    if args.layer_list:
        mapping = ["--layer-map", "list"]
        for layer in args.layer_list.split(","):
            mapping += ["--layer-list", layer]
    times["tinybert"] = run([BIN / "kdtext-distill", "--config", ROOT / "configs/distill/tinybert-intermediate.json",
                             "--teacher", args.teacher, "--student", init, "-o", work / "tb-inter"] + mapping + common)
    times["tinybert"] += run([BIN / "kdtext-distill", "--config", ROOT / "configs/distill/tinybert-prediction.json",
                              "--teacher", args.teacher, "--student", work / "tb-inter" / "final", "-o",
                              work / "tb-pred"] + common)
    times["labels"] = run([BIN / "kdtext-finetune", "--from", init, "-o", work / "labels-only", "--lr", "3e-4"]
                          + common)
    rows = [("teacher", args.teacher, float("nan")),
            ("student, TinyBERT distilled", work / "tb-pred" / "best", times["tinybert"]),
            ("student, labels only", work / "labels-only" / "best", times["labels"])]
    t_rate = None
    t_dev = None
    print(f"# SST-2 distillation: student {args.layers}x{args.hidden} (heads {args.heads}, ffn {args.intermediate}), "
          f"{args.epochs} epoch(s) per stage, batch 32, max_len 64, {args.threads} threads; throughput = "
          f"kdtext-classify batch 32 on the 872 dev sentences, median of {args.repeats}\n")
    print("| model | params | dev acc | test acc | train s | sentences/s | speed-up | dev acc kept |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, model, secs in rows:
        dev = accuracy(model, sst / "dev.tsv", args.threads, work)
        test = accuracy(model, sst / "test.tsv", args.threads, work)
        rate = throughput(model, sst / "dev.tsv", args.threads, args.repeats, work)
        n = params(model)
        if t_rate is None:
            t_rate, t_dev = rate, dev
        print(f"| {name} | {n} | {dev:.4f} | {test:.4f} | {secs:.0f} | {rate:.1f} | {rate / t_rate:.2f}x | "
              f"{100 * dev / t_dev:.1f}% |")


if __name__ == "__main__":
    main()
