#!/usr/bin/env python3
"""Accuracy and speed of kdtext-classify's precisions (fp32, int8, bf16) on labelled dev sets
(prints figures; not a test).

  bench/precision_accuracy.py --model sst2-teacher=RUN/best@DEV.tsv[@TEST.tsv] --model ... \\
      [--threads 2] [--batch-size 32] [--json OUT]

For every model: kdtext-classify --eval at each precision on its dev file (same threads, same
batches, --no-adaptive-threads), the accuracy, its change from fp32, the model seconds, the
speed-up over fp32 and the label agreement with fp32; with a test file, the test accuracy too.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import BIN, cpu_facts, describe_cpu

PRECISIONS = ("fp32", "int8", "bf16", "auto")  # auto: what --precision auto chose here


def classify(ckpt, dev, precision, args, work):
    out = work / f"pred-{precision}.tsv"
    r = subprocess.run([str(BIN / "kdtext-classify"), "-m", ckpt, dev, "--eval", "--precision", precision,
                        "--threads", str(args.threads), "--batch-size", str(args.batch_size), "--no-adaptive-threads",
                        "--timings", str(work / "t.json"), "-o", str(out), "--quiet"],
                       stderr=subprocess.PIPE, text=True)
    if r.returncode == 2 and "not offered" in r.stderr:  # e.g. bf16 for a bag student: refused by name
        return None
    r.check_returncode()
    metrics = json.loads(Path(str(out) + ".metrics.json").read_text())
    timings = json.loads((work / "t.json").read_text())
    labels = [line.split("\t")[0] for line in out.read_text().splitlines()[1:]]
    return {"accuracy": metrics["accuracy"], "examples": metrics["examples"], "ran": metrics.get("precision", precision),
            "model_seconds": timings["model_seconds"], "all_seconds": [timings["model_seconds"]], "labels": labels}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", required=True, metavar="NAME=CKPT@DEV")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=1, help="timed runs per precision (median)")
    ap.add_argument("--precisions", default=",".join(PRECISIONS), help="which, comma-separated (fp32 always runs)")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.model:
            name, rest = spec.split("=", 1)
            ckpt, dev, *test = rest.split("@")
            chosen = ["fp32"] + [p for p in args.precisions.split(",") if p in PRECISIONS and p != "fp32"]
            res = {p: classify(ckpt, dev, p, args, Path(tmp)) for p in chosen}
            res = {p: r for p, r in res.items() if r is not None}
            for _ in range(args.repeats - 1):  # interleaved, so a change of load hits every precision alike
                for p, r in res.items():
                    r["all_seconds"].append(classify(ckpt, dev, p, args, Path(tmp))["model_seconds"])
            for r in res.values():
                r["model_seconds"] = statistics.median(r["all_seconds"])
            tests = {p: classify(ckpt, test[0], p, args, Path(tmp))["accuracy"] for p in res} if test else {}
            base = res["fp32"]
            for p, r in res.items():
                same = sum(a == b for a, b in zip(r["labels"], base["labels"])) / max(1, len(base["labels"]))
                rows.append({"model": name, "precision": p if p != "auto" else f"auto ({r['ran']})",
                             "accuracy": r["accuracy"], "examples": r["examples"],
                             "delta_points": 100 * (r["accuracy"] - base["accuracy"]),
                             "model_seconds": r["model_seconds"], "test_accuracy": tests.get(p),
                             "speedup": base["model_seconds"] / r["model_seconds"], "same_label": same})
                print(rows[-1], file=sys.stderr, flush=True)
    print(f"# kdtext-classify precisions on {describe_cpu()}: batch {args.batch_size}, {args.threads} threads")
    print(f"(model seconds: median of {args.repeats} interleaved runs)")
    print("| model | precision | dev accuracy | change (points) | test accuracy | same label as fp32 | model s | "
          "speed vs fp32 |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        t = f"{100 * r['test_accuracy']:.2f}" if r["test_accuracy"] is not None else ""
        print(f"| {r['model']} | {r['precision']} | {100 * r['accuracy']:.2f} | {r['delta_points']:+.2f} | {t} | "
              f"{100 * r['same_label']:.2f}% | {r['model_seconds']:.3f} | {r['speedup']:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu_facts(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
