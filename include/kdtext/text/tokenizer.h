// Tokenizers behind one interface. A tokenizer lives in a directory with a
// `tokenizer.json` describing it (type, normaliser, special ids, fingerprint)
// plus its model files, so any stage can reload it from the directory alone.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kdtext/text/normalizer.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::text {

// The ids a tokenizer uses for its special tokens.
struct SpecialIds {
  int32_t pad = 0, unk = 1, cls = 2, sep = 3, mask = 4;
};

// Fixed ids of the sentencepiece tokenizers kdtext trains.
struct SpecialTokens {
  static constexpr int32_t kPad = 0;
  static constexpr int32_t kUnk = 1;
  static constexpr int32_t kCls = 2;
  static constexpr int32_t kSep = 3;
  static constexpr int32_t kMask = 4;
  static constexpr const char* kPieces[5] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
};

inline constexpr int kTokenizerFormatVersion = 1;
inline constexpr const char* kTokenizerMetaFile = "tokenizer.json";

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Normalises `text` with the tokenizer's own normaliser, then encodes it.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Encodes text that is already normalised (preprocess does this once).
  virtual std::vector<int32_t> encode_normalized(std::string_view text) const = 0;
  virtual std::string decode(const std::vector<int32_t>& ids) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual std::string id_to_piece(int32_t id) const = 0;
  virtual std::string type() const = 0;
  // Stable identity of the vocabulary and model ("fnv1a64:<hex>").
  virtual std::string fingerprint() const = 0;
  // Writes the tokenizer directory (tokenizer.json + model files).
  virtual void save(const std::filesystem::path& dir) const = 0;
  virtual const Normalizer& normalizer() const = 0;
  virtual SpecialIds special_ids() const { return SpecialIds{}; }
  // Whether `id` begins a word (whole-word masking); special tokens do.
  virtual bool starts_word(int32_t id) const = 0;
  // Writes the files Hugging Face tokenizers load from a model directory
  // (vocab.txt, tokenizer_config.json, ...), where the format allows; returns
  // false when it does not.
  virtual bool write_hf_files(const std::filesystem::path& dir) const {
    (void)dir;
    return false;
  }

  // Loads any tokenizer directory; throws InputError naming the file on a
  // missing, corrupt or newer-format tokenizer.
  static std::unique_ptr<Tokenizer> load(const std::filesystem::path& dir);
};

// A kdtext tokenizer directory, a kdtext checkpoint (its tokenizer/), or a
// Hugging Face directory with a WordPiece vocab.txt.
std::unique_ptr<Tokenizer> load_any_tokenizer(const std::filesystem::path& path);

struct SentencePieceTrainOptions {
  std::string model_type = "unigram";   // unigram | bpe
  int64_t vocab_size = 8000;             // including the 5 special tokens
  double character_coverage = 0.9995;   // 0.9995 for CJK, 1.0 for small alphabets
  int64_t sample_documents = 200000;    // at most this many documents train the tokenizer (uniform sample)
  int64_t sample_bytes = 4 << 20;       // ... and at most this many bytes (training costs ~1 s/MB on 2 cores)
  int64_t max_sentence_bytes = 4096;    // longer sample documents are truncated
  bool byte_fallback = false;           // unknown characters as UTF-8 bytes instead of [UNK]
  int64_t threads = 0;                  // 0: the run's thread count
};

// The "train" section of kdtext-preprocess and its flags.
const FieldTable<SentencePieceTrainOptions>& spm_fields();
Json to_json(const SentencePieceTrainOptions& o);
SentencePieceTrainOptions spm_options_from_json(const JsonFields& f);
void validate(const SentencePieceTrainOptions& o, const std::string& prefix);

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // From a serialized sentencepiece ModelProto.
  SentencePieceTokenizer(std::string serialized_model, NormalizerOptions normalizer);
  ~SentencePieceTokenizer() override;

  // Trains on `sample` (already normalised text). Throws InputError when the
  // sample cannot support the requested vocabulary.
  static std::unique_ptr<SentencePieceTokenizer> train(const std::vector<std::string>& sample,
                                                       const SentencePieceTrainOptions& options,
                                                       NormalizerOptions normalizer, int threads, uint64_t seed);
  static std::unique_ptr<SentencePieceTokenizer> load_dir(const std::filesystem::path& dir, const Json& meta);

  std::vector<int32_t> encode(std::string_view text) const override;
  std::vector<int32_t> encode_normalized(std::string_view text) const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  int64_t vocab_size() const override;
  std::string id_to_piece(int32_t id) const override;
  std::string type() const override { return "sentencepiece"; }
  std::string fingerprint() const override { return fingerprint_; }
  void save(const std::filesystem::path& dir) const override;
  const Normalizer& normalizer() const override { return normalizer_; }
  bool starts_word(int32_t id) const override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string serialized_;
  std::string fingerprint_;
  Normalizer normalizer_;
};

// The ids of a text of any length with memory that follows a piece, not the
// text: a text over `piece` bytes is encoded a piece at a time, each cut right
// after a whitespace character (where both tokenizers split words anyway:
// the ids are the whole text's), and the ids joined. A run of `piece` bytes
// with no whitespace (Chinese) is cut at a character boundary, where a
// sentencepiece segmentation may differ from the whole text's in the piece
// or two around the cut (WordPiece splits CJK characters apart anyway). With `limit` > 0 it stops once more than `limit` + 16 ids are
// found and returns the first `limit` (what truncation to max_len keeps).
std::vector<int32_t> encode_long(const Tokenizer& tok, std::string_view text, size_t limit = 0,
                                 size_t piece = size_t{1} << 16);

// FNV-1a 64-bit over bytes, as "fnv1a64:<16 hex digits>".
std::string fingerprint_bytes(std::string_view bytes);
// fingerprint_bytes of a whole file (InputError naming it when unreadable).
std::string fingerprint_file(const std::filesystem::path& path);

}  // namespace kdtext::text
