// Turning examples into model inputs: [CLS] a [SEP] (b [SEP]) with
// longest-first truncation, dynamic padding, and length-bucketed batches.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <random>
#include <vector>

#include "kdtext/text/labelled.h"
#include "kdtext/text/tokenizer.h"

namespace kdtext::feed {

struct Encoded {
  std::vector<int64_t> ids;       // with [CLS]/[SEP]
  std::vector<int64_t> segments;  // token type ids (0 first text, 1 second)
};

// Truncates the longer of the two texts first until everything fits `max_len`.
Encoded encode_example(const text::Tokenizer& tok, const std::string& text, const std::string& pair, int64_t max_len);

// Every example of `examples`, in order.
std::vector<Encoded> encode_examples(const text::Tokenizer& tok, const std::vector<text::Example>& examples, int64_t max_len);

struct Batch {
  torch::Tensor input_ids;       // [B, T] int64, padded with [PAD]
  torch::Tensor attention_mask;  // [B, T] int64, 1 for tokens
  torch::Tensor token_type_ids;  // [B, T] int64
  torch::Tensor labels;          // [B] int64 (undefined without labels)
  std::vector<size_t> index;     // positions of the rows in the source order
};

// Pads the selected examples to the longest among them.
Batch make_batch(const std::vector<Encoded>& encoded, const std::vector<size_t>& rows,
                 const std::vector<int64_t>* labels = nullptr);

// Batches of indices grouped by similar length: shuffle, sort within pools of
// `pool_batches` batches, cut into batches, shuffle the batches.
std::vector<std::vector<size_t>> bucketed_batches(const std::vector<Encoded>& encoded, int64_t batch_size,
                                                  std::mt19937_64& rng, int64_t pool_batches = 50);

// Batches for inference: sorted by length (longest first), order recoverable through Batch::index.
std::vector<std::vector<size_t>> sorted_batches(const std::vector<Encoded>& encoded, int64_t batch_size);

}  // namespace kdtext::feed
