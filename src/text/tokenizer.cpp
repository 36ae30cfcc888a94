#include "kdtext/text/tokenizer.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <sstream>
#include <unordered_map>

#include "kdtext/util/log.h"
#include "kdtext/text/utf8.h"
#include "kdtext/text/hf_tokenizer.h"
#include "kdtext/text/wordpiece.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"
#include "kdtext/util/hash.h"
#include "kdtext/util/file.h"

// Exported by libsentencepiece but not declared in its public headers.
namespace sentencepiece::logging {
void SetMinLogLevel(int v);
}

namespace kdtext::text {
namespace fs = std::filesystem;

std::vector<int32_t> encode_long(const Tokenizer& tok, std::string_view text, size_t limit, size_t piece) {
  if (text.size() <= piece) {
    auto ids = tok.encode(text);
    if (limit > 0 && ids.size() > limit) ids.resize(limit);
    return ids;
  }
  std::vector<int32_t> out;
  size_t begin = 0;
  while (begin < text.size() && (limit == 0 || out.size() <= limit + 16)) {
    size_t end = std::min(text.size(), begin + piece);
    if (end < text.size()) {
      const size_t ws = text.substr(begin, end - begin).find_last_of(" \t\n\r\f\v");
      if (ws != std::string_view::npos && ws > 0) {
        end = begin + ws + 1;
      } else {
        while (end > begin + 1 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;  // a character's start
      }
    }
    const auto ids = tok.encode(text.substr(begin, end - begin));
    out.insert(out.end(), ids.begin(), ids.end());
    begin = end;
  }
  if (limit > 0 && out.size() > limit) out.resize(limit);
  return out;
}

std::string fingerprint_bytes(std::string_view bytes) {
  Fnv1a64 h;
  h.add(bytes);
  return h.hex();
}

std::string fingerprint_file(const fs::path& path) {
  const std::string fp = content_fingerprint(path);  // "fnv1a64:<hex>:<bytes>", read in chunks
  return fp.substr(0, fp.rfind(':'));
}

const FieldTable<SentencePieceTrainOptions>& spm_fields() {
  using O = SentencePieceTrainOptions;
  static const auto t = FieldTable<O>()
      .field("model_type", &O::model_type, "Tokenizer model: unigram or bpe", one_of({"unigram", "bpe"}))
      .flag("--model-type")
      .field("vocab_size", &O::vocab_size, "Tokenizer vocabulary size", in_range(16, 1 << 24)).flag("--vocab-size")
      .field("character_coverage", &O::character_coverage, "Character coverage (0.9995 for Chinese)",
             in_open_closed(0, 1))
      .flag("--character-coverage")
      .field("sample_documents", &O::sample_documents, "Most documents sampled for tokenizer training", at_least(1))
      .flag("--sample-documents")
      .field("sample_bytes", &O::sample_bytes, "Most bytes sampled for tokenizer training", at_least(1024))
      .flag("--sample-bytes")
      .field("max_sentence_bytes", &O::max_sentence_bytes, "Longer sample documents are truncated", at_least(16))
      .field("byte_fallback", &O::byte_fallback, "Encode unknown characters as bytes").flag("--byte-fallback")
      .field("threads", &O::threads, "Threads training the tokenizer (0: the run's)", at_least(0));
  return t;
}

Json to_json(const SentencePieceTrainOptions& o) { return spm_fields().to_json(o); }
SentencePieceTrainOptions spm_options_from_json(const JsonFields& f) { return spm_fields().from_json(f); }
void validate(const SentencePieceTrainOptions& o, const std::string& prefix) { spm_fields().check(o, prefix); }

struct SentencePieceTokenizer::Impl {
  sentencepiece::SentencePieceProcessor sp;
};

namespace {

class VectorIterator : public sentencepiece::SentenceIterator {
 public:
  VectorIterator(const std::vector<std::string>& v, size_t max_bytes) : v_(v), max_bytes_(max_bytes) { load(); }
  bool done() const override { return i_ >= v_.size(); }
  void Next() override {
    ++i_;
    load();
  }
  const std::string& value() const override { return current_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void load() {
    if (i_ >= v_.size()) return;
    current_ = std::string(truncate_utf8(v_[i_], max_bytes_));
  }
  const std::vector<std::string>& v_;
  size_t max_bytes_;
  size_t i_ = 0;
  std::string current_;
};

Json special_tokens_json() {
  Json j = Json::object();
  for (int i = 0; i < 5; ++i) j[SpecialTokens::kPieces[i]] = i;
  return j;
}

}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(std::string serialized_model, NormalizerOptions normalizer)
    : impl_(std::make_unique<Impl>()),
      serialized_(std::move(serialized_model)),
      fingerprint_(fingerprint_bytes(serialized_)),
      normalizer_(normalizer) {
  const auto status = impl_->sp.LoadFromSerializedProto(serialized_);
  if (!status.ok()) throw InputError("sentencepiece model: cannot load: " + status.ToString());
  for (int32_t i = 0; i < 5; ++i) {
    if (impl_->sp.IdToPiece(i) != SpecialTokens::kPieces[i]) {
      throw InputError(std::string("sentencepiece model: id ") + std::to_string(i) + " is '" +
                       impl_->sp.IdToPiece(i) + "', expected '" + SpecialTokens::kPieces[i] +
                       "' (kdtext tokenizers keep [PAD] [UNK] [CLS] [SEP] [MASK] at ids 0-4)");
    }
  }
}

SentencePieceTokenizer::~SentencePieceTokenizer() = default;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::train(const std::vector<std::string>& sample,
                                                                      const SentencePieceTrainOptions& o,
                                                                      NormalizerOptions normalizer, int threads,
                                                                      uint64_t seed) {
  if (sample.empty()) throw InputError("tokenizer training: no documents to train on");
  sentencepiece::logging::SetMinLogLevel(log::enabled(log::Level::kDebug) ? 0 : 2);
  sentencepiece::SetRandomGeneratorSeed(static_cast<unsigned int>(seed));
  const int nthreads = o.threads > 0 ? static_cast<int>(o.threads) : std::max(1, threads);
  std::unordered_map<std::string, std::string> args{
      {"model_type", o.model_type},
      {"vocab_size", std::to_string(o.vocab_size)},
      {"character_coverage", std::to_string(o.character_coverage)},
      {"pad_id", "0"}, {"unk_id", "1"}, {"bos_id", "2"}, {"eos_id", "3"},
      {"pad_piece", "[PAD]"}, {"unk_piece", "[UNK]"}, {"bos_piece", "[CLS]"}, {"eos_piece", "[SEP]"},
      {"user_defined_symbols", "[MASK]"},
      {"normalization_rule_name", "identity"},  // kdtext's Normalizer runs before sentencepiece
      {"remove_extra_whitespaces", "false"},
      {"add_dummy_prefix", "true"},
      {"byte_fallback", o.byte_fallback ? "true" : "false"},
      {"input_sentence_size", "0"},  // the sample is already bounded
      {"shuffle_input_sentence", "false"},
      {"max_sentence_length", std::to_string(o.max_sentence_bytes)},
      {"hard_vocab_limit", "true"},
      {"num_threads", std::to_string(nthreads)},
      {"train_extremely_large_corpus", "false"},
  };
  VectorIterator it(sample, static_cast<size_t>(o.max_sentence_bytes));
  std::string model;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &it, &model);
  if (!status.ok()) {
    std::string msg = status.ToString();
    if (msg.find("smaller than required_chars") != std::string::npos) {
      // "Vocabulary size is smaller than required_chars. 64 vs 70." : every character needs a piece
      throw ConfigError("tokenizer.vocab_size = " + std::to_string(o.vocab_size) +
                        " is too small for the characters of this corpus (sentencepiece: " + msg +
                        "); raise --vocab-size");
    }
    if (msg.find("Vocabulary size") != std::string::npos) {
      throw InputError("tokenizer.vocab_size = " + std::to_string(o.vocab_size) +
                       " is more than this corpus supports (sentencepiece: " + msg +
                       "); lower --vocab-size or give more text");
    }
    throw InputError("tokenizer training failed (sentencepiece: " + msg + ")");
  }
  return std::make_unique<SentencePieceTokenizer>(std::move(model), normalizer);
}

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::load_dir(const fs::path& dir, const Json& meta) {
  std::string model_file = "spm.model";
  NormalizerOptions norm;
  try {
    JsonFields f(meta, "");
    f.get("model_file", model_file);
    norm = normalizer_options_from_json(f.child("normalizer"));
  } catch (const ConfigError& e) {
    throw InputError((dir / kTokenizerMetaFile).string() + ": " + e.what());
  }
  const fs::path path = dir / model_file;
  const std::string model = read_file(path, "sentencepiece model");
  try {
    auto tok = std::make_unique<SentencePieceTokenizer>(model, norm);
    std::string expected;
    JsonFields(meta, "").get("fingerprint", expected);
    if (!expected.empty() && expected != tok->fingerprint()) {
      throw InputError("fingerprint " + tok->fingerprint() + " does not match " + expected +
                       " recorded in tokenizer.json (model file replaced or corrupt)");
    }
    return tok;
  } catch (const InputError& e) {
    throw InputError(path.string() + ": " + e.what());
  }
}

std::vector<int32_t> SentencePieceTokenizer::encode(std::string_view text) const {
  return encode_normalized(normalizer_.normalize(text));
}

std::vector<int32_t> SentencePieceTokenizer::encode_normalized(std::string_view text) const {
  std::vector<int> ids;
  const auto status = impl_->sp.Encode(text, &ids);
  if (!status.ok()) throw std::runtime_error("sentencepiece encode failed: " + status.ToString());
  return std::vector<int32_t>(ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  const auto status = impl_->sp.Decode(std::vector<int>(ids.begin(), ids.end()), &out);
  if (!status.ok()) throw std::runtime_error("sentencepiece decode failed: " + status.ToString());
  return out;
}

int64_t SentencePieceTokenizer::vocab_size() const { return impl_->sp.GetPieceSize(); }

std::string SentencePieceTokenizer::id_to_piece(int32_t id) const { return impl_->sp.IdToPiece(id); }

bool SentencePieceTokenizer::starts_word(int32_t id) const {
  if (id < 5) return true;
  return impl_->sp.IdToPiece(id).rfind("\xE2\x96\x81", 0) == 0;  // U+2581 marks a word start
}

void SentencePieceTokenizer::save(const fs::path& dir) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error(dir.string() + ": cannot create tokenizer directory: " + ec.message());
  write_file_atomic(dir / "spm.model", serialized_);
  Json meta{{"format_version", kTokenizerFormatVersion},
            {"type", type()},
            {"model_file", "spm.model"},
            {"vocab_size", vocab_size()},
            {"normalizer", to_json(normalizer_.options())},
            {"special_tokens", special_tokens_json()},
            {"fingerprint", fingerprint_}};
  write_file_atomic(dir / kTokenizerMetaFile, meta.dump(2) + "\n");
}

std::unique_ptr<Tokenizer> Tokenizer::load(const fs::path& dir) {
  const fs::path meta_path = dir / kTokenizerMetaFile;
  if (!fs::exists(meta_path)) {
    throw InputError(dir.string() + ": not a kdtext tokenizer directory (no " + kTokenizerMetaFile + ")");
  }
  const Json meta = read_json_file(meta_path);
  int version = 0;
  std::string type;
  try {
    JsonFields f(meta, "");
    f.get("format_version", version);
    f.get("type", type);
  } catch (const ConfigError& e) {
    throw InputError(meta_path.string() + ": " + e.what());
  }
  if (version > kTokenizerFormatVersion) {
    throw InputError(meta_path.string() + ": tokenizer format version " + std::to_string(version) +
                     " is newer than this kdtext supports (" + std::to_string(kTokenizerFormatVersion) +
                     "); upgrade kdtext");
  }
  if (version < 1) throw InputError(meta_path.string() + ": missing or invalid format_version");
  if (type == "sentencepiece") return SentencePieceTokenizer::load_dir(dir, meta);
  if (type == "wordpiece") return WordPieceTokenizer::load_dir(dir, meta);
  throw InputError(meta_path.string() + ": unknown tokenizer type '" + type + "'");
}

std::unique_ptr<Tokenizer> load_any_tokenizer(const fs::path& path) {
  if (fs::exists(path / "kdtext.json") && fs::is_directory(path / "tokenizer")) return Tokenizer::load(path / "tokenizer");
  if (fs::exists(path / kTokenizerMetaFile)) {
    // Hugging Face's fast-tokenizer file has the same name; ours has a format version.
    const Json meta = read_json_file(path / kTokenizerMetaFile);
    if (meta.is_object() && meta.contains("format_version")) return Tokenizer::load(path);
    if (is_hf_tokenizer_json(meta)) return WordPieceTokenizer::from_hf_dir(path);
  }
  if (fs::exists(path / "vocab.txt")) return WordPieceTokenizer::from_hf_dir(path);
  throw InputError(path.string() + ": not a tokenizer (expected a kdtext tokenizer or checkpoint directory, or a "
                                   "Hugging Face directory with vocab.txt or a WordPiece tokenizer.json)");
}

}  // namespace kdtext::text
