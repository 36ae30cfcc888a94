"""The Python peers kdtext is measured against, run with kdtext's virtual environment
(PyPI torch, transformers, onnxruntime, textbrewer). Every subcommand prints one JSON object.

  infer CKPT DATA --threads N --max-len L --repeats R --batches 1,32 [--onnx DIR] [--ct2 DIR] [--device cuda]
      transformers BertForSequenceClassification (PyTorch eager, torch.inference_mode; on --device);
      with --onnx, ONNX Runtime on the same weights exported from PyTorch (all graph optimisations)
      and on its quantize_dynamic model (int8 weights, defaults); with --ct2, CTranslate2's Encoder
      on the converted model (float32 and int8; the classifier head applied to its pooled output
      in NumPy): per engine and batch size, tokenisation and per-batch model seconds of each
      repeat, the probabilities, and the token count of every text.
  finetune BASE TRAIN --threads N --max-len L --steps S --warmup W
      a plain PyTorch/transformers fine-tuning loop (AdamW, linear schedule, clipping, dropout):
      wall seconds of steps W..W+S.
  textbrewer TEACHER STUDENT TRAIN --stage intermediate|prediction --layer-list 2,3,5,6 ...
      TextBrewer's GeneralDistiller with the TinyBERT stage of kdtext's preset: seconds of
      steps W..W+S.
Checkpoints are kdtext checkpoint directories, which transformers loads as they are; texts are
tokenised by transformers' BertTokenizer from the files beside them (WordPiece checkpoints) or by
sentencepiece after kdtext's normaliser (kdtext's own tokenizers).
"""
import argparse
import contextlib
import json
import random
import resource
import sys
import time

import torch


def texts_labels(path):
    lines = open(path, encoding="utf-8").read().split("\n")
    header = lines[0].split("\t")
    li, ti = header.index("label"), header.index("text")
    rows = [l.split("\t") for l in lines[1:] if l]
    return [r[ti] for r in rows], [r[li] for r in rows]


def tokenizer(ckpt, max_len):
    """The checkpoint's tokenisation in Python: transformers' BertTokenizer for WordPiece, the
    sentencepiece model after kdtext's normaliser otherwise; [CLS]/[SEP] added, truncated."""
    meta = json.load(open(f"{ckpt}/tokenizer/tokenizer.json"))
    if meta["type"] == "wordpiece":
        from transformers import BertTokenizer
        tok = BertTokenizer.from_pretrained(ckpt)
        return lambda t: tok(t, truncation=True, max_length=max_len)["input_ids"]
    import sentencepiece as spm
    import unicodedata
    norm = meta["normalizer"]
    sp = spm.SentencePieceProcessor(model_file=f"{ckpt}/tokenizer/{meta['model_file']}")

    def normalize(t):
        if norm["nfkc"]:
            t = unicodedata.normalize("NFKC", t)
        if norm["lowercase"]:
            t = t.lower()
        if norm["remove_control"]:
            t = "".join(c for c in t if c.isspace() or not unicodedata.category(c).startswith("C"))
        if norm["collapse_whitespace"]:
            t = " ".join(t.split())
        return t
    return lambda t: [2] + sp.encode(normalize(t))[: max_len - 2] + [3]


def pad(seqs):
    T = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), T, dtype=torch.long)
    mask = torch.zeros(len(seqs), T, dtype=torch.long)
    for k, s in enumerate(seqs):
        ids[k, :len(s)] = torch.tensor(s)
        mask[k, :len(s)] = 1
    return ids, mask


def infer(args):
    from transformers import BertForSequenceClassification
    texts, _ = texts_labels(args.data)
    encode = tokenizer(args.ckpt, args.max_len)
    if args.onnx and args.device != "cpu":
        sys.exit("hf_peers.py infer: --onnx runs on the CPU; leave --device out")
    device = torch.device(args.device)
    model = BertForSequenceClassification.from_pretrained(args.ckpt).eval().to(device)
    engines = {"transformers": lambda ids, mask: torch.softmax(
        model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits, -1).cpu()}
    if args.onnx:
        import onnxruntime as ort
        path = f"{args.onnx}/model.onnx"
        ids, mask = pad([encode(t) for t in texts[:2]])
        batch, seq = torch.export.Dim("batch", min=1, max=1024), torch.export.Dim("seq", min=2, max=args.max_len)
        with contextlib.redirect_stdout(sys.stderr):  # the exporter reports progress on stdout
            torch.onnx.export(model, (ids, mask), path, input_names=["input_ids", "attention_mask"],
                              output_names=["logits"], dynamo=True, opset_version=18,
                              dynamic_shapes=({0: batch, 1: seq}, {0: batch, 1: seq}))
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])

        def run_ort(ids, mask):
            logits = torch.from_numpy(sess.run(["logits"], {"input_ids": ids.numpy(),
                                                            "attention_mask": mask.numpy()})[0])
            return torch.softmax(logits, -1)
        engines["onnxruntime"] = run_ort
        from onnxruntime.quantization import QuantType, quantize_dynamic
        qpath = f"{args.onnx}/model.int8.onnx"
        quantize_dynamic(path, qpath, weight_type=QuantType.QInt8)
        qsess = ort.InferenceSession(qpath, so, providers=["CPUExecutionProvider"])
        engines["onnxruntime-int8"] = lambda ids, mask: torch.softmax(torch.from_numpy(qsess.run(
            ["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]), -1)
    if args.ct2:
        engines.update(ctranslate2_engines(args, model))
    out = {"lengths": [len(s) for s in (encode(t) for t in texts)]}
    for name, fn in engines.items():
        res = {}
        for bs in args.batches:
            runs, probs = [], [None] * len(texts)
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                enc = [encode(t) for t in texts]
                tok_s = time.perf_counter() - t0
                order = sorted(range(len(enc)), key=lambda i: -len(enc[i]))
                lat = []
                with torch.inference_mode():
                    for s in range(0, len(order), bs):
                        rows = order[s:s + bs]
                        t1 = time.perf_counter()
                        ids, mask = pad([enc[i] for i in rows])
                        p = fn(ids, mask)
                        lat.append(time.perf_counter() - t1)
                        for k, i in enumerate(rows):
                            probs[i] = p[k].tolist()
                runs.append({"tokenize_seconds": tok_s, "model_seconds": sum(lat), "latencies": lat})
            res[str(bs)] = {"runs": runs, "probs": probs}
        out[name] = res
    return out


def ctranslate2_engines(args, model):
    """CTranslate2's Encoder on the converted checkpoint, fp32 and int8; the classifier head on
    its pooled output."""
    import ctranslate2
    import numpy as np
    from ctranslate2.converters import TransformersConverter
    with contextlib.redirect_stdout(sys.stderr):
        TransformersConverter(args.ckpt).convert(args.ct2, quantization=None, force=True)
    w = model.classifier.weight.detach().cpu().numpy().T
    b = model.classifier.bias.detach().cpu().numpy()
    out = {}
    for name, compute in (("ctranslate2", "float32"), ("ctranslate2-int8", "int8")):
        enc = ctranslate2.Encoder(args.ct2, device="cpu", compute_type=compute, intra_threads=args.threads,
                                  inter_threads=1)

        def run(ids, mask, enc=enc):
            rows = [r[:int(n)] for r, n in zip(ids.tolist(), mask.sum(1).tolist())]
            pooled = np.asarray(enc.forward_batch(rows).pooler_output)
            return torch.softmax(torch.from_numpy(pooled @ w + b), -1)
        out[name] = run
    return out


def batches(path, encode, label_ids, batch_size, count, seed):
    """count shuffled training batches (epochs repeat as needed), padded to their longest row."""
    texts, labels = texts_labels(path)
    enc = [encode(t) for t in texts]
    rng = random.Random(seed)
    order = []
    while len(order) < count * batch_size:
        perm = list(range(len(enc)))
        rng.shuffle(perm)
        order += perm
    out = []
    for b in range(count):
        rows = order[b * batch_size:(b + 1) * batch_size]
        ids, mask = pad([enc[i] for i in rows])
        out.append({"input_ids": ids, "attention_mask": mask,
                    "labels": torch.tensor([label_ids[labels[i]] for i in rows])})
    return out


def finetune(args):
    from transformers import BertForSequenceClassification, get_linear_schedule_with_warmup
    _, labels = texts_labels(args.train)
    names = sorted(set(labels))
    model = BertForSequenceClassification.from_pretrained(args.base, num_labels=len(names)).train()
    data = batches(args.train, tokenizer(args.base, args.max_len), {n: i for i, n in enumerate(names)}, 32,
                   args.warmup + args.steps + 1, args.seed)
    decay = [p for n, p in model.named_parameters() if not any(k in n for k in ("bias", "LayerNorm"))]
    rest = [p for n, p in model.named_parameters() if any(k in n for k in ("bias", "LayerNorm"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}],
                            lr=5e-5, eps=1e-6)
    total = len(data)
    sched = get_linear_schedule_with_warmup(opt, int(0.1 * total), total)
    stamps = []
    for b in data:
        stamps.append(time.perf_counter())
        loss = model(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    stamps.append(time.perf_counter())
    return {"seconds": stamps[args.warmup + args.steps] - stamps[args.warmup], "steps": args.steps,
            "tokens": sum(int(b["attention_mask"].sum()) for b in data[args.warmup:args.warmup + args.steps])}


def textbrewer(args):
    import textbrewer as tb
    from transformers import BertForSequenceClassification
    # attention probabilities are only returned by the eager attention; the prediction stage keeps SDPA
    attn = {"attn_implementation": "eager"} if args.stage == "intermediate" else {}
    teacher = BertForSequenceClassification.from_pretrained(args.teacher, **attn).eval()
    student = BertForSequenceClassification.from_pretrained(args.student, **attn).train()
    names = [teacher.config.id2label[i] for i in range(teacher.config.num_labels)]
    count = args.warmup + args.steps + 1
    data = batches(args.train, tokenizer(args.teacher, args.max_len), {n: i for i, n in enumerate(names)}, 32,
                   count, args.seed)
    stamps = []

    class Timed:  # records when TextBrewer asks for each batch: the step before it has finished
        def __iter__(self):
            for b in data:
                stamps.append(time.perf_counter())
                yield b

        def __len__(self):
            return len(data)

    matches = []
    if args.stage == "intermediate":
        for m in (("output_hidden_states", True), ("output_attentions", True)):
            setattr(teacher.config, *m)
            setattr(student.config, *m)
        hs, ht = student.config.hidden_size, teacher.config.hidden_size
        layers = [0] + [int(x) for x in args.layer_list.split(",")]
        for s, t in enumerate(layers):  # hidden_states[0] is the embedding output
            matches.append({"layer_T": t, "layer_S": s, "feature": "hidden", "loss": "hidden_mse", "weight": 1,
                            "proj": ["linear", hs, ht]})
            if s > 0:
                matches.append({"layer_T": t - 1, "layer_S": s - 1, "feature": "attention", "loss": "attention_mse",
                                "weight": 1})

    def adaptor(batch, out):
        r = {"logits": out.logits, "labels": batch["labels"], "inputs_mask": batch["attention_mask"]}
        if args.stage == "intermediate":
            r.update(hidden=out.hidden_states, attention=out.attentions)
        return r

    dcfg = tb.DistillationConfig(temperature=1.0, hard_label_weight=0.0,
                                 kd_loss_weight=0.0 if args.stage == "intermediate" else 1.0,
                                 kd_loss_type="ce", intermediate_matches=matches)
    tcfg = tb.TrainingConfig(device="cpu", output_dir=args.out, log_dir=args.out, ckpt_steps=10 ** 9)
    distiller = tb.GeneralDistiller(train_config=tcfg, distill_config=dcfg, model_T=teacher, model_S=student,
                                    adaptor_T=adaptor, adaptor_S=adaptor)
    opt = torch.optim.AdamW(student.parameters(), lr=5e-4 if args.stage == "intermediate" else 3e-4)
    with distiller:
        distiller.train(opt, Timed(), num_steps=count, max_grad_norm=1.0)
    return {"seconds": stamps[args.warmup + args.steps] - stamps[args.warmup], "steps": args.steps,
            "tokens": sum(int(b["attention_mask"].sum()) for b in data[args.warmup:args.warmup + args.steps])}


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("infer")
    a.add_argument("ckpt")
    a.add_argument("data")
    a.add_argument("--onnx", default="")
    a.add_argument("--ct2", default="", help="directory for the CTranslate2 conversion (adds its two rows)")
    a.add_argument("--repeats", type=int, default=3)
    a.add_argument("--batches", default="1,32")
    a.add_argument("--device", default="cpu", help="cpu or cuda (transformers only; ONNX Runtime stays on the CPU)")
    f = sub.add_parser("finetune")
    f.add_argument("base")
    f.add_argument("train")
    t = sub.add_parser("textbrewer")
    t.add_argument("teacher")
    t.add_argument("student")
    t.add_argument("train")
    t.add_argument("--stage", choices=("intermediate", "prediction"), required=True)
    t.add_argument("--layer-list", default="")
    t.add_argument("--out", required=True)
    for p in (a, f, t):
        p.add_argument("--threads", type=int, required=True)
        p.add_argument("--max-len", type=int, default=64)
    for p in (f, t):
        p.add_argument("--steps", type=int, default=30)
        p.add_argument("--warmup", type=int, default=5)
        p.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.cmd == "infer":
        args.batches = [int(b) for b in args.batches.split(",")]
    out = {"infer": infer, "finetune": finetune, "textbrewer": textbrewer}[args.cmd](args)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
