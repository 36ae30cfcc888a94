// Students beyond the transformer (issue 28): a sentence encoder over the
// teacher's token ids (so one tokenizer serves teacher and student), then a
// linear classifier.
//   bilstm  1-2 bidirectional LSTM layers over token embeddings, max and/or
//           mean pooling over the real tokens (Tang et al. 2019);
//   cnn     convolutions of several widths over token embeddings, ReLU, max
//           over time (Kim 2014);
//   bag     fastText's model: the mean of the token embeddings and of hashed
//           token n-gram embeddings, an optional hidden layer (ReLU).
// The embedding tables have sparse gradients (train/sparse_rows.h).
// Padding never changes a sentence's result: the LSTM runs on packed
// sequences, pooling and the bag's mean skip padded positions, and a
// convolution sees zero vectors past a sentence's end, its windows ending at
// max(length, widest window) (Kim's zero padding of short sentences).
// Parameter names are part of the checkpoint format (docs/FORMATS.md):
// embeddings.weight, ngram_embeddings.weight, lstm.weight_ih_l0(_reverse), ...,
// convs.N.weight/bias, hidden.weight/bias, classifier.weight/bias.
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "kdtext/util/fields.h"

namespace kdtext::model {

enum class SentenceArch { kBiLstm, kCnn, kBag };
inline constexpr std::pair<const char*, SentenceArch> kSentenceArchs[] = {
    {"bilstm", SentenceArch::kBiLstm}, {"cnn", SentenceArch::kCnn}, {"bag", SentenceArch::kBag}};

enum class Pooling { kMax, kMean, kMaxMean };
inline constexpr std::pair<const char*, Pooling> kPoolings[] = {
    {"max", Pooling::kMax}, {"mean", Pooling::kMean}, {"max_mean", Pooling::kMaxMean}};

struct SentenceConfig {
  SentenceArch arch = SentenceArch::kBiLstm;
  int64_t vocab_size = 0;
  int64_t pad_token_id = 0;
  int64_t embedding = 128;             // token (and n-gram) embedding width
  int64_t hidden = 256;                // bilstm: units per direction; cnn: filters per width;
                                       // bag: width of the hidden layer (0: none)
  int64_t layers = 1;                  // bilstm: 1 or 2
  std::vector<int64_t> widths{2, 3, 4};  // cnn: window widths in tokens
  Pooling pooling = Pooling::kMax;     // bilstm; cnn always takes the max
  int64_t ngram_buckets = 0;           // bag: hashed n-gram embeddings (0: tokens only)
  int64_t ngram_order = 2;             // bag: n-grams of 2..ngram_order tokens
  double dropout = 0.1;                // before the classifier (training only)
  int64_t num_labels = 2;

  // Width of the sentence vector the classifier reads (and distillation regresses).
  int64_t sentence_width() const;
  // Throws std::invalid_argument naming the field for impossible values.
  void check() const;
};

// The architecture's keys (a checkpoint's config.json, kdtext-build-student's
// "student" section); ConfigError naming the key for a wrong type or value.
const FieldTable<SentenceConfig>& sentence_fields();

// Bucket of every n-gram (n = 2..order) of real tokens: for tokens t_i..t_{i+n-1},
// h = t_i; h = (h * 1000003 + t_j) mod buckets for each next token. [B, T, order-1]
// (slot n-2 holds the n-gram starting at position i), -1 where the n-gram reaches padding.
torch::Tensor ngram_buckets(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, int64_t order,
                            int64_t buckets);

struct SentenceOutput {
  torch::Tensor logits;    // [B, num_labels]
  torch::Tensor sentence;  // [B, sentence_width()]
};

class SentenceClassifierImpl : public torch::nn::Module {
 public:
  explicit SentenceClassifierImpl(const SentenceConfig& c);
  // input_ids, attention_mask: [B, T] int64 (mask 1 = token, 0 = padding;
  // every row has at least one token).
  SentenceOutput forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);
  torch::Tensor encode(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);
  const SentenceConfig& config() const { return config_; }

  torch::nn::Embedding embeddings{nullptr}, ngram_embeddings{nullptr};
  torch::nn::LSTM lstm{nullptr};
  torch::nn::ModuleList convs{nullptr};
  torch::nn::Linear hidden{nullptr}, classifier{nullptr};
  torch::nn::Dropout dropout{nullptr};

 private:
  torch::Tensor encode_lstm(const torch::Tensor& x, const torch::Tensor& mask);
  torch::Tensor encode_cnn(const torch::Tensor& x, const torch::Tensor& mask);
  torch::Tensor encode_bag(const torch::Tensor& ids, const torch::Tensor& mask);
  SentenceConfig config_;
};
TORCH_MODULE(SentenceClassifier);

// A teacher's input embeddings [V, H] reduced to `width` <= H columns by PCA:
// the rows centred on their mean and projected on the `width` right singular
// vectors with the largest singular values (computed in float64; each
// column's sign fixed so its largest-magnitude entry is positive). Returns
// float32 [V, width]. Throws std::invalid_argument when width is not in [1, H].
torch::Tensor reduce_embeddings(const torch::Tensor& embeddings, int64_t width);

// Parameters of the model `c` describes (all of them, embeddings included).
int64_t parameter_count(const SentenceConfig& c);
// The same as a double, which configs with absurd sizes do not overflow.
double parameter_estimate(const SentenceConfig& c);
// Before a model is allocated: `copies` fp32 copies of its parameters must fit
// in available_memory() (as model/config.h's check for BERT). Otherwise
// ConfigError naming `origin`, the size keys with their values, the need and the limit.
void check_fits_in_memory(const SentenceConfig& c, const std::string& origin, double copies, const std::string& purpose);
// Inference FLOPs of one sentence of `tokens` tokens, counted as for BERT
// (model/config.h: 2 per multiply-add, lookups not counted): the LSTM's
// input and recurrent products per token and direction, every convolution
// window (max(tokens, widest) - width + 1 of them), the bag's additions (one per vector element summed) and the hidden
// and classifier layers.
int64_t inference_flops(const SentenceConfig& c, int64_t tokens);

}  // namespace kdtext::model
