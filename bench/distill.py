#!/usr/bin/env python3
"""Distillation benchmark on one labelled set of shared/data (prints figures; not a test).

A teacher (given, or fine-tuned here from a pretrained checkpoint such as the imported
MiniLM-L6), then the same student architecture (a) distilled with the TinyBERT preset
(intermediate stage on the layers of --layer-list, then prediction stage), (b) trained on labels
only. For each: dev/test accuracy and macro-F1, parameters, inference FLOPs per sentence,
kdtext-classify throughput (batch 32, dev set, median of --repeats), training time; the accuracy
the student keeps and its speed-up over the teacher.

With --textbrewer-steps N: distillation step throughput of kdtext-distill vs TextBrewer
(GeneralDistiller) on the same teacher, student, batch (32) and max_len, for both TinyBERT
stages, with the peak RSS of each.
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path

from common import BIN, ROOT, SHARED, forward_flops, hf_peer, kdtext_step_seconds, measured, model_facts, params, \
    subset, token_lengths, venv_python

REUSE = False
REUSED = []


def run(args):
    """Runs a stage; returns its wall time. With --reuse, a stage whose run directory already has
    metrics.json is not run again and its recorded training time is returned."""
    out = Path(args[args.index("-o") + 1])
    if REUSE and (out / "metrics.json").exists():
        REUSED.append(out.name)
        return json.loads((out / "metrics.json").read_text())["train_seconds"]
    return measured(args)[0]


def training_seconds(ckpt):
    """Training time of a given fine-tuned checkpoint: the recorded train_seconds of every
    fine-tuning run along its provenance chain (e.g. two one-epoch runs)."""
    total, ckpt = 0.0, Path(ckpt)
    while (ckpt / "kdtext.json").exists():
        meta = json.loads((ckpt / "kdtext.json").read_text())
        m = ckpt.parent / "metrics.json"
        if meta.get("stage") not in ("finetune", "distill") or not m.exists():
            break
        total += json.loads(m.read_text())["train_seconds"]
        ckpt = Path(meta["provenance"]["from"])
    return total or float("nan")


def throughput(model, dev, threads, max_len, repeats, work):
    rates = []
    for _ in range(repeats):
        subprocess.run([BIN / "kdtext-classify", "-m", model, dev, "--batch-size", "32", "--max-len", str(max_len),
                        "--threads", str(threads), "--timings", work / "t.json", "-o", work / "p.tsv", "--quiet"],
                       check=True)
        t = json.loads((work / "t.json").read_text())
        rates.append(t["texts"] / (t["tokenize_seconds"] + t["model_seconds"]))
    return statistics.median(rates)


def evaluate(model, path, threads, max_len, work):
    subprocess.run([BIN / "kdtext-classify", "-m", model, path, "--eval", "--max-len", str(max_len), "--threads",
                    str(threads), "-o", work / "e.tsv", "--metrics", work / "e.json", "--quiet"], check=True,
                   stderr=subprocess.DEVNULL)
    m = json.loads((work / "e.json").read_text())
    return {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}


def textbrewer_speed(teacher, init, train, args, mapping, work):
    """Steps/s of both TinyBERT stages, kdtext-distill vs TextBrewer, same models and batch."""
    total = args.textbrewer_warmup + args.textbrewer_steps
    res = {}
    for stage, preset in (("intermediate", "tinybert-intermediate"), ("prediction", "tinybert-prediction")):
        out = work / f"speed-{stage}"
        _, rss = measured([BIN / "kdtext-distill", "--config", ROOT / f"configs/distill/{preset}.json", "--teacher",
                           teacher, "--student", init, "-o", out, "--train", train, "--dev", args.dev_file,
                           "--max-len", args.max_len, "--batch-size", "32", "--threads", args.threads,
                           "--log-every", "1", "--stop-at-step", total + 1, "--overwrite", "--quiet"]
                          + (mapping if stage == "intermediate" else []))
        secs, tokens = kdtext_step_seconds(out, args.textbrewer_warmup, args.textbrewer_steps)
        res[stage] = {"kdtext": {"steps_per_s": args.textbrewer_steps / secs,
                                 "tokens_per_step": tokens / args.textbrewer_steps, "peak_rss_mb": rss}}
        py, py_rss = hf_peer(["textbrewer", teacher, init, train, "--stage", stage, "--layer-list",
                              args.layer_list or "", "--out", work / f"textbrewer-{stage}", "--threads", args.threads,
                              "--max-len", args.max_len, "--steps", args.textbrewer_steps, "--warmup",
                              args.textbrewer_warmup], work / f"textbrewer-{stage}.json")
        res[stage]["textbrewer"] = {"steps_per_s": args.textbrewer_steps / py["seconds"],
                                    "tokens_per_step": py["tokens"] / args.textbrewer_steps, "peak_rss_mb": py_rss}
    print(f"\n# distillation step throughput, kdtext-distill vs TextBrewer {args.textbrewer_version}: batch 32, "
          f"max_len {args.max_len}, {args.threads} threads, steps {args.textbrewer_warmup + 1}..{total} timed")
    print("| stage | trainer | steps/s | real tokens/step | peak RSS MB |")
    print("| --- | --- | ---: | ---: | ---: |")
    for stage, r in res.items():
        for k, v in r.items():
            print(f"| {stage} | {k} | {v['steps_per_s']:.3f} | {v['tokens_per_step']:.0f} | {v['peak_rss_mb']:.0f} |")
        print(f"| {stage} | ratio kdtext/TextBrewer | {r['kdtext']['steps_per_s'] / r['textbrewer']['steps_per_s']:.2f}x"
              f" | | |")
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="sst2", help="a labelled set of shared/data")
    ap.add_argument("--train-limit", type=int, default=0, help="sample this many training rows (0: all)")
    ap.add_argument("--eval-limit", type=int, default=0, help="sample this many dev and test rows (0: all)")
    ap.add_argument("--teacher", default="", help="fine-tuned teacher checkpoint")
    ap.add_argument("--base", default="", help="pretrained checkpoint to fine-tune the teacher from")
    ap.add_argument("--teacher-epochs", type=int, default=3)
    ap.add_argument("--teacher-lr", default="5e-5")
    ap.add_argument("--work", default="")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--max-len", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1, help="epochs of each student stage")
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=312)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--intermediate", type=int, default=1200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layer-list", default="2,3,5,6",
                    help="teacher layers (1-based, comma-separated) per student layer for the intermediate terms")
    ap.add_argument("--textbrewer-steps", type=int, default=0)
    ap.add_argument("--textbrewer-warmup", type=int, default=5)
    ap.add_argument("--reuse", action="store_true", help="keep finished stages of an earlier run in --work")
    ap.add_argument("--json", default="", help="also write every figure here")
    args = ap.parse_args()
    global REUSE
    REUSE = args.reuse
    if bool(args.teacher) == bool(args.base):
        ap.error("give exactly one of --teacher (fine-tuned) and --base (pretrained)")
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="kdtext-bench-distill-"))
    work.mkdir(parents=True, exist_ok=True)
    src = SHARED / args.dataset
    files = {}
    for split, limit in (("train", args.train_limit), ("dev", args.eval_limit), ("test", args.eval_limit)):
        files[split] = work / "data" / f"{split}.tsv"
        subset(src / f"{split}.tsv", files[split], limit)
    args.dev_file = files["dev"]
    common = ["--train", files["train"], "--dev", files["dev"], "--test", files["test"], "--max-len", args.max_len,
              "--batch-size", "32", "--threads", args.threads, "--overwrite", "--quiet"]
    times = {}
    if args.base:
        times["teacher"] = run([BIN / "kdtext-finetune", "--from", args.base, "-o", work / "teacher", "--lr",
                                args.teacher_lr, "--epochs", args.teacher_epochs, "--evals-per-epoch", "2"] + common)
        teacher = work / "teacher" / "best"
    else:
        teacher = Path(args.teacher)
        times["teacher"] = training_seconds(teacher)
    common += ["--epochs", args.epochs]
    init = work / "student-init"
    run([BIN / "kdtext-build-student", "--teacher", teacher, "-o", init, "--overwrite", "--layers", args.layers,
         "--hidden", args.hidden, "--heads", args.heads, "--intermediate", args.intermediate, "--quiet"])
    mapping = []
    if args.layer_list:
        mapping = ["--layer-map", "list"]
        for layer in args.layer_list.split(","):
            mapping += ["--layer-list", layer]
    times["tinybert"] = run([BIN / "kdtext-distill", "--config", ROOT / "configs/distill/tinybert-intermediate.json",
                             "--teacher", teacher, "--student", init, "-o", work / "tb-inter"] + mapping + common)
    times["tinybert"] += run([BIN / "kdtext-distill", "--config", ROOT / "configs/distill/tinybert-prediction.json",
                              "--teacher", teacher, "--student", work / "tb-inter" / "final", "-o",
                              work / "tb-pred"] + common)
    times["labels"] = run([BIN / "kdtext-finetune", "--from", init, "-o", work / "labels-only", "--lr", "3e-4"]
                          + common)
    models = [("teacher", teacher, "teacher"), ("student, TinyBERT distilled", work / "tb-pred" / "best", "tinybert"),
              ("student, labels only", work / "labels-only" / "best", "labels")]
    n_dev = len(files["dev"].read_text(encoding="utf-8").splitlines()) - 1
    print(f"# {args.dataset}: student {args.layers}x{args.hidden} (heads {args.heads}, ffn {args.intermediate}), "
          f"{args.epochs} epoch(s) per stage, batch 32, max_len {args.max_len}, {args.threads} threads; throughput = "
          f"kdtext-classify batch 32 on the {n_dev} dev sentences, median of {args.repeats}\n")
    print("| model | params | MFLOP/sentence | dev acc | dev F1 | test acc | test F1 | train s | sentences/s | "
          "speed-up | dev acc kept |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    for name, model, key in models:
        cfg, labels = model_facts(model)
        lengths = token_lengths(model, files["dev"], args.max_len, work)
        row = {"model": name, "checkpoint": str(model), "params": params(model),
               "flops_per_sentence": forward_flops(cfg, lengths, labels) / len(lengths),
               "dev": evaluate(model, files["dev"], args.threads, args.max_len, work),
               "test": evaluate(model, files["test"], args.threads, args.max_len, work),
               "train_seconds": times[key],
               "sentences_per_s": throughput(model, files["dev"], args.threads, args.max_len, args.repeats, work),
               "shape": f"{cfg['num_hidden_layers']}x{cfg['hidden_size']}"}
        rows.append(row)
        t = rows[0]
        print(f"| {name} | {row['params']:,} | {row['flops_per_sentence'] / 1e6:.0f} | {row['dev']['accuracy']:.4f} | "
              f"{row['dev']['macro_f1']:.4f} | {row['test']['accuracy']:.4f} | {row['test']['macro_f1']:.4f} | "
              f"{row['train_seconds']:.0f} | {row['sentences_per_s']:.1f} | "
              f"{row['sentences_per_s'] / t['sentences_per_s']:.2f}x | "
              f"{100 * row['dev']['accuracy'] / t['dev']['accuracy']:.1f}% |")
    result = {"dataset": args.dataset, "rows": rows, "max_len": args.max_len, "epochs": args.epochs,
              "teacher_epochs": args.teacher_epochs if args.base else None, "threads": args.threads,
              "sizes": {k: len(v.read_text(encoding="utf-8").splitlines()) - 1 for k, v in files.items()},
              "reused_stages": REUSED, "given_teacher": bool(args.teacher),
              "curves": {k: str(work / k / "metrics.jsonl") for k in ("tb-inter", "tb-pred", "labels-only")}}
    if args.textbrewer_steps:
        args.textbrewer_version = subprocess.run([str(venv_python()), "-c", "import textbrewer; print(textbrewer.__version__)"],
                                                 capture_output=True, text=True).stdout.strip()
        result["distill_speed"] = textbrewer_speed(teacher, init, files["train"], args, mapping, work)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
