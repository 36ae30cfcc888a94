#!/usr/bin/env python3
"""Speed of the frontier's models on one machine, in one run (issue 28): kdtext-classify
sentences/s on a labelled file at batch 32 (tokenisation included, start-up excluded; runs
interleaved, median and best of --repeats), the speed-up against the first model (the
teacher), and, with --fasttext MODEL.bin, fastText's `fasttext predict` on the same texts
(one thread, start-up excluded as bench/fasttext.py does). --startup adds each model's
one-line start-up (wall s) and peak RSS (bench/classify_startup.py's measurement), and
fastText's. Prints a Markdown table and, with --json, every figure.

  python3 bench/frontier_speed.py --data sst2/dev.tsv --model teacher=runs/t/best \\
      --model bag=runs/f/bag/student/best --model bag-int8=runs/f/bag/student/best@int8 [--fasttext ft/sst2.bin] [--threads 2] [--startup]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from classify_startup import one_line, startup
from common import BIN, cpu_facts, describe_cpu
from fasttext import prepare


def classify_rate(model, data, threads, timings):
    path, _, precision = model.partition("@")
    subprocess.run([str(BIN / "kdtext-classify"), "-m", path, data, "--batch-size", "32", "--threads", str(threads),
                    "--precision", precision or "fp32", "--no-adaptive-threads", "--quiet", "-o", os.devnull,
                    "--timings", timings], check=True)
    t = json.loads(Path(timings).read_text())
    return t["texts"] / (t["tokenize_seconds"] + t["model_seconds"])


def fasttext_rate(model, data, work, repeats):
    """Sentences/s of `fasttext predict` (one thread): the texts repeated to >= 20,000 lines, less a one-line run."""
    lines = Path(data).read_text(encoding="utf-8").splitlines()[1:]
    texts = [prepare(l.split("\t", 1)[1], False) + "\n" for l in lines if "\t" in l]
    reps = max(1, -(-20000 // len(texts)))
    big, one = work / "big.txt", work / "one.txt"
    big.write_text("".join(texts) * reps, encoding="utf-8")
    one.write_text(texts[0], encoding="utf-8")
    spent = []
    for f in (big, one):
        best = float("inf")
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run(["fasttext", "predict", model, str(f)], capture_output=True, check=True)
            best = min(best, time.perf_counter() - t)
        spent.append(best)
    return len(texts) * reps / max(1e-9, spent[0] - spent[1])


def fasttext_startup(model, runs):
    return one_line(["fasttext", "predict", model, "-"], runs, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, help="labelled tsv (label, text) to classify")
    ap.add_argument("--model", action="append", required=True, help="NAME=CHECKPOINT[@fp32|bf16|int8]; the first is the teacher")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--fasttext", default="", help="a fastText supervised .bin to time on the same texts")
    ap.add_argument("--startup", action="store_true")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    models = [m.split("=", 1) for m in args.model]
    work = Path(tempfile.mkdtemp(prefix="kdtext-frontier-speed-"))
    rates = {name: [] for name, _ in models}
    for _ in range(args.repeats):  # interleaved, so a change of load hits every model alike
        for name, path in models:
            rates[name].append(classify_rate(path, args.data, args.threads, str(work / "t.json")))
    result = {"cpu": cpu_facts(), "threads": args.threads, "data": args.data, "models": []}
    teacher = statistics.median(rates[models[0][0]])
    for name, path in models:
        row = {"model": name, "checkpoint": path, "median": statistics.median(rates[name]), "best": max(rates[name])}
        row["speedup"] = row["median"] / teacher
        if args.startup:
            row["startup"] = startup(str(BIN / "kdtext-classify"), path.partition("@")[0], 1, 5)
        result["models"].append(row)
    if args.fasttext:
        row = {"model": "fastText", "checkpoint": args.fasttext,
               "median": fasttext_rate(args.fasttext, args.data, work, args.repeats)}
        row["best"] = row["median"]
        row["speedup"] = row["median"] / teacher
        if args.startup:
            row["startup"] = fasttext_startup(args.fasttext, 5)
        result["models"].append(row)
    print(f"CPU: {describe_cpu(result['cpu'])}; kdtext-classify --threads {args.threads}, batch 32; fastText one thread\n")
    print("| model | sentences/s (median) | best | vs teacher | start-up s | peak RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in result["models"]:
        s = r.get("startup", {})
        print(f"| {r['model']} | {r['median']:.0f} | {r['best']:.0f} | {r['speedup']:.1f}x | "
              f"{s.get('wall_s_median', float('nan')):.2f} | {s.get('peak_rss_mb', float('nan')):.0f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
