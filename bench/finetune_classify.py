#!/usr/bin/env python3
"""Fine-tuning and inference benchmark against the Python peers (prints figures; not a test).

1. (--teacher) kdtext-finetune of a pretrained checkpoint on SST-2: training time, dev and test
   accuracy of the best checkpoint.
2. Inference: kdtext-classify vs Hugging Face transformers (PyTorch eager, torch.inference_mode)
   and, with --onnx, ONNX Runtime (the same weights exported from PyTorch), for every --model,
   at batch 1 and 32 on the same sentences with the same threads and the same length-sorted
   batches: sentences/s (tokenisation included), p50/p99 batch latency, achieved GFLOP/s and its
   fraction of the fp32 matmul peak measured in the same run, and label parity.
3. (--train-steps N) fine-tuning step throughput: kdtext-finetune vs a plain PyTorch/transformers
   loop from the same pretrained checkpoint, batch 32, with the peak RSS of each.
All peers run in the same invocation as kdtext (ratios, medians of --repeats).
"""
import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import BIN, SHARED, cpu_facts, describe_cpu, forward_flops, hf_peer, kdtext_step_seconds, matmul_peak, measured, model_facts, pct

PEERS = ("transformers", "onnxruntime", "onnxruntime-int8", "ctranslate2", "ctranslate2-int8")
PRECISIONS = ("fp32", "int8", "bf16", "auto")  # auto: what --precision auto chose (measured at load, cached)


def engine_name(precision):
    return "kdtext" if precision == "fp32" else f"kdtext-{precision}"


def kdtext_infer(ckpt, data, bs, threads, max_len, repeats, work, precision="fp32"):
    runs = []
    for _ in range(repeats):
        tfile = work / f"timings-{bs}.json"
        subprocess.run([str(BIN / "kdtext-classify"), "-m", str(ckpt), str(data), "--batch-size", str(bs),
                        "--precision", precision, "--no-adaptive-threads",
                        "--max-len", str(max_len), "--threads", str(threads), "--all-probs",
                        "--timings", str(tfile), "-o", str(work / "pred.tsv"), "--quiet"], check=True)
        runs.append(json.loads(tfile.read_text()))
    probs = [list(map(float, l.split("\t")[2:])) for l in (work / "pred.tsv").read_text().splitlines()[1:]]
    return ([{"tokenize_seconds": r["tokenize_seconds"], "model_seconds": r["model_seconds"],
              "precision": r.get("precision", precision), "latencies": [b[1] for b in r["batches"]]}
             for r in runs], probs)


def summarise(runs, n, flops, peak):
    sps = statistics.median(n / (r["tokenize_seconds"] + r["model_seconds"]) for r in runs)
    model_s = statistics.median(r["model_seconds"] for r in runs)
    lat = [x for r in runs for x in r["latencies"]]
    gflops = flops / model_s / 1e9
    return {"sentences_per_s": sps, "p50_ms": pct(lat, 50) * 1e3, "p99_ms": pct(lat, 99) * 1e3,
            "gflops": gflops, "peak_fraction": gflops * 1e9 / peak, "ran": runs[0].get("precision", "")}


def argmax(p):
    return max(range(len(p)), key=p.__getitem__)


def inference(models, data, args, work, peak):
    rows, parity = [], []
    for name, ckpt in models:
        cfg, labels = model_facts(ckpt)
        mwork = work / name.replace(" ", "-")
        mwork.mkdir(parents=True, exist_ok=True)
        extra = (["--onnx", str(mwork)] if args.onnx else []) + (["--ct2", str(mwork / "ct2")] if args.ct2 else [])
        py, _ = hf_peer(["infer", str(ckpt), str(data), "--threads", str(args.threads), "--max-len", str(args.max_len),
                      "--repeats", str(args.repeats)] + extra, mwork / "peers.json")
        n = len(py["lengths"])
        flops = forward_flops(cfg, py["lengths"], labels)
        kd_probs = None
        for bs in (1, 32):
            engines, labels_of = {}, {}
            for precision in PRECISIONS:
                runs, probs = kdtext_infer(ckpt, data, bs, args.threads, args.max_len, args.repeats, mwork, precision)
                engines[engine_name(precision)] = runs
                labels_of[precision] = [argmax(p) for p in probs]
                kd_probs = probs if precision == "fp32" else kd_probs
            for precision in PRECISIONS[1:]:
                parity.append({"model": name, "peer": f"{engine_name(precision)} (batch {bs})",
                               "same_label": sum(a == b for a, b in zip(labels_of[precision], labels_of["fp32"])) / n,
                               "max_prob_diff": float("nan")})
            for eng in PEERS:
                if eng in py:
                    engines[eng] = py[eng][str(bs)]["runs"]
            for eng, r in engines.items():
                rows.append(dict(model=name, engine=eng, batch=bs, **summarise(r, n, flops, peak)))
        for eng in PEERS:
            if eng in py:
                other = py[eng]["32"]["probs"]
                parity.append({"model": name, "peer": eng,
                               "same_label": sum(argmax(a) == argmax(b) for a, b in zip(kd_probs, other)) / n,
                               "max_prob_diff": max(abs(x - y) for a, b in zip(kd_probs, other)
                                                    for x, y in zip(a, b))})
        rows_m = [r for r in rows if r["model"] == name]
        print(f"\n# {name} on {describe_cpu()}: {n} sentences of {data}, {args.threads} threads, median of {args.repeats}, "
              f"{flops / n / 1e6:.1f} MFLOP/sentence; fp32 matmul peak {peak / 1e9:.1f} GFLOP/s")
        print("| engine | batch | sentences/s | p50 ms | p99 ms | GFLOP/s | % of peak | kdtext/engine |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in rows_m:
            kd = next(x for x in rows_m if x["engine"] == "kdtext" and x["batch"] == r["batch"])
            ran = f" ({r['ran']})" if r["engine"] == "kdtext-auto" else ""
            print(f"| {r['engine']}{ran} | {r['batch']} | {r['sentences_per_s']:.1f} | {r['p50_ms']:.2f} | "
                  f"{r['p99_ms']:.2f} | {r['gflops']:.1f} | {100 * r['peak_fraction']:.0f}% | "
                  f"{kd['sentences_per_s'] / r['sentences_per_s']:.2f}x |")
        for p in parity:
            if p["model"] == name:
                print(f"parity with {p['peer']}: same label on {100 * p['same_label']:.2f}%, "
                      f"max |prob diff| {p['max_prob_diff']:.2e}")
    return rows, parity


def train_speed(base, train, args, work):
    """Fine-tuning steps/s of kdtext-finetune vs a plain transformers loop (same start, batch 32)."""
    out = work / "ft-speed"
    total = args.train_warmup + args.train_steps
    _, rss = measured([BIN / "kdtext-finetune", "--from", base, "--train", train, "-o", out, "--overwrite",
                       "--batch-size", "32", "--max-len", args.max_len, "--threads", args.threads, "--log-every", "1",
                       "--max-steps", total + 1, "--dev", args.data, "--eval-every", 10 ** 6, "--quiet"])
    secs, tokens = kdtext_step_seconds(out, args.train_warmup, args.train_steps)
    py, py_rss = hf_peer(["finetune", str(base), str(train), "--threads", str(args.threads), "--max-len",
                       str(args.max_len), "--steps", str(args.train_steps), "--warmup", str(args.train_warmup)],
                         work / "ft-peer.json")
    res = {"kdtext": {"steps_per_s": args.train_steps / secs, "tokens_per_step": tokens / args.train_steps,
                      "peak_rss_mb": rss},
           "transformers": {"steps_per_s": args.train_steps / py["seconds"],
                            "tokens_per_step": py["tokens"] / args.train_steps, "peak_rss_mb": py_rss}}
    print(f"\n# fine-tuning step throughput from {base}: batch 32, max_len {args.max_len}, {args.threads} threads, "
          f"steps {args.train_warmup + 1}..{total} timed")
    print("| trainer | steps/s | real tokens/step | peak RSS MB |")
    print("| --- | ---: | ---: | ---: |")
    for k, v in res.items():
        print(f"| {k} | {v['steps_per_s']:.3f} | {v['tokens_per_step']:.0f} | {v['peak_rss_mb']:.0f} |")
    print(f"ratio kdtext/transformers: {res['kdtext']['steps_per_s'] / res['transformers']['steps_per_s']:.2f}x")
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--teacher", default="", help="pretrained checkpoint to fine-tune on SST-2 first")
    ap.add_argument("--model", action="append", default=[], metavar="NAME=CKPT",
                    help="fine-tuned checkpoints to measure (default: the teacher fine-tuned here)")
    ap.add_argument("--data", default=str(SHARED / "sst2" / "dev.tsv"), help="sentences for the inference runs")
    ap.add_argument("--train", default=str(SHARED / "sst2" / "train.tsv"))
    ap.add_argument("--work", default="")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--lr", default="1e-4")
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--onnx", action="store_true", help="also ONNX Runtime (fp32 and quantize_dynamic int8)")
    ap.add_argument("--ct2", action="store_true", help="also CTranslate2's Encoder (fp32 and int8)")
    ap.add_argument("--train-from", default="", help="pretrained checkpoint for the fine-tuning step throughput")
    ap.add_argument("--train-steps", type=int, default=0)
    ap.add_argument("--train-warmup", type=int, default=5)
    ap.add_argument("--json", default="", help="also write every figure here")
    args = ap.parse_args()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="kdtext-bench-ft-"))
    work.mkdir(parents=True, exist_ok=True)
    result = {"threads": args.threads, "max_len": args.max_len, "repeats": args.repeats, "data": args.data,
              "cpu": cpu_facts()}
    models = [tuple(m.split("=", 1)) for m in args.model]

    if args.teacher:
        sst = SHARED / "sst2"
        ft = work / "sst2-teacher"
        t = time.time()
        subprocess.run([str(BIN / "kdtext-finetune"), "--from", args.teacher, "--train", str(sst / "train.tsv"),
                        "--dev", str(sst / "dev.tsv"), "--test", str(sst / "test.tsv"), "-o", str(ft), "--overwrite",
                        "--epochs", str(args.epochs), "--lr", args.lr, "--batch-size", "32",
                        "--max-len", str(args.max_len), "--threads", str(args.threads), "--evals-per-epoch", "4",
                        "--log-every", "200", "--quiet"], check=True)
        m = json.loads((ft / "metrics.json").read_text())
        print(f"# SST-2 fine-tuning of {args.teacher} ({args.epochs} epoch(s), lr {args.lr}, batch 32, "
              f"max_len {args.max_len}, {args.threads} threads): {m['train_seconds']:.0f} s "
              f"(stage wall {time.time() - t:.0f} s), {m['steps']} steps, dev accuracy {m['dev']['accuracy']:.4f}, "
              f"test accuracy {m['test']['accuracy']:.4f}")
        models = models or [("teacher", ft / "best")]

    if models:
        peak, _ = matmul_peak(args.threads)
        result["matmul_peak_fp32"] = peak
        result["inference"], result["parity"] = inference(models, Path(args.data), args, work, peak)
    if args.train_steps:
        result["finetune_speed"] = train_speed(args.train_from or args.teacher, args.train, args, work)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
