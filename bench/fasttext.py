#!/usr/bin/env python3
"""fastText baseline (Debian's `fasttext`, supervised, word bigrams) on the shared
classification sets: dev/test accuracy, macro-F1, parameters and prediction
throughput. Prints a Markdown table; the first piece of bench/run.sh (issue 7).
Chinese text (ChnSentiCorp) is split into characters, since fastText needs spaces.
   python3 bench/fasttext.py [--work DIR] [--threads N]"""
import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import SHARED, subset

CJK = re.compile(r"([\u3000-\u303f\u3400-\u9fff\uff00-\uffef])")
PUNCT = re.compile(r"([.,!?;:()\"'])")


def prepare(text, chinese):
    text = text.lower()
    text = CJK.sub(r" \1 ", text) if chinese else PUNCT.sub(r" \1 ", text)
    return " ".join(text.split())


def read(path, chinese):
    rows = []
    lines = path.read_text(encoding="utf-8").split("\n")
    header = lines[0].split("\t")
    li, ti = header.index("label"), header.index("text")
    for line in lines[1:]:
        if line:
            f = line.split("\t")
            rows.append((f[li].replace(" ", "_"), prepare(f[ti], chinese)))
    return rows


def macro_f1(gold, pred):
    labels = sorted(set(gold))
    tp, fp, fn = Counter(), Counter(), Counter()
    for g, p in zip(gold, pred):
        if g == p:
            tp[g] += 1
        else:
            fp[p] += 1
            fn[g] += 1
    f1 = []
    for l in labels:
        prec = tp[l] / (tp[l] + fp[l]) if tp[l] + fp[l] else 0.0
        rec = tp[l] / (tp[l] + fn[l]) if tp[l] + fn[l] else 0.0
        f1.append(2 * prec * rec / (prec + rec) if prec + rec else 0.0)
    return sum(f1) / len(f1)


def predict_seconds(model, path, work):
    """Seconds `fasttext predict` spends on the lines of path: the file repeated to at least 20,000
    lines, minus a one-line run (loading the 800 MB model is start-up, not prediction)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    big, one = work / "predict-big.txt", work / "predict-one.txt"
    reps = max(1, -(-20000 // len(lines)))
    big.write_text("".join(lines) * reps, encoding="utf-8")
    one.write_text(lines[0], encoding="utf-8")
    spent = []
    for f in (big, one):
        best = float("inf")
        for _ in range(2):
            t = time.time()
            subprocess.run(["fasttext", "predict", f"{model}.bin", f], capture_output=True, check=True)
            best = min(best, time.time() - t)
        spent.append(best)
    return max(1e-9, spent[0] - spent[1]) / reps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", default="")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epoch", type=int, default=10)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--bucket", type=int, default=2000000)
    ap.add_argument("--datasets", default="sst2,trec6,ag_news,chnsenticorp")
    ap.add_argument("--train-limit", type=int, default=0, help="sample this many training rows (0: all)")
    ap.add_argument("--eval-limit", type=int, default=0, help="sample this many dev and test rows (0: all)")
    ap.add_argument("--json", default="", help="also write every figure here")
    ap.add_argument("--keep-models", action="store_true", help="keep the trained .bin/.vec files")
    args = ap.parse_args()
    if not shutil.which("fasttext"):
        raise SystemExit("fasttext is not installed: sudo apt-get install fasttext (Debian 12)")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="kdtext-bench-fasttext-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"# fastText {subprocess.run(['dpkg-query', '-W', '-f=${Version}', 'fasttext'], capture_output=True, text=True).stdout}"
          f" supervised: -wordNgrams 2 -epoch {args.epoch} -dim {args.dim} -bucket {args.bucket} -lr 0.5,"
          f" {args.threads} threads for training; throughput = `fasttext predict` (one thread) without its start-up\n")
    print("| dataset | dev acc | dev macro-F1 | test acc | test macro-F1 | parameters | train s | test sentences/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "fasttext"], capture_output=True, text=True).stdout
    result = {"version": version, "rows": []}
    for name in args.datasets.split(","):
        d = SHARED / name
        if not (d / "train.tsv").exists():
            continue
        chinese = name in ("chnsenticorp", "tnews")  # split into characters: fastText splits on spaces
        files = {}
        for split in ("train", "dev", "test"):
            # the same seeded sample as bench/distill.py draws with the same limits
            sample = work / f"{name}.{split}.tsv"
            subset(d / f"{split}.tsv", sample, args.train_limit if split == "train" else args.eval_limit)
            rows = read(sample, chinese)
            files[split] = (work / f"{name}.{split}.txt", rows)
            files[split][0].write_text("".join(f"__label__{l} {t}\n" for l, t in rows), encoding="utf-8")
        model = work / f"{name}"
        t = time.time()
        subprocess.run(["fasttext", "supervised", "-input", files["train"][0], "-output", model, "-wordNgrams", "2",
                        "-epoch", str(args.epoch), "-dim", str(args.dim), "-bucket", str(args.bucket), "-lr", "0.5",
                        "-thread", str(args.threads), "-verbose", "0"], check=True)
        train_s = time.time() - t
        words = int(subprocess.run(["fasttext", "dump", f"{model}.bin", "dict"], capture_output=True,
                                   text=True).stdout.split("\n")[0].split()[-1] or 0)
        results = {}
        labels = len(set(l for l, _ in files["train"][1]))
        for split in ("dev", "test"):
            path, rows = files[split]
            out = subprocess.run(["fasttext", "predict", f"{model}.bin", path], capture_output=True, text=True,
                                 check=True).stdout.split()
            secs = predict_seconds(model, path, work)
            pred = [p.replace("__label__", "") for p in out]
            gold = [l for l, _ in rows]
            acc = sum(g == p for g, p in zip(gold, pred)) / len(gold)
            results[split] = (acc, macro_f1(gold, pred), len(gold) / secs)
            mean_words = sum(len(t.split()) + 1 for _, t in rows) / len(rows)  # + the end-of-sentence token
            result["rows"].append({"dataset": name, "split": split, "accuracy": acc,
                                   "macro_f1": results[split][1], "sentences_per_s": len(gold) / secs,
                                   # sum of word and bigram vectors, then the linear layer
                                   "flops_per_sentence": (2 * mean_words - 1) * args.dim + 2 * args.dim * labels})
        params = (words + args.bucket) * args.dim + args.dim * labels
        for r in result["rows"]:
            if r["dataset"] == name:
                r.update(params=params, train_seconds=train_s, train_rows=len(files["train"][1]))
        for suffix in ([] if args.keep_models else [".bin", ".vec"]):  # 800 MB each, with 2M buckets
            Path(f"{model}{suffix}").unlink(missing_ok=True)
        print(f"| {name} | {results['dev'][0]:.4f} | {results['dev'][1]:.4f} | {results['test'][0]:.4f} | "
              f"{results['test'][1]:.4f} | {params:,} | {train_s:.1f} | {results['test'][2]:.0f} |")

    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
