#include "kdtext/feed/mlm_data.h"

#include <algorithm>
#include <sstream>

#include "kdtext/error.h"

namespace kdtext::feed {
namespace fs = std::filesystem;

ShardCorpus::ShardCorpus(const fs::path& dir) {
  const fs::path index_path = dir / "index.json";
  if (!fs::exists(index_path)) {
    throw InputError(dir.string() + ": no index.json (expected the shards/ directory of a kdtext-preprocess output)");
  }
  const text::ShardIndex index = text::parse_shard_index(read_json_file(index_path), index_path.string());
  vocab_size_ = index.vocab_size;
  for (const auto& file : index.files) {
    shards_.push_back(std::make_unique<text::ShardReader>(dir / file));
    const auto& r = *shards_.back();
    if (r.vocab_size() != vocab_size_) {
      throw InputError(dir.string() + ": shard " + file + " has vocabulary " + std::to_string(r.vocab_size()) +
                       ", index.json says " + std::to_string(vocab_size_));
    }
    for (uint64_t d = 0; d < r.documents(); ++d) locations_.emplace_back(static_cast<uint32_t>(shards_.size() - 1), d);
  }
  if (locations_.empty()) throw InputError(dir.string() + ": the shards hold no documents");
}

std::vector<int32_t> ShardCorpus::document(uint64_t i) const {
  const auto& [shard, doc] = locations_.at(i);
  return shards_[shard]->document(doc);
}

uint64_t ShardCorpus::document_length(uint64_t i) const {
  const auto& [shard, doc] = locations_.at(i);
  return shards_[shard]->document_length(doc);
}

DocumentSplit hold_out_every(const ShardCorpus& corpus, int64_t every, const std::string& origin) {
  if (every < 2) throw ConfigError("validation_every: must be >= 2");
  DocumentSplit split;
  const auto k = static_cast<uint64_t>(every);
  for (uint64_t i = 0; i < corpus.documents(); ++i) (i % k == k - 1 ? split.validation : split.train).push_back(i);
  if (split.train.empty()) throw InputError(origin + ": too few documents to hold out a validation split");
  if (split.validation.empty()) split.validation.push_back(split.train.back());  // tiny corpora: one document
  return split;
}

torch::Tensor pack_fixed(const ShardCorpus& corpus, const std::vector<uint64_t>& documents, int64_t max_len,
                         int64_t max_sequences, uint64_t seed, text::SpecialIds specials) {
  SequencePacker packer(corpus, documents, max_len, seed, false, specials);
  std::vector<int64_t> flat;
  for (int64_t i = 0; i < max_sequences; ++i) {
    auto s = packer.next();
    flat.insert(flat.end(), s.begin(), s.end());
    if (packer.epoch() > 0 && i + 1 >= 8) break;  // do not repeat held-out text more than needed
  }
  return torch::tensor(flat, torch::kLong).view({-1, max_len});
}

int64_t packed_sequences(const ShardCorpus& corpus, const std::vector<uint64_t>& documents, int64_t max_len) {
  uint64_t tokens = 0;
  for (uint64_t d : documents) tokens += corpus.document_length(d) + 1;
  const auto per_sequence = static_cast<uint64_t>(max_len - 1);
  return static_cast<int64_t>(std::max<uint64_t>(1, (tokens + per_sequence - 1) / per_sequence));
}

const FieldTable<MaskingOptions>& masking_fields() {
  using M = MaskingOptions;
  static const auto t = FieldTable<M>()
      .field("mask_prob", &M::mask_prob, "Fraction of tokens to predict", in_open(0, 1)).flag("--mask-prob")
      .field("replace_mask", &M::replace_mask, "Of those: replaced by [MASK]", in_range(0, 1))
      .field("replace_random", &M::replace_random, "Of those: replaced by a random token", in_range(0, 1))
      .field("whole_word", &M::whole_word, "Mask whole words").flag("--whole-word-mask")
      .rule([](const M& m, const std::string& p) {
        if (m.replace_mask + m.replace_random > 1) {
          throw ConfigError(field_path(p, "replace_mask") + " + " + field_path(p, "replace_random") +
                            ": must be within [0, 1]");
        }
      });
  return t;
}

Json to_json(const MaskingOptions& m) { return masking_fields().to_json(m); }
MaskingOptions masking_options_from_json(const JsonFields& f) { return masking_fields().from_json(f); }

SequencePacker::SequencePacker(const ShardCorpus& corpus, std::vector<uint64_t> documents, int64_t max_len,
                               uint64_t seed, bool shuffle, text::SpecialIds specials)
    : corpus_(corpus), documents_(std::move(documents)), max_len_(max_len), seed_(seed), shuffle_(shuffle),
      specials_(specials) {
  if (documents_.empty()) throw InputError("no documents to pack into sequences");
  if (max_len_ < 8) throw ConfigError("max_len must be >= 8");
  start_epoch();
}

void SequencePacker::start_epoch() {
  order_ = documents_;
  if (shuffle_) {
    std::mt19937_64 rng(seed_ * 1000003ULL + static_cast<uint64_t>(epoch_));
    std::shuffle(order_.begin(), order_.end(), rng);
  }
  doc_pos_ = 0;
  token_pos_ = 0;
  loaded_ = false;
}

std::vector<int64_t> SequencePacker::next() {
  std::vector<int64_t> seq;
  seq.reserve(static_cast<size_t>(max_len_));
  seq.push_back(specials_.cls);
  advance(&seq);
  seq.push_back(specials_.sep);
  return seq;
}

void SequencePacker::skip() { advance(nullptr); }

// One sequence's content: documents in order, a [SEP] after each one that
// ends inside the sequence. Without `seq` only the lengths from the index are
// used; a document a later next() continues is then read from token_pos_.
void SequencePacker::advance(std::vector<int64_t>* seq) {
  const size_t content = static_cast<size_t>(max_len_) - 1;  // the last slot is the final [SEP]
  size_t filled = 1;                                          // [CLS]
  size_t empty_docs = 0;
  while (filled < content) {
    if (doc_pos_ >= order_.size()) {
      ++epoch_;
      start_epoch();
    }
    if (!loaded_ && seq != nullptr) {
      current_ = corpus_.document(order_[doc_pos_]);
      loaded_ = true;
    }
    const size_t length = loaded_ ? current_.size() : corpus_.document_length(order_[doc_pos_]);
    if (length == 0) {
      if (++empty_docs > order_.size()) throw InputError("every document in the corpus is empty");
    }
    const size_t take = std::min<size_t>(length - std::min<size_t>(token_pos_, length), content - filled);
    if (seq != nullptr) {
      for (size_t i = 0; i < take; ++i) seq->push_back(current_[token_pos_ + i]);
    }
    token_pos_ += take;
    filled += take;
    if (token_pos_ >= length) {
      if (filled < content && length > 0) {  // document boundary
        if (seq != nullptr) seq->push_back(specials_.sep);
        ++filled;
      }
      ++doc_pos_;
      token_pos_ = 0;
      loaded_ = false;
    }
  }
}

Json SequencePacker::state() const {
  return Json{{"epoch", epoch_}, {"doc_pos", doc_pos_}, {"token_pos", token_pos_}};
}

void SequencePacker::restore(const Json& state) {
  epoch_ = state.at("epoch").get<int64_t>();
  start_epoch();
  doc_pos_ = state.at("doc_pos").get<uint64_t>();
  token_pos_ = state.at("token_pos").get<uint64_t>();
}

Masker::Masker(MaskingOptions options, const text::Tokenizer& tokenizer, uint64_t seed)
    : options_(options), vocab_size_(tokenizer.vocab_size()), specials_(tokenizer.special_ids()), seed_(seed) {
  special_.assign(static_cast<size_t>(vocab_size_), 0);
  for (int32_t id : {specials_.pad, specials_.unk, specials_.cls, specials_.sep, specials_.mask}) special_[id] = 1;
  word_start_.assign(static_cast<size_t>(vocab_size_), 1);
  if (options_.whole_word) {
    for (int32_t id = 0; id < vocab_size_; ++id) word_start_[id] = special_[id] || tokenizer.starts_word(id);
  }
}

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
}  // namespace

torch::Tensor Masker::mask(torch::Tensor& ids, uint64_t first_sequence) {
  TORCH_CHECK(ids.dim() == 2 && ids.scalar_type() == torch::kLong && ids.device().is_cpu(),
              "Masker expects CPU int64 [B, T] ids");
  auto labels = torch::full_like(ids, -100);
  auto* x = ids.data_ptr<int64_t>();
  auto* y = labels.data_ptr<int64_t>();
  const int64_t rows = ids.size(0), cols = ids.size(1);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int64_t> any_token(0, vocab_size_ - 1);
  const auto random_token = [&](std::mt19937_64& g) {
    int64_t t;
    do t = any_token(g);
    while (special_[static_cast<size_t>(t)]);
    return t;
  };
  for (int64_t r = 0; r < rows; ++r) {
    std::mt19937_64 rng(splitmix64(seed_ ^ splitmix64(first_sequence + static_cast<uint64_t>(r))));
    int64_t* row = x + r * cols;
    int64_t* lab = y + r * cols;
    // Candidate units: single tokens, or whole words (a start piece and its continuations).
    std::vector<std::pair<int64_t, int64_t>> units;  // [begin, end)
    int64_t candidates = 0;
    for (int64_t t = 0; t < cols; ++t) {
      const int64_t id = row[t];
      if (id < 0 || id >= vocab_size_ || special_[static_cast<size_t>(id)]) continue;  // never predicted
      ++candidates;
      if (options_.whole_word && !units.empty() && !word_start_[id] && units.back().second == t) {
        units.back().second = t + 1;
      } else {
        units.emplace_back(t, t + 1);
      }
    }
    if (candidates == 0) continue;
    const int64_t target = std::max<int64_t>(1, std::llround(options_.mask_prob * static_cast<double>(candidates)));
    std::shuffle(units.begin(), units.end(), rng);
    int64_t chosen = 0;
    for (const auto& [b, e] : units) {
      if (chosen >= target) break;
      if (chosen + (e - b) > target && chosen > 0) continue;  // keep close to the target rate
      for (int64_t t = b; t < e; ++t) {
        lab[t] = row[t];
        const double u = unit(rng);
        if (u < options_.replace_mask) {
          row[t] = specials_.mask;
        } else if (u < options_.replace_mask + options_.replace_random) {
          row[t] = random_token(rng);
        }
      }
      chosen += e - b;
    }
  }
  return labels;
}

}  // namespace kdtext::feed
