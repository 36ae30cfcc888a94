// BERT's WordPiece tokenizer, as Hugging Face's BertTokenizer runs it:
// text cleaning, CJK character splitting, accent stripping and lowercasing
// (as configured), whitespace and punctuation splitting, then greedy
// longest-match WordPiece with "##" continuations. Reads and writes the
// Hugging Face files (vocab.txt, tokenizer_config.json).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "kdtext/text/tokenizer.h"

namespace kdtext::text {

struct WordPieceOptions {
  bool lowercase = true;               // do_lower_case
  int strip_accents = -1;              // strip_accents: -1 = null (follows lowercase), 0 = false, 1 = true
  bool chinese_chars = true;           // tokenize_chinese_chars: spaces around CJK ideographs
  bool clean_text = true;              // drop control characters, map whitespace to spaces
  int64_t max_chars_per_word = 100;    // longer words become [UNK]
  std::string continuation = "##";
  std::string unk = "[UNK]", cls = "[CLS]", sep = "[SEP]", pad = "[PAD]", mask = "[MASK]";
};

const FieldTable<WordPieceOptions>& wordpiece_fields();
Json to_json(const WordPieceOptions& o);
WordPieceOptions wordpiece_options_from_json(const JsonFields& f);

// vocab.txt: one piece per line (CRLF accepted). Throws InputError naming
// `origin` when it is empty.
std::vector<std::string> parse_vocab(const std::string& text, const std::string& origin);
// The options of a Hugging Face tokenizer_config.json. Throws InputError
// naming `origin` on a wrong type or an unsupported tokenizer.
WordPieceOptions wordpiece_options_from_hf_config(const Json& config, const std::string& origin);

class WordPieceTokenizer final : public Tokenizer {
 public:
  // `vocab[i]` is the piece of id i. Throws InputError when a special token is
  // missing from the vocabulary or a piece repeats.
  WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options, const std::string& origin);

  // A Hugging Face tokenizer directory: vocab.txt and (optional)
  // tokenizer_config.json. Throws InputError naming the file.
  static std::unique_ptr<WordPieceTokenizer> from_hf_dir(const std::filesystem::path& dir);
  static std::unique_ptr<WordPieceTokenizer> load_dir(const std::filesystem::path& dir, const Json& meta);

  std::vector<int32_t> encode(std::string_view text) const override;
  // WordPiece normalises as part of encoding: the same as encode().
  std::vector<int32_t> encode_normalized(std::string_view text) const override { return encode(text); }
  // The tokens before id lookup (for tests and debugging).
  std::vector<std::string> tokenize(std::string_view text) const;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  std::string id_to_piece(int32_t id) const override;
  std::string type() const override { return "wordpiece"; }
  std::string fingerprint() const override { return fingerprint_; }
  void save(const std::filesystem::path& dir) const override;
  const Normalizer& normalizer() const override { return passthrough_; }
  SpecialIds special_ids() const override { return specials_; }
  bool starts_word(int32_t id) const override;
  bool write_hf_files(const std::filesystem::path& dir) const override;
  const WordPieceOptions& options() const { return options_; }

 private:
  // Cleaned, CJK-split, accent-stripped, lowercased text split into words
  // (whitespace) and single punctuation characters, as UTF-8.
  std::vector<std::string> pre_tokenize(std::string_view text) const;
  void word_pieces(const std::string& word, std::vector<int32_t>& out) const;
  int32_t id_of(const std::string& piece, const std::string& origin) const;

  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int32_t> ids_;
  WordPieceOptions options_;
  SpecialIds specials_;
  std::string fingerprint_;
  Normalizer passthrough_;  // no-op: preprocess leaves the text to the tokenizer
};

}  // namespace kdtext::text
