#!/usr/bin/env python3
"""kdtext::Classifier (the C++ API) against kdtext-classify: sentences/s on the same model and texts
(prints figures; not a test). The API runs through examples/classify_api, built against an installed
prefix as a user would build it; kdtext-classify is the installed one.

Model: bert-small (4 x 256) with a classification head, from 2 fine-tuning steps on data/task after 2
pretraining steps on data/corpus (speed, not accuracy, is measured). Texts: SST-2 dev (872 sentences).
Both time tokenisation + the model (the API: its classify() call; the CLI: --timings' tokenize_seconds +
model_seconds), batch 32, fp32, 2 threads, best of 5 interleaved runs.
"""
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from common import BIN, ROOT, SHARED


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}")
    return r


def main():
    work = Path(tempfile.mkdtemp(prefix="kdtext-bench-api-"))
    prefix, example = work / "prefix", work / "example"
    run(["cmake", "--install", str(ROOT / "build"), "--prefix", str(prefix)])
    run(["cmake", "-G", "Ninja", "-S", str(ROOT / "examples" / "classify_api"), "-B", str(example),
         f"-DCMAKE_PREFIX_PATH={prefix}"])
    run(["cmake", "--build", str(example)])
    b = prefix / "bin"
    run([b / "kdtext-preprocess", ROOT / "data" / "corpus", "-o", work / "prep", "--vocab-size", "400", "--quiet"])
    run([b / "kdtext-pretrain", work / "prep", "-o", work / "mlm", "--model", "bert-small", "--max-steps", "2",
         "--max-len", "64", "--quiet"])
    task = ROOT / "data" / "task"
    run([b / "kdtext-finetune", "--from", work / "mlm" / "final", "--train", task / "train.tsv", "--dev",
         task / "dev.tsv", "-o", work / "ft", "--max-steps", "2", "--quiet"])
    model = work / "ft" / "best"
    texts = [l.split("\t", 1)[1] for l in (SHARED / "sst2" / "dev.tsv").read_text().splitlines()[1:]]
    (work / "texts.txt").write_text("\n".join(texts) + "\n")
    env_threads = ["--threads", "2", "--batch-size", "32", "--no-adaptive-threads"]
    api_rates, cli_rates = [], []
    for _ in range(5):
        r = run(["env", "OMP_NUM_THREADS=2", example / "classify_api", model, work / "texts.txt"])
        seconds = float(r.stderr.rsplit(" in ", 1)[1].split()[0])
        api_rates.append(len(texts) / seconds)
        run([b / "kdtext-classify", "-m", model, "--format", "lines", work / "texts.txt", "-o", work / "out.tsv",
             "--timings", work / "timings.json", "--quiet"] + env_threads)
        t = json.loads((work / "timings.json").read_text())
        cli_rates.append(t["texts"] / (t["tokenize_seconds"] + t["model_seconds"]))
    api, cli = max(api_rates), max(cli_rates)
    print(f"# kdtext::Classifier vs kdtext-classify: bert-small classifier, SST-2 dev ({len(texts)} sentences), "
          "batch 32, fp32, 2 threads, best of 5")
    print("| route | sentences/s (best) | median | ratio to the CLI |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| kdtext-classify | {cli:,.0f} | {statistics.median(cli_rates):,.0f} | 1.00x |")
    print(f"| kdtext::Classifier (examples/classify_api) | {api:,.0f} | {statistics.median(api_rates):,.0f} | "
          f"{api / cli:.2f}x |")


if __name__ == "__main__":
    main()
