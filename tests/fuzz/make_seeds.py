#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/ (committed; rerun only to
change them). Each seed is one valid input of its target, small, built from
text written for this repository (data/) or by hand here, so the fuzzer starts
from the accepted format and mutates it. usage: make_seeds.py [REPO]"""
import json
import os
import struct
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
out = os.path.join(root, "tests", "fuzz", "corpus")


def seed(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def safetensors(tensors, metadata=None):
    header, blob = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blob


seed("safetensors", "two-tensors", safetensors({
    "embeddings.weight": ("F32", [2, 3], struct.pack("<6f", *range(6))),
    "ids": ("I64", [2], struct.pack("<2q", 7, -1))}, {"format": "pt"}))
seed("safetensors", "bf16-empty-scalar", safetensors({
    "half": ("BF16", [4], b"\x80\x3f" * 4), "empty": ("F16", [0, 5], b""), "scalar": ("F64", [], struct.pack("<d", 2.5))}))
seed("safetensors", "empty", safetensors({}))

config = {"architectures": ["BertForSequenceClassification"], "model_type": "bert", "vocab_size": 300,
          "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
          "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
          "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02,
          "layer_norm_eps": 1e-12, "pad_token_id": 0, "id2label": {"0": "neg", "1": "pos"},
          "label2id": {"neg": 0, "pos": 1}}
meta = {"format_version": 1, "heads": "classifier", "stage": "finetune", "labels": ["neg", "pos"],
        "tokenizer": {"fingerprint": "fnv1a64:3ff29cc6e74e19c2", "type": "wordpiece"}, "provenance": {"step": 10}}
tok_meta = {"type": "wordpiece", "fingerprint": "fnv1a64:0123456789abcdef",
            "options": {"lowercase": True, "strip_accents": -1, "chinese_chars": True, "clean_text": True,
                        "max_chars_per_word": 100, "continuation": "##", "unk": "[UNK]", "cls": "[CLS]",
                        "sep": "[SEP]", "pad": "[PAD]", "mask": "[MASK]"}}
hf_tok = {"tokenizer_class": "BertTokenizer", "do_lower_case": True, "strip_accents": None,
          "tokenize_chinese_chars": True, "unk_token": "[UNK]", "cls_token": {"content": "[CLS]"},
          "sep_token": "[SEP]", "pad_token": "[PAD]", "mask_token": "[MASK]"}
index = {"format": "kdtext-token-shards", "version": 1, "vocab_size": 300, "id_width": 2, "documents": 3,
         "tokens": 12, "shards": [{"file": "shard-00000.kdts", "documents": 3, "tokens": 12}]}
for i, (name, j) in enumerate([("kdtext", meta), ("config", config), ("tokenizer", tok_meta),
                               ("tokenizer_config", hf_tok), ("index", index)]):
    seed("json_configs", name, bytes([i]) + json.dumps(j, indent=1).encode())

task = open(os.path.join(root, "data", "task", "train.tsv"), encoding="utf-8").read().splitlines()
rows = [line.split("\t") for line in task[1:7]]
tsv = "text\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in rows)
csv = "text,label\r\n" + "".join('"{}",{}\r\n'.format(t.replace('"', '""'), l) for t, l in rows)
csv += '"a field with ""quotes"", a comma\nand a newline",sports\n'
jsonl = "".join(json.dumps({"text": t, "label": l}, ensure_ascii=False) + "\n" for t, l in rows)
pairs = "text\tpair\tlabel\n" + "".join(f"{t}\t{t[::-1]}\t{l}\n" for t, l in rows)
seed("labelled", "tsv", b"\x00" + tsv.encode())
seed("labelled", "csv", b"\x01" + csv.encode())
seed("labelled", "jsonl", b"\x02" + jsonl.encode())
seed("labelled", "lines", b"\x03" + "\n".join(t for t, _ in rows).encode())
seed("labelled", "tsv-pairs", bytes([16]) + pairs.encode())
seed("labelled", "tsv-by-index", bytes([32 | 8]) + "".join(f"{t}\t{l}\n" for t, l in rows).encode())

vocab = ["the", "a", "##s", "##ing", "play", "cook", "comput", "##er", "foot", "##ball", ",", ".", "!", "é",
         "中", "国", "un", "##aff", "##able"]
text = "The footballer's unaffable cooking, computers! Café 中国 naïve\tplaying\u3000end"
seed("wordpiece", "lowercase", bytes([1 | 16]) + "\n".join(vocab).encode() + b"\0" + text.encode())
seed("wordpiece", "cased-accents", bytes([2 | 8]) + "\r\n".join(vocab).encode() + b"\0" + text.encode())
seed("wordpiece", "no-specials", bytes([128]) + "\n".join(vocab).encode() + b"\0" + b"x")

en = open(os.path.join(root, "data", "corpus", "en.txt"), encoding="utf-8").read()[:1500]
zh = open(os.path.join(root, "data", "corpus", "zh.txt"), encoding="utf-8").read()[:600]
seed("cleaner", "en-lines", bytes([1 | 4 | 8]) + en.encode())
seed("cleaner", "en-paragraphs", bytes([1 | 2 | 8 | 128]) + en.replace(". ", ".\n\n").encode())
seed("cleaner", "zh-repair", bytes([1 | 16]) + zh.encode() + b"\xff\xfe broken \xc3(\n\xef\xbc\xa1\xe2\x80\x8b\r\n")

docs = [[1, 5, 9, 2], [1, 7, 2], [4, 4, 4, 299, 0]]
for width, vocab_size in ((2, 300), (4, 70000)):
    ids = [i for d in docs for i in d]
    offsets = [0]
    for d in docs:
        offsets.append(offsets[-1] + len(d))
    tokens = struct.pack(f"<{len(ids)}{'H' if width == 2 else 'I'}", *ids)
    index_offset = 64 + len(tokens)
    header = b"KDTSHARD" + struct.pack("<IIIIQQQQ", 1, width, vocab_size, 0, len(docs), len(ids), 64, index_offset)
    header += b"\0" * (64 - len(header))
    seed("shard", f"width{width}", header + tokens + struct.pack(f"<{len(offsets)}Q", *offsets))


# torch_zip: a state dict as torch.save writes it (stored zip records under archive/), and its data.pkl alone.
def pickle_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def state_dict_pickle(key, numel, size, stride):
    p = b"\x80\x02ccollections\nOrderedDict\nq\x00)R" + pickle_str(key)
    p += b"ctorch._utils\n_rebuild_tensor_v2\n((" + pickle_str("storage") + b"ctorch\nFloatStorage\n"
    p += pickle_str("0") + pickle_str("cpu") + b"K" + bytes([numel]) + b"tQK\x00"
    p += b"K" + bytes([size[0]]) + b"K" + bytes([size[1]]) + b"\x86"
    p += b"K" + bytes([stride[0]]) + b"K" + bytes([stride[1]]) + b"\x86\x89ccollections\nOrderedDict\n)RtR"
    return p + b"s}" + pickle_str("_metadata") + b"h\x00)Rsb."


def torch_zip(pickle, storage, version=b"3\n"):
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pickle)
        z.writestr("archive/byteorder", b"little")
        z.writestr("archive/data/0", storage)
        z.writestr("archive/version", version)
    return buf.getvalue()


sd = state_dict_pickle("classifier.weight", 6, (2, 3), (3, 1))
seed("torch_zip", "state-dict", b"\x00" + torch_zip(sd, struct.pack("<6f", *range(6))))
seed("torch_zip", "transposed-view", b"\x00" + torch_zip(state_dict_pickle("w", 6, (3, 2), (1, 3)), b"\0" * 24))
seed("torch_zip", "pickle-only", b"\x01" + sd)

# hf_tokenizer: a BertTokenizerFast's tokenizer.json, NUL, text.
wp_vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "hello", "world", "##s", ",", "!",
            "\u4e2d", "\u6587"]
seed("hf_tokenizer", "bert", json.dumps({
    "version": "1.0",
    "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                   "strip_accents": None, "lowercase": True},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100, "vocab": {p: i for i, p in enumerate(wp_vocab)}}}).encode()
     + b"\0Hello, worlds! unaffable \xe4\xb8\xad\xe6\x96\x87")
