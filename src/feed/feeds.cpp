#include "kdtext/feed/feeds.h"

#include <random>

#include "kdtext/error.h"

namespace kdtext::feed {

EncodedSet encode_labelled(text::LabelledData& data, const text::LabelMap& labels, const text::LabelledFormat& format,
                           const text::Tokenizer& tokenizer, int64_t max_len) {
  EncodedSet set;
  set.labels = text::encode_labels(data, labels, format);
  set.inputs = encode_examples(tokenizer, data.examples, max_len);
  return set;
}

// ---------------------------------------------------------------- LabelledBatches

LabelledBatches::LabelledBatches(EncodedSet data, int64_t batch_size, uint64_t seed, DataShard shard)
    : data_(std::move(data)), batch_size_(batch_size), seed_(seed), shard_(shard) {
  start_epoch();
}

void LabelledBatches::start_epoch() {
  std::mt19937_64 rng(seed_ * 7919ULL + static_cast<uint64_t>(epoch_));
  batches_ = bucketed_batches(data_.inputs, batch_size_ * shard_.count, rng);
  position_ = 0;
}

Batch LabelledBatches::next() {
  if (position_ >= batches_.size()) {
    ++epoch_;
    start_epoch();
  }
  const auto& global = batches_[position_++];
  if (shard_.count == 1) return make_batch(data_.inputs, global, &data_.labels);
  const size_t begin = std::min(global.size(), static_cast<size_t>(batch_size_ * shard_.index));
  const size_t end = std::min(global.size(), begin + static_cast<size_t>(batch_size_));
  const std::vector<size_t> mine(global.begin() + static_cast<std::ptrdiff_t>(begin),
                                 global.begin() + static_cast<std::ptrdiff_t>(end));
  if (mine.empty()) return Batch{};  // nothing left for this process in the epoch's last batch
  return make_batch(data_.inputs, mine, &data_.labels);
}

Json LabelledBatches::state() const {
  return Json{{"epoch", epoch_}, {"batch", position_}, {"global_batch", batch_size_ * shard_.count}};
}

void LabelledBatches::restore(const Json& state) {
  epoch_ = state.at("epoch").get<int64_t>();
  start_epoch();
  position_ = state.at("batch").get<size_t>();
  const auto global = static_cast<size_t>(batch_size_ * shard_.count);
  const auto saved = state.value("global_batch", global);
  if (saved != global && saved > 0) position_ = (position_ * saved + global - 1) / global;
}

// ---------------------------------------------------------------- MlmStream

namespace {
constexpr uint64_t kHeldOutMaskSeed = 12345;  // fixed: every run scores the same held-out targets
}  // namespace

MlmStream::MlmStream(std::shared_ptr<const ShardCorpus> corpus, const text::Tokenizer& tokenizer, MlmStreamOptions o,
                     const std::string& origin)
    : corpus_(std::move(corpus)), options_(std::move(o)) {
  const auto split = hold_out_every(*corpus_, options_.validation_every, origin);
  train_documents_ = split.train.size();
  held_out_documents_ = split.validation.size();
  sequences_ = packed_sequences(*corpus_, split.train, options_.max_len);
  packer_ = std::make_unique<SequencePacker>(*corpus_, split.train, options_.max_len, options_.seed, true,
                                             tokenizer.special_ids());
  held_out_.ids = pack_fixed(*corpus_, split.validation, options_.max_len, options_.eval_sequences, options_.seed,
                             tokenizer.special_ids());
  if (options_.mask) {
    masker_ = std::make_unique<Masker>(options_.masking, tokenizer, options_.seed + 17);
    Masker held_out_masker(options_.masking, tokenizer, kHeldOutMaskSeed);
    held_out_.labels = held_out_masker.mask(held_out_.ids, 0);
  }
}

// The global batch is shard.count x batch_size sequences; this process packs
// its own rows and passes over the others' without reading them.
MlmBatch MlmStream::next() {
  const int64_t rows = options_.batch_size;
  const auto& shard = options_.shard;
  std::vector<int64_t> flat;
  flat.reserve(static_cast<size_t>(rows * options_.max_len));
  uint64_t first = 0;
  for (int64_t i = 0; i < rows * shard.count; ++i) {
    if (i / rows == shard.index) {
      if (i % rows == 0) first = sequence_;
      const auto s = packer_->next();
      flat.insert(flat.end(), s.begin(), s.end());
    } else {
      packer_->skip();
    }
    ++sequence_;
  }
  MlmBatch b;
  b.ids = torch::tensor(flat, torch::kLong).view({rows, options_.max_len});
  if (masker_) b.labels = masker_->mask(b.ids, first);
  return b;
}

Json MlmStream::state() const { return Json{{"packer", packer_->state()}, {"sequence", sequence_}}; }

void MlmStream::restore(const Json& state) {
  packer_->restore(state.at("packer"));
  if (!state.contains("sequence") || !state["sequence"].is_number_unsigned()) {
    throw InputError("masked-LM data state: no sequence number (a checkpoint of an older kdtext, whose masking "
                     "cannot be continued exactly: start the run again or resume with that version)");
  }
  sequence_ = state["sequence"].get<uint64_t>();
}

}  // namespace kdtext::feed
