#!/usr/bin/env python3
"""Preprocess benchmark: throughput (MB/s) and peak RSS of kdtext-preprocess on
shared/data/gutenberg_en, with and without tokenizer training, on the corpus as is
and concatenated 4 times (memory must not grow with corpus size).

Prints a table; figures are medians of --repeats runs. Run via bench/preprocess.sh.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def measure(cmd, repeats):
    times, rss = [], 0.0
    for _ in range(repeats):
        # A fresh python per run isolates the peak RSS of that run.
        probe = subprocess.run(
            [sys.executable, "-c",
             "import resource,subprocess,sys,time,json;t=time.perf_counter();"
             "p=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE,text=True);"
             "print(json.dumps({'rc':p.returncode,'s':time.perf_counter()-t,"
             "'rss':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024,'err':p.stderr[-2000:]}))"] + cmd,
            stdout=subprocess.PIPE, text=True, check=True)
        r = json.loads(probe.stdout)
        if r["rc"] != 0:
            sys.exit(f"command failed ({r['rc']}): {' '.join(cmd)}\n{r['err']}")
        times.append(r["s"])
        rss = max(rss, r["rss"])
    return statistics.median(times), rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(ROOT / "build" / "bin" / "kdtext-preprocess"))
    ap.add_argument("--corpus", default=str(Path(os.environ.get("KDTEXT_SHARED_DATA", ROOT.parent / "shared" / "data"))
                                            / "gutenberg_en" / "corpus.txt"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--vocab-size", type=int, default=8000)
    args = ap.parse_args()

    corpus = Path(args.corpus)
    if not corpus.exists():
        sys.exit(f"corpus not found: {corpus} (set KDTEXT_SHARED_DATA)")
    work = Path(tempfile.mkdtemp(prefix="kdtext-bench-prep-"))
    try:
        x4 = work / "corpus_x4.txt"
        with open(x4, "wb") as out:
            data = corpus.read_bytes()
            for _ in range(4):
                out.write(data)
        base = [args.bin, "--overwrite", "--quiet", "--threads", str(args.threads), "--vocab-size", str(args.vocab_size)]
        # A tokenizer to reuse for the "no training" rows.
        subprocess.run(base + [str(corpus), "-o", str(work / "tok")], check=True)
        tok = str(work / "tok" / "tokenizer")

        startup_s, startup_rss = measure([args.bin, "--version"], args.repeats)
        rows = []
        for name, path in [("corpus", corpus), ("corpus x4", x4)]:
            mb = path.stat().st_size / 1e6
            for training in (True, False):
                cmd = base + [str(path), "-o", str(work / "out")] + ([] if training else ["--tokenizer", tok])
                s, rss = measure(cmd, args.repeats)
                stats = json.loads((work / "out" / "stats.json").read_text())
                rows.append((name, mb, "train" if training else "reuse", s, mb / s, rss,
                             stats["documents_kept"], stats["tokens_written"],
                             stats["tokenizer"]["seconds"] if training else 0.0))

        print(f"# kdtext-preprocess benchmark ({os.cpu_count()} cores, threads={args.threads or 'all'}, "
              f"vocab {args.vocab_size}, median of {args.repeats})")
        print(f"input: {corpus} ({corpus.stat().st_size / 1e6:.1f} MB)")
        print(f"process start-up (--version): {startup_s:.2f} s, peak RSS {startup_rss:.0f} MB (LibTorch loaded)\n")
        print("| input | MB | tokenizer | seconds | MB/s | peak RSS MB | docs kept | tokens | train s |")
        print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in rows:
            print(f"| {r[0]} | {r[1]:.1f} | {r[2]} | {r[3]:.2f} | {r[4]:.2f} | {r[5]:.0f} | {r[6]} | {r[7]} | {r[8]:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
