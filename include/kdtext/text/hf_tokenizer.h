// The WordPiece tokenizer of a Hugging Face `tokenizers` file (tokenizer.json),
// for model directories that ship it instead of vocab.txt (issue 29: m3e-small,
// most models saved by recent transformers). Read, not guessed: the
// vocabulary in id order, and the BertTokenizer options its normalizer and
// pre-tokenizer state. Anything this WordPiece cannot reproduce exactly is
// refused by name.
#pragma once

#include <string>
#include <vector>

#include "kdtext/text/wordpiece.h"
#include "kdtext/util/json.h"

namespace kdtext::text {

struct HfWordPiece {
  std::vector<std::string> vocab;  // piece of id 0, 1, ...
  WordPieceOptions options;
};

// True when `j` is a `tokenizers` file (it has a "model" object), not the
// kdtext tokenizer metadata a checkpoint keeps under the same name.
bool is_hf_tokenizer_json(const Json& j);

// model: WordPiece (its vocab must map pieces to ids 0..N-1, each once;
//   unk_token, continuing_subword_prefix, max_input_chars_per_word are read);
// normalizer: BertNormalizer (clean_text, handle_chinese_chars, strip_accents,
//   lowercase);
// pre_tokenizer: BertPreTokenizer.
// Other models (BPE, Unigram, WordLevel), normalizers and pre-tokenizers are
// an InputError naming `origin`, the key and what was found.
HfWordPiece parse_hf_tokenizer_json(const Json& j, const std::string& origin);

}  // namespace kdtext::text
