// Masked-LM data: token shards streamed into packed fixed-length sequences
// ([CLS] doc [SEP] doc ... [SEP]), with a held-out split and dynamic masking.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kdtext/text/shard.h"
#include "kdtext/text/tokenizer.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::feed {

// All documents of a preprocess output's shards/ directory.
class ShardCorpus {
 public:
  // `dir` holds index.json and the shards. Throws InputError naming files.
  explicit ShardCorpus(const std::filesystem::path& dir);
  uint64_t documents() const { return locations_.size(); }
  int64_t vocab_size() const { return vocab_size_; }
  std::vector<int32_t> document(uint64_t i) const;
  // Tokens in document `i`, from the shard index (no read).
  uint64_t document_length(uint64_t i) const;

 private:
  std::vector<std::unique_ptr<text::ShardReader>> shards_;
  std::vector<std::pair<uint32_t, uint64_t>> locations_;  // (shard, document in shard)
  int64_t vocab_size_ = 0;
};

// Packs documents (in a seeded per-epoch order) into sequences of exactly
// `max_len` tokens. Position and order are state for exact resume.
class SequencePacker {
 public:
  SequencePacker(const ShardCorpus& corpus, std::vector<uint64_t> documents, int64_t max_len, uint64_t seed,
                 bool shuffle, text::SpecialIds specials = {});
  // Next [max_len] sequence as int64 ids.
  std::vector<int64_t> next();
  // Moves past the next sequence as next() would, from the shard index's
  // document lengths alone (no document is read): how a process of a
  // data-parallel run passes over the other processes' sequences.
  void skip();
  Json state() const;
  void restore(const Json& state);
  int64_t epoch() const { return epoch_; }

 private:
  void start_epoch();
  // Fills `seq` up to max_len - 1 tokens (read) or counts them (skip).
  void advance(std::vector<int64_t>* seq);
  const ShardCorpus& corpus_;
  std::vector<uint64_t> documents_, order_;
  int64_t max_len_;
  uint64_t seed_;
  bool shuffle_;
  int64_t epoch_ = 0;
  uint64_t doc_pos_ = 0;
  uint64_t token_pos_ = 0;
  std::vector<int32_t> current_;
  bool loaded_ = false;
  text::SpecialIds specials_;
};

// Training and held-out documents: every `every`-th document is held out (at
// least one, reused for training on tiny corpora). Throws InputError naming
// `origin` when nothing is left to train on.
struct DocumentSplit {
  std::vector<uint64_t> train, validation;
};
DocumentSplit hold_out_every(const ShardCorpus& corpus, int64_t every, const std::string& origin);

// Packs the documents once, in order, into at most `max_sequences` sequences
// [N, max_len] (int64); stops early rather than repeat short held-out text.
torch::Tensor pack_fixed(const ShardCorpus& corpus, const std::vector<uint64_t>& documents, int64_t max_len,
                         int64_t max_sequences, uint64_t seed, text::SpecialIds specials = {});

// Sequences of `max_len` one pass over `documents` packs into (one [SEP] per
// document, one [CLS] per sequence).
int64_t packed_sequences(const ShardCorpus& corpus, const std::vector<uint64_t>& documents, int64_t max_len);

struct MaskingOptions {
  double mask_prob = 0.15;       // fraction of (non-special) tokens predicted
  double replace_mask = 0.8;     // of those: -> [MASK]
  double replace_random = 0.1;   // of those: -> random token (the rest stay unchanged)
  bool whole_word = false;       // mask whole words (every piece of a word: text::Tokenizer::starts_word)
};

// The "masking" section and its flags.
const FieldTable<MaskingOptions>& masking_fields();
Json to_json(const MaskingOptions& m);
// Reads and validates (errors name the dotted key).
MaskingOptions masking_options_from_json(const JsonFields& f);

// Dynamic masking. Each sequence is masked by a generator seeded from the
// run's seed and the sequence's number in the stream, so its mask does not
// depend on which batch or process it lands in (a data-parallel run masks
// exactly as one process does) and the stream position is the whole state.
class Masker {
 public:
  Masker(MaskingOptions options, const text::Tokenizer& tokenizer, uint64_t seed);
  // Masks `ids` [B, T] (int64, CPU) in place, row r as sequence number
  // first_sequence + r; returns labels [B, T] with -100 where no prediction is made.
  torch::Tensor mask(torch::Tensor& ids, uint64_t first_sequence);

 private:
  MaskingOptions options_;
  int64_t vocab_size_;
  text::SpecialIds specials_;
  std::vector<uint8_t> special_;     // per id: a special token (never predicted or drawn)
  std::vector<uint8_t> word_start_;  // per id: starts a word (or is special)
  uint64_t seed_;
};

}  // namespace kdtext::feed
