"""The GPU check, run by gpu-check.sh inside a bundle (scripts/bundle.sh): kdtext's device tests,
then speed on the device, written to OUT/gpu-check.json and OUT/gpu-check.md:
  - pretraining bert-base (configs/model/bert-base.json) with --bf16 at sequence 128, the largest
    batch of 512/256/128/64 that runs: tokens/s and model FLOPs utilisation (FLOPs counted from
    the model's shape: 3x the forward's matrix products, attention and the masked-LM head on the
    masked tokens, over the GPU's dense bf16 peak);
  - fine-tuning (bert-base, bf16, batch 32) and distillation (into tinybert-4l-312, bf16,
    batch 32) steps/s;
  - kdtext-classify sentences/s at batch 1, 32 and 256 (fp32) against transformers eager
    (bench/hf_peers.py infer) on the same device and texts: model time only, every batch but
    each run's first (CUDA start-up), best of 3 runs.
--dry-run: the same route, small (bert-tiny, sequence 32, a few steps), on the CPU: CI runs it.
Every step's command line and output are kept in OUT/logs/. The exit status is 1 when a test or
a step failed (the JSON says which)."""
import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the bundle
RUN = os.path.join(HERE, "run.sh")

# Dense bf16 peak FLOP/s by GPU name (vendor figures, no sparsity).
PEAKS = [("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("GH200", 989e12), ("A100", 312e12),
         ("L40S", 362e12), ("L4", 121e12), ("A10", 125e12)]


class StepFailed(Exception):
    pass


class Check:
    def __init__(self, args):
        self.args, self.out = args, os.path.abspath(args.out)
        self.logs = os.path.join(self.out, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.work = os.path.join(self.out, "work")
        os.makedirs(self.work, exist_ok=True)
        self.failed = []

    def path(self, *names):
        return os.path.join(self.work, *names)

    def kdtext(self, name, argv, timeout=600, launcher=()):
        """Runs a bundled program (under `launcher`, e.g. torchrun); returns its output; raises StepFailed."""
        log = os.path.join(self.logs, name + ".log")
        cmd = list(launcher) + [RUN] + argv
        t0 = time.time()
        with open(log, "w") as f:
            f.write(" ".join(cmd) + "\n")
            f.flush()
            r = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout)
        text = open(log).read()
        print(f"  {name}: exit {r.returncode} in {time.time() - t0:.1f} s", flush=True)
        if r.returncode != 0:
            raise StepFailed(f"{name}: exit {r.returncode}: " + text[-1500:])
        return text

    def step(self, report, key, fn):
        print(f"[{key}]", flush=True)
        try:
            report[key] = fn()
        except (StepFailed, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
            report[key] = {"error": str(e)}
            self.failed.append(key)
            print(f"  FAILED: {str(e)[:800]}", flush=True)


def train_events(metrics_file):
    return [e for e in map(json.loads, open(metrics_file)) if e.get("event") == "train"]


def steps_per_s(events):
    """Steps/s between the first and the last train event (the first window holds start-up)."""
    if len(events) < 2:
        raise ValueError("fewer than two train events in the metrics")
    a, b = events[0], events[-1]
    return (b["step"] - a["step"]) / (b["time"] - a["time"])


def training_flops_per_token(cfg, seq, mask_prob):
    h, layers, inter, vocab = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"], cfg["vocab_size"]
    forward = 2 * layers * (4 * h * h + 2 * h * inter + 2 * seq * h) + 2 * mask_prob * (h * h + h * vocab)
    return 3 * forward


def peak_flops(device_name):
    for key, peak in PEAKS:
        if key in device_name:
            return peak
    return None


def device_info(device):
    import torch
    info = {"device": device, "torch": torch.__version__, "threads": torch.get_num_threads()}
    if device == "cuda":
        info["name"] = torch.cuda.get_device_name(0)
        info["memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        info["bf16_peak_tflops"] = (peak_flops(info["name"]) or 0) / 1e12 or None
    else:
        import platform
        info["name"] = platform.processor() or platform.machine()
    return info


def cuda_visible(c, device):
    """The CUDA devices kdtext's executables see (they load LibTorch's CUDA half themselves)
    against python's torch: a GPU only python sees is a broken bundle, not a CPU machine."""
    import re
    import torch
    text = c.kdtext("version", ["kdtext-classify", "--version"])
    m = re.search(r"CUDA devices: (\d+)", text)
    if not m:
        raise StepFailed("kdtext-classify --version printed no CUDA device count: " + text[-300:])
    res = {"kdtext": int(m.group(1)), "python_torch": torch.cuda.device_count() if torch.cuda.is_available() else 0}
    if device == "cuda" and res["kdtext"] != res["python_torch"]:
        raise StepFailed(f"kdtext sees {res['kdtext']} CUDA device(s), python's torch {res['python_torch']}")
    return res


def run_tests(c):
    out = os.path.join(c.out, "tests.json")
    log = os.path.join(c.logs, "tests.log")
    with open(log, "w") as f:
        r = subprocess.run([RUN, "kdtext_tests", "--gtest_filter=" + c.args.tests, "--gtest_output=json:" + out],
                           stdout=f, stderr=subprocess.STDOUT, timeout=1200)
    res = {"filter": c.args.tests, "exit": r.returncode, "passed": 0, "failed": [], "skipped": 0}
    if not os.path.exists(out):
        raise StepFailed("the test binary wrote no results: " + open(log).read()[-1500:])
    for suite in json.load(open(out))["testsuites"]:
        for t in suite["testsuite"]:
            name = f"{suite['name']}.{t['name']}"
            if t.get("result") == "SKIPPED" or t.get("status") == "NOTRUN":
                res["skipped"] += 1
            elif t.get("failures"):
                res["failed"].append(name)
            else:
                res["passed"] += 1
    if r.returncode != 0 or res["failed"]:
        c.failed.append("tests")
    return res


def pretrain_args(c, size, device):
    return ["kdtext-pretrain", c.path("prep"), "--model", size["model"], "--max-len", str(size["seq"]), "--bf16",
            "--device", device, "--lr", "1e-4"]


def data_parallel(c, size, device, single):
    """The pretraining run again under torchrun, one process per GPU: NCCL (a group of one on one GPU; on the
    CPU torchrun gives one plain process, as CPU groups run on MPI). Tokens/s against the plain run."""
    if "batch" not in single:
        raise StepFailed("the plain pretraining run failed")
    import torch
    n = min(8, torch.cuda.device_count()) if device == "cuda" else 1
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    run = c.path("pretrain-dp")
    text = c.kdtext("pretrain-torchrun", pretrain_args(c, size, device) + [
        "-o", run, "--batch-size", str(single["batch"]), "--max-steps", str(size["steps"]),
        "--log-every", str(size["log_every"]), "--overwrite"],
        launcher=[torchrun, "--nproc-per-node", str(n), "--no-python"])
    events = train_events(os.path.join(run, "metrics.jsonl"))
    tps = statistics.median(e["tokens_per_s"] for e in events[1:] or events)
    engine = "nccl" if "engine nccl" in text else "none (one process)"
    return {"processes": n, "engine": engine, "batch_per_process": single["batch"], "tokens_per_s": tps,
            "single_process_tokens_per_s": single["tokens_per_s"], "ratio": tps / single["tokens_per_s"]}


def pretrain(c, size, device):
    c.kdtext("preprocess", ["kdtext-preprocess", os.path.join(HERE, "data", "corpus"), "-o", c.path("prep"),
                            "--vocab-size", "400", "--quiet", "--overwrite"])
    base = pretrain_args(c, size, device)
    batch, tried = None, []
    for b in size["batches"]:  # the largest batch that runs
        try:
            c.kdtext(f"pretrain-probe-b{b}", base + ["-o", c.path(f"probe-{b}"), "--batch-size", str(b),
                                                    "--max-steps", "2", "--overwrite", "--quiet"])
            batch = b
            break
        except StepFailed as e:
            tried.append({"batch": b, "error": str(e)[-300:]})
    if batch is None:
        raise StepFailed(f"no batch size ran: {tried}")
    run = c.path("pretrain")
    c.kdtext("pretrain", base + ["-o", run, "--batch-size", str(batch), "--max-steps", str(size["steps"]),
                                 "--log-every", str(size["log_every"]), "--overwrite"])
    events = train_events(os.path.join(run, "metrics.jsonl"))
    tps = statistics.median(e["tokens_per_s"] for e in events[1:] or events)
    cfg = json.load(open(os.path.join(run, "final", "config.json")))
    mask_prob = json.load(open(os.path.join(run, "config.json")))["masking"]["mask_prob"]
    fpt = training_flops_per_token(cfg, size["seq"], mask_prob)
    res = {"model": size["model"], "seq": size["seq"], "batch": batch, "batches_that_failed": tried,
           "steps": size["steps"], "tokens_per_s": tps, "train_flops_per_token": fpt,
           "achieved_tflops": tps * fpt / 1e12, "steps_per_s": steps_per_s(events)}
    peak = peak_flops(c.info.get("name", "")) if device == "cuda" else None
    res["mfu"] = tps * fpt / peak if peak else None
    return res


def finetune(c, size, device):
    task = os.path.join(HERE, "data", "task")
    run = c.path("finetune")
    c.kdtext("finetune", ["kdtext-finetune", "--from", c.path("pretrain", "final"), "--train",
                          os.path.join(task, "train.tsv"), "--dev", os.path.join(task, "dev.tsv"), "-o", run,
                          "--max-steps", str(size["steps"]), "--eval-every", str(size["steps"]), "--batch-size", "32",
                          "--max-len", str(size["seq"]), "--log-every", str(size["log_every"]), "--bf16",
                          "--device", device, "--lr", "5e-5", "--overwrite"])
    return {"model": size["model"], "batch": 32, "bf16": True,
            "steps_per_s": steps_per_s(train_events(os.path.join(run, "metrics.jsonl")))}


def distill(c, size, device):
    task = os.path.join(HERE, "data", "task")
    teacher = c.path("finetune", "best")
    c.kdtext("build-student", ["kdtext-build-student", "--teacher", teacher, "--preset", size["student"], "-o",
                               c.path("student-init"), "--overwrite", "--quiet"])
    run = c.path("distill")
    c.kdtext("distill", ["kdtext-distill", "--teacher", teacher, "--student", c.path("student-init"), "--train",
                         os.path.join(task, "train.tsv"), "--dev", os.path.join(task, "dev.tsv"), "-o", run,
                         "--max-steps", str(size["steps"]), "--eval-every", str(size["steps"]), "--batch-size", "32",
                         "--max-len", str(size["seq"]), "--log-every", str(size["log_every"]), "--bf16",
                         "--device", device, "--overwrite"])
    return {"teacher": size["model"], "student": size["student"], "batch": 32, "bf16": True,
            "steps_per_s": steps_per_s(train_events(os.path.join(run, "metrics.jsonl")))}


def texts_file(path, rows, seed):
    """rows texts of 5 task sentences each (about 100 tokens), as label<TAB>text."""
    src = [l.split("\t") for l in open(os.path.join(HERE, "data", "task", "test.tsv")).read().splitlines()[1:] if l]
    rng = random.Random(seed)
    with open(path, "w") as f:
        f.write("label\ttext\n")
        for _ in range(rows):
            pick = [rng.choice(src) for _ in range(5)]
            f.write(pick[0][0] + "\t" + " ".join(p[1] for p in pick) + "\n")


def steady_rate(batches):
    """Sentences/s over [(size, seconds), ...] without the first batch (start-up)."""
    rest = batches[1:] or batches
    return sum(n for n, _ in rest) / sum(s for _, s in rest)


def classify(c, size, device):
    ckpt = c.path("finetune", "best")
    files = {"small": c.path("texts-small.tsv"), "large": c.path("texts-large.tsv")}
    texts_file(files["small"], size["rows_b1"], 1)
    texts_file(files["large"], size["rows"], 2)
    res = {"max_len": 128, "precision": "fp32", "batches": {}}
    for b in (1, 32, 256):
        data = files["small" if b == 1 else "large"]
        rates = []
        for rep in range(3):
            t = c.path(f"timings-b{b}-{rep}.json")
            c.kdtext(f"classify-b{b}-{rep}", ["kdtext-classify", "-m", ckpt, data, "--batch-size", str(b), "--max-len",
                                              "128", "--device", device, "--timings", t, "-o", c.path("labels.tsv"),
                                              "--quiet"])
            rates.append(steady_rate(json.load(open(t))["batches"]))
        res["batches"][str(b)] = {"kdtext": max(rates)}
    # transformers eager, same texts, same device, same threads.
    import torch
    peers = os.path.join(HERE, "bench", "hf_peers.py")
    for data, batches in ((files["small"], "1"), (files["large"], "32,256")):
        log = os.path.join(c.logs, f"transformers-{batches.replace(',', '-')}.log")
        with open(log, "w") as f:
            r = subprocess.run([sys.executable, peers, "infer", ckpt, data, "--threads", str(torch.get_num_threads()),
                                "--max-len", "128", "--repeats", "3", "--batches", batches, "--device", device],
                               stdout=subprocess.PIPE, stderr=f, timeout=900, env=python_env())
        if r.returncode != 0:
            raise StepFailed("hf_peers.py infer: " + open(log).read()[-1500:])
        peer = json.loads(r.stdout)
        rows = len(peer["lengths"])
        for b, v in peer["transformers"].items():
            res["batches"][b]["transformers"] = max(steady_rate(batch_sizes(run["latencies"], int(b), rows))
                                                    for run in v["runs"])
    for b, v in res["batches"].items():
        if "transformers" in v:
            v["ratio"] = v["kdtext"] / v["transformers"]
    return res


def batch_sizes(latencies, batch, rows):
    """[(texts, seconds)] for hf_peers' per-batch latencies: full batches, then the remainder."""
    sizes = [batch] * (rows // batch) + ([rows % batch] if rows % batch else [])
    return list(zip(sizes, latencies))


def python_env():
    """The environment for Python: without the bundle's library path (its libraries are for kdtext)."""
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    return env


def markdown(r):
    i = r["info"]
    lines = [f"# kdtext GPU check ({i.get('name', '?')}, {i['device']})", "",
             f"commit {r.get('commit', '?')}; torch {i['torch']}; {r['mode']} sizes; {r['seconds']:.0f} s in all.", ""]
    t = r.get("tests", {})
    if "error" in t:
        lines += [f"- tests: error: {t['error'][:300]}"]
    elif t:
        lines += [f"- tests `{t['filter']}`: {t['passed']} passed, {len(t['failed'])} failed, {t['skipped']} skipped"
                  + (f" ({', '.join(t['failed'])})" if t["failed"] else "")]
    p = r.get("pretrain", {})
    if "error" in p:
        lines += [f"- pretraining: error: {p['error'][:300]}"]
    elif p:
        mfu = f"{100 * p['mfu']:.1f}%" if p.get("mfu") is not None else "n/a (no known peak)"
        lines += [f"- pretraining {p['model']}, bf16, seq {p['seq']}, batch {p['batch']}: {p['tokens_per_s']:,.0f} "
                  f"tokens/s, {p['achieved_tflops']:.3g} TFLOP/s, model FLOPs utilisation {mfu}"]
    d = r.get("data_parallel", {})
    if "error" in d:
        lines += [f"- torchrun pretraining: error: {d['error'][:300]}"]
    elif d:
        lines += [f"- torchrun pretraining, {d['processes']} process(es), engine {d['engine']}, batch "
                  f"{d['batch_per_process']} each: {d['tokens_per_s']:,.0f} tokens/s "
                  f"({d['ratio']:.2f}x the plain run's {d['single_process_tokens_per_s']:,.0f})"]
    for key, what in (("finetune", "fine-tuning"), ("distill", "distillation")):
        s = r.get(key, {})
        lines += [f"- {what}: error: {s['error'][:300]}" if "error" in s else
                  f"- {what} ({s.get('teacher', s.get('model'))}{' -> ' + s['student'] if 'student' in s else ''}, "
                  f"bf16, batch {s['batch']}): {s['steps_per_s']:.2f} steps/s"] if s else []
    cl = r.get("classify", {})
    if "error" in cl:
        lines += [f"- classify: error: {cl['error'][:300]}"]
    elif cl:
        lines += ["", "| classify, fp32, sentences/s | kdtext | transformers eager | ratio |", "| --- | ---: | ---: | ---: |"]
        for b, v in cl["batches"].items():
            hf = v.get("transformers")
            lines += [f"| batch {b} | {v['kdtext']:,.0f} | {hf:,.0f} | {v['ratio']:.2f}x |" if hf else
                      f"| batch {b} | {v['kdtext']:,.0f} | — | — |"]
    if r["failed"]:
        lines += ["", f"Failed: {', '.join(r['failed'])} (see logs/)."]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--dry-run", action="store_true", help="small sizes (the CPU run CI makes)")
    ap.add_argument("--tests", default="Devices/*", help="gtest filter of the tests to run")
    ap.add_argument("--skip-tests", action="store_true")
    args = ap.parse_args()
    import torch
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_check: --device cuda, but python's torch sees no GPU")
    dry = args.dry_run or device == "cpu"
    size = (dict(model="bert-tiny", seq=32, batches=[16, 8], steps=6, log_every=2, student="2l-128", rows=64, rows_b1=16)
            if dry else
            dict(model="bert-base", seq=128, batches=[512, 256, 128, 64], steps=60, log_every=10,
                 student="tinybert-4l-312", rows=4096, rows_b1=512))
    c = Check(args)
    t0 = time.time()
    c.info = device_info(device)
    manifest = os.path.join(HERE, "manifest.json")
    report = {"mode": "dry-run" if dry else "full", "info": c.info,
              "commit": json.load(open(manifest)).get("commit") if os.path.exists(manifest) else None}
    print(f"gpu_check: {c.info['name']} ({device}), {report['mode']} sizes -> {c.out}", flush=True)
    c.step(report, "cuda_devices", lambda: cuda_visible(c, device))
    if not args.skip_tests:
        c.step(report, "tests", lambda: run_tests(c))
    c.step(report, "pretrain", lambda: pretrain(c, size, device))
    c.step(report, "data_parallel", lambda: data_parallel(c, size, device, report["pretrain"]))
    c.step(report, "finetune", lambda: finetune(c, size, device))
    c.step(report, "distill", lambda: distill(c, size, device))
    c.step(report, "classify", lambda: classify(c, size, device))
    report["failed"] = sorted(set(c.failed))
    report["seconds"] = time.time() - t0
    for name, text in (("gpu-check.json", json.dumps(report, indent=2) + "\n"), ("gpu-check.md", markdown(report))):
        tmp = os.path.join(c.out, name + ".tmp")
        open(tmp, "w").write(text)
        os.replace(tmp, os.path.join(c.out, name))
    print(markdown(report))
    sys.exit(1 if report["failed"] else 0)


if __name__ == "__main__":
    main()
