#include "kdtext/text/feeds.h"

#include <random>

namespace kdtext::text {

EncodedSet encode_labelled(LabelledData& data, const LabelMap& labels, const LabelledFormat& format,
                           const Tokenizer& tokenizer, int64_t max_len) {
  EncodedSet set;
  set.labels = encode_labels(data, labels, format);
  set.inputs = encode_examples(tokenizer, data.examples, max_len);
  return set;
}

// ---------------------------------------------------------------- LabelledBatches

LabelledBatches::LabelledBatches(EncodedSet data, int64_t batch_size, uint64_t seed)
    : data_(std::move(data)), batch_size_(batch_size), seed_(seed) {
  start_epoch();
}

void LabelledBatches::start_epoch() {
  std::mt19937_64 rng(seed_ * 7919ULL + static_cast<uint64_t>(epoch_));
  batches_ = bucketed_batches(data_.inputs, batch_size_, rng);
  position_ = 0;
}

Batch LabelledBatches::next() {
  if (position_ >= batches_.size()) {
    ++epoch_;
    start_epoch();
  }
  return make_batch(data_.inputs, batches_[position_++], &data_.labels);
}

Json LabelledBatches::state() const { return Json{{"epoch", epoch_}, {"batch", position_}}; }

void LabelledBatches::restore(const Json& state) {
  epoch_ = state.at("epoch").get<int64_t>();
  start_epoch();
  position_ = state.at("batch").get<size_t>();
}

// ---------------------------------------------------------------- MlmStream

namespace {
constexpr uint64_t kHeldOutMaskSeed = 12345;  // fixed: every run scores the same held-out targets
}  // namespace

MlmStream::MlmStream(std::shared_ptr<const ShardCorpus> corpus, const Tokenizer& tokenizer, MlmStreamOptions o,
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
    held_out_.labels = held_out_masker.mask(held_out_.ids);
  }
}

MlmBatch MlmStream::next() {
  std::vector<int64_t> flat;
  flat.reserve(static_cast<size_t>(options_.batch_size * options_.max_len));
  for (int64_t i = 0; i < options_.batch_size; ++i) {
    const auto s = packer_->next();
    flat.insert(flat.end(), s.begin(), s.end());
  }
  MlmBatch b;
  b.ids = torch::tensor(flat, torch::kLong).view({options_.batch_size, options_.max_len});
  if (masker_) b.labels = masker_->mask(b.ids);
  return b;
}

Json MlmStream::state() const {
  Json s{{"packer", packer_->state()}};
  if (masker_) s["masker"] = masker_->state();
  return s;
}

void MlmStream::restore(const Json& state) {
  packer_->restore(state.at("packer"));
  if (masker_) masker_->restore(state.at("masker").get<std::string>());
}

}  // namespace kdtext::text
