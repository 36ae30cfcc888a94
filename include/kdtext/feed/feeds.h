// Data feeds shared by every training task: what turns files into batches,
// deterministically by seed, with a state that restores the exact position.
//   LabelledBatches: encoded labelled examples in length-bucketed, shuffled
//                    epochs (finetune, task distillation).
//   MlmStream:       token shards packed into fixed-length sequences, optional
//                    dynamic masking, and a fixed held-out batch (pretrain,
//                    general distillation).
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "kdtext/feed/batching.h"
#include "kdtext/text/labelled.h"
#include "kdtext/feed/mlm_data.h"
#include "kdtext/util/json.h"

namespace kdtext::feed {

// Labelled examples, encoded: inputs and label ids in the same order.
struct EncodedSet {
  std::vector<Encoded> inputs;
  std::vector<int64_t> labels;
  size_t size() const { return inputs.size(); }
};

// Encodes `data`'s labels with `labels` (unknown labels: an error naming file
// and line, or skipped under bad_lines=skip) and its texts with `tokenizer`.
EncodedSet encode_labelled(text::LabelledData& data, const text::LabelMap& labels, const text::LabelledFormat& format,
                           const text::Tokenizer& tokenizer, int64_t max_len);

// This process's part of a data-parallel run: of each global batch (the
// per-process batch size x count), the rows [index x size, (index+1) x size).
struct DataShard {
  int index = 0;
  int count = 1;
};

class LabelledBatches {
 public:
  // Epoch e is shuffled with seed * 7919 + e. With a shard, the epoch is cut
  // into global batches of batch_size x shard.count and next() returns this
  // process's rows of each (fewer, even none, in an epoch's short last batch).
  LabelledBatches(EncodedSet data, int64_t batch_size, uint64_t seed, DataShard shard = {});
  // The next batch (a new epoch starts when one is used up); Batch::index
  // holds the rows, Batch::labels their label ids.
  Batch next();
  const EncodedSet& data() const { return data_; }
  // Sets the label of training row `row` (rows labelled after loading, e.g. by a teacher).
  void set_label(size_t row, int64_t label) { data_.labels.at(row) = label; }
  size_t batches_per_epoch() const { return batches_.size(); }
  // {"epoch", "batch", "global_batch"}: the position of the next batch. A
  // state saved with another global batch size (another number of
  // processes) restores to the first batch after the examples it had used.
  Json state() const;
  void restore(const Json& state);

 private:
  void start_epoch();
  EncodedSet data_;
  int64_t batch_size_;
  uint64_t seed_;
  DataShard shard_;
  int64_t epoch_ = 0;
  std::vector<std::vector<size_t>> batches_;
  size_t position_ = 0;
};

struct MlmStreamOptions {
  int64_t max_len = 128;           // tokens per packed sequence
  int64_t batch_size = 32;         // sequences per batch
  int64_t validation_every = 50;   // every N-th document is held out
  int64_t eval_sequences = 64;     // held-out sequences packed once
  uint64_t seed = 0;               // packing order (seed), masking (seed + 17)
  bool mask = true;                // masked-LM targets for training and held-out batches
  MaskingOptions masking;
  DataShard shard;                 // batch_size is per process; each global batch is batch_size x count
};

struct MlmBatch {
  torch::Tensor ids;     // [B, max_len] int64, CPU
  torch::Tensor labels;  // [B, max_len] int64 (-100: no target); undefined without masking
};

class MlmStream {
 public:
  // `origin` names the data in errors (a preprocess output directory).
  MlmStream(std::shared_ptr<const ShardCorpus> corpus, const text::Tokenizer& tokenizer, MlmStreamOptions options,
            const std::string& origin);
  MlmBatch next();
  // The held-out batch: packed once from the held-out documents, masked once
  // with a fixed seed, so every evaluation scores the same targets.
  const MlmBatch& held_out() const { return held_out_; }
  size_t training_documents() const { return train_documents_; }
  size_t held_out_documents() const { return held_out_documents_; }
  // Packed sequences in one pass over the training documents.
  int64_t sequences_per_epoch() const { return sequences_; }
  // {"packer", "sequence"}: the packer's position and the number of the next
  // sequence (it seeds that sequence's mask).
  Json state() const;
  void restore(const Json& state);

 private:
  std::shared_ptr<const ShardCorpus> corpus_;
  MlmStreamOptions options_;
  std::unique_ptr<SequencePacker> packer_;
  std::unique_ptr<Masker> masker_;
  MlmBatch held_out_;
  uint64_t sequence_ = 0;
  size_t train_documents_ = 0, held_out_documents_ = 0;
  int64_t sequences_ = 0;
};

}  // namespace kdtext::feed
