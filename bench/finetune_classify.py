#!/usr/bin/env python3
"""Fine-tune + classify benchmark on shared/data/sst2 (prints figures; not a test).

1. kdtext-finetune of a pretrained teacher checkpoint on SST-2: training time, dev and test
   accuracy of the best checkpoint.
2. kdtext-classify throughput (sentences/s) and p50/p99 latency at batch 1 and 32 on the
   SST-2 dev sentences, and the same model in Python with Hugging Face transformers (eager,
   torch.inference_mode, same weights loaded from the kdtext checkpoint directory, same
   token ids, same threads, same length-sorted batches) in the same run, as a ratio.
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

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KDTEXT_SHARED_DATA", ROOT.parent / "shared" / "data"))
BIN = ROOT / "build" / "bin"


def venv_python():
    cache = Path(os.environ.get("KDTEXT_CACHE", Path.home() / ".cache" / "kdtext"))
    return cache / f"venv-torch-{os.environ.get('KDTEXT_TORCH_VERSION', '2.11.0')}" / "bin" / "python"


HF = r"""
import json, sys, time, unicodedata, statistics
import torch, sentencepiece as spm
from transformers import BertForSequenceClassification
ckpt, data, threads, max_len, reps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
meta = json.load(open(f"{ckpt}/tokenizer/tokenizer.json"))
if meta["type"] == "wordpiece":  # transformers' own tokenizer, from the files beside the checkpoint
    from transformers import BertTokenizer
    bert_tok = BertTokenizer.from_pretrained(ckpt)
    encode = lambda t: bert_tok(t, truncation=True, max_length=max_len)["input_ids"]
else:
    norm = meta["normalizer"]
    sp = spm.SentencePieceProcessor(model_file=f"{ckpt}/tokenizer/{meta['model_file']}")
    encode = lambda t: [2] + sp.encode(normalize(t))[: max_len - 2] + [3]
def normalize(t):
    if norm["nfkc"]: t = unicodedata.normalize("NFKC", t)
    if norm["lowercase"]: t = t.lower()
    if norm["remove_control"]: t = "".join(c for c in t if c.isspace() or not unicodedata.category(c).startswith("C"))
    if norm["collapse_whitespace"]: t = " ".join(t.split())
    return t
texts = [l.split("\t", 1)[1].rstrip("\n") for l in open(data, encoding="utf-8").readlines()[1:]]
model = BertForSequenceClassification.from_pretrained(ckpt).eval()
out = {}
for bs in (1, 32):
    runs = []
    for _ in range(reps):
        t0 = time.perf_counter()
        enc = [encode(t) for t in texts]
        tok_s = time.perf_counter() - t0
        order = sorted(range(len(enc)), key=lambda i: -len(enc[i]))
        lat, probs = [], [None] * len(enc)
        with torch.inference_mode():
            for s in range(0, len(order), bs):
                rows = order[s:s + bs]
                t1 = time.perf_counter()
                T = max(len(enc[i]) for i in rows)
                ids = torch.zeros(len(rows), T, dtype=torch.long)
                mask = torch.zeros(len(rows), T, dtype=torch.long)
                for k, i in enumerate(rows):
                    ids[k, :len(enc[i])] = torch.tensor(enc[i]); mask[k, :len(enc[i])] = 1
                p = torch.softmax(model(input_ids=ids, attention_mask=mask).logits, -1)
                lat.append(time.perf_counter() - t1)
                for k, i in enumerate(rows): probs[i] = p[k].tolist()
        runs.append({"tokenize_seconds": tok_s, "model_seconds": sum(lat), "latencies": lat})
    out[str(bs)] = {"runs": runs, "probs": probs}
json.dump(out, sys.stdout)
"""


def pct(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q / 100 * (len(v) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", required=True, help="pretrained kdtext checkpoint (e.g. a pretrain run's final/)")
    ap.add_argument("--work", default="")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", default="1e-4")
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-finetune", action="store_true", help="reuse <work>/sst2-teacher")
    args = ap.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="kdtext-bench-ft-"))
    work.mkdir(parents=True, exist_ok=True)
    sst = SHARED / "sst2"
    ft = work / "sst2-teacher"

    if not args.skip_finetune:
        t = time.time()
        subprocess.run([str(BIN / "kdtext-finetune"), "--from", args.teacher, "--train", str(sst / "train.tsv"),
                        "--dev", str(sst / "dev.tsv"), "--test", str(sst / "test.tsv"), "-o", str(ft), "--overwrite",
                        "--epochs", str(args.epochs), "--lr", args.lr, "--batch-size", "32",
                        "--max-len", str(args.max_len), "--threads", str(args.threads), "--evals-per-epoch", "4",
                        "--log-every", "200", "--quiet"], check=True)
        wall = time.time() - t
    else:
        wall = float("nan")
    m = json.loads((ft / "metrics.json").read_text())
    print(f"# SST-2 fine-tuning of {args.teacher} ({args.epochs} epoch(s), lr {args.lr}, batch 32, "
          f"max_len {args.max_len}, {args.threads} threads)")
    print(f"training time {m['train_seconds']:.0f} s (stage wall {wall:.0f} s), steps {m['steps']}")
    print(f"dev accuracy {m['dev']['accuracy']:.4f}, test accuracy {m['test']['accuracy']:.4f}, "
          f"dev macro-F1 {m['dev']['macro_f1']:.4f}\n")

    best = ft / "best"
    dev = sst / "dev.tsv"
    rows = {}
    kd_probs = None
    for bs in (1, 32):
        runs = []
        for _ in range(args.repeats):
            tfile = work / f"timings-{bs}.json"
            subprocess.run([str(BIN / "kdtext-classify"), "-m", str(best), str(dev), "--batch-size", str(bs),
                            "--max-len", str(args.max_len), "--threads", str(args.threads), "--all-probs",
                            "--timings", str(tfile), "-o", str(work / "pred.tsv"), "--quiet"], check=True)
            runs.append(json.loads(tfile.read_text()))
        n = runs[0]["texts"]
        sps = statistics.median(n / (r["tokenize_seconds"] + r["model_seconds"]) for r in runs)
        lat = [b[1] for r in runs for b in r["batches"]]
        rows[("kdtext", bs)] = (sps, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3)
        kd_probs = [list(map(float, l.split("\t")[2:])) for l in (work / "pred.tsv").read_text().splitlines()[1:]]

    hf = json.loads(subprocess.run([str(venv_python()), "-c", HF, str(best), str(dev), str(args.threads),
                                    str(args.max_len), str(args.repeats)], capture_output=True, text=True,
                                   check=True).stdout)
    for bs in (1, 32):
        runs = hf[str(bs)]["runs"]
        n = len(hf[str(bs)]["probs"])
        sps = statistics.median(n / (r["tokenize_seconds"] + r["model_seconds"]) for r in runs)
        lat = [x for r in runs for x in r["latencies"]]
        rows[("transformers", bs)] = (sps, pct(lat, 50) * 1e3, pct(lat, 99) * 1e3)
    hp = hf["32"]["probs"]
    agree = sum(max(range(len(a)), key=a.__getitem__) == max(range(len(b)), key=b.__getitem__)
                for a, b in zip(kd_probs, hp)) / len(hp)
    diff = max(abs(x - y) for a, b in zip(kd_probs, hp) for x, y in zip(a, b))

    print(f"# kdtext-classify vs Hugging Face transformers (eager, inference_mode) on {len(hp)} SST-2 dev sentences, "
          f"{args.threads} threads, median of {args.repeats}")
    print("latency = one batch from token ids to probabilities; sentences/s includes tokenisation\n")
    print("| engine | batch | sentences/s | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for (eng, bs), (sps, p50, p99) in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"| {eng} | {bs} | {sps:.1f} | {p50:.2f} | {p99:.2f} |")
    for bs in (1, 32):
        print(f"ratio kdtext/transformers at batch {bs}: {rows[('kdtext', bs)][0] / rows[('transformers', bs)][0]:.2f}x")
    print(f"parity: same predicted label on {100 * agree:.2f}% of sentences, max |prob diff| {diff:.2e}")


if __name__ == "__main__":
    main()
