// The inference engine of the non-transformer students (model/sentence.h):
// bilstm runs each direction as a one-directional LSTM over padded rows (the
// backward one over each row's tokens reversed in place), which lets LibTorch
// take its fused CPU kernel (oneDNN) instead of stepping a packed sequence;
// cnn runs each convolution as one matrix product over its unfolded windows
// (a PreparedLinear: fp32, bf16 through oneDNN, or int8 weights per output
// channel with dynamic int8 activations, as the transformer's); bag runs one at::embedding_bag (mean) over a single table holding the token
// rows, then the hashed n-gram rows, with the n-gram indices computed in one
// pass over each sentence on the CPU (fastText's own layout), then its hidden
// and classifier layers. The answers equal the module's (tests/unit/test_sentence_engine.cpp).
// int8 (CPU): the bag's embedding table stored as 8-bit rows with a scale and
// offset each (FBGEMM's byte rowwise format, a quarter of the memory) and read
// by its embedding_bag kernel; its hidden and classifier layers stay float32.
// Not offered, with a ConfigError saying why (no silent fallback to fp32):
// bilstm in int8 or bf16 (LibTorch's dynamic int8 LSTM measured no faster
// than fp32 at 128 units, slower at batch 1: its recurrence quantizes every
// step's state; bench/lstm_int8.py) and the bag in bf16.
#pragma once

#include <torch/torch.h>

#include <string>

#include "kdtext/infer/engine.h"
#include "kdtext/io/safetensors.h"
#include "kdtext/model/sentence.h"

namespace kdtext::infer {

class SentenceEngine final : public ClassifierEngine {
 public:
  // From a sentence checkpoint's weights (checked by name and shape; errors name `origin`).
  SentenceEngine(const model::SentenceConfig& config, const io::TensorMap& weights, Precision precision,
                 torch::Device device, const std::string& origin);

  torch::Tensor logits(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                       const torch::Tensor& token_type_ids) const override;
  int64_t num_labels() const override { return config_.num_labels; }
  Precision precision() const override { return precision_; }
  int64_t parameters() const override { return parameters_; }
  torch::Device device() const override { return device_; }

 private:
  torch::Tensor bag_sentence(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const;
  torch::Tensor lstm_sentence(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const;
  torch::Tensor cnn_sentence(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const;
  std::vector<std::vector<torch::Tensor>> lstm_params_;  // per layer and direction: w_ih, w_hh, b_ih, b_hh
  std::vector<PreparedLinear> convs_;                    // cnn: per width, [F, w * E]
  torch::Tensor embeddings_;                             // bilstm, cnn

  model::SentenceConfig config_;
  Precision precision_;
  torch::Device device_;
  int64_t parameters_ = 0;
  model::SentenceClassifier module_{nullptr};  // while loading
  torch::Tensor bag_table_;                    // bag: [vocab + buckets, embedding] (int8: byte rowwise, packed)
  torch::Tensor hidden_weight_, hidden_bias_, classifier_weight_, classifier_bias_;  // bag
};

}  // namespace kdtext::infer
