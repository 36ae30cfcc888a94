// BERT encoder with Hugging Face `BertModel` parameter names and math
// (post-LayerNorm, exact erf GELU, learned absolute positions, token types),
// plus the masked-LM and sequence-classification heads. Module names are the
// checkpoint keys: `bert.embeddings.word_embeddings.weight`,
// `bert.encoder.layer.N.attention.self.query.weight`, `cls.predictions.*`,
// `classifier.*` — treat them as API.
#pragma once

#include <torch/torch.h>

#include <optional>
#include <vector>

#include "kdtext/model/config.h"

namespace kdtext::model {

// What a forward pass returns. The optional parts are filled only when asked
// for (ForwardOptions); otherwise attention runs through
// at::scaled_dot_product_attention.
struct EncoderOutput {
  torch::Tensor last_hidden;                    // [B, T, H]
  torch::Tensor pooled;                         // [B, H] tanh(dense(h[:, 0])), when a pooler is run
  std::vector<torch::Tensor> hidden_states;     // L+1 tensors [B, T, H]: embeddings output, then each layer
  std::vector<torch::Tensor> attention_scores;  // L tensors [B, heads, T, T]: QK^T/sqrt(d), before the mask
  std::vector<torch::Tensor> attention_probs;   // L tensors [B, heads, T, T]: softmax with padding masked
};

struct ForwardOptions {
  bool hidden_states = false;
  bool attentions = false;  // scores and probabilities
  bool pooled = true;
};

class BertEmbeddingsImpl : public torch::nn::Module {
 public:
  explicit BertEmbeddingsImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids);
  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr}, token_type_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(BertEmbeddings);

class BertSelfAttentionImpl : public torch::nn::Module {
 public:
  explicit BertSelfAttentionImpl(const BertConfig& c);
  // `mask_add`: [B,1,1,T] additive mask (0 or -inf-like); `mask_bool`: [B,1,1,T] true = attend.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask_add, const torch::Tensor& mask_bool,
                        torch::Tensor* scores, torch::Tensor* probs);
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
  torch::nn::Dropout dropout{nullptr};
  int64_t heads, head_dim;
  double dropout_p;
};
TORCH_MODULE(BertSelfAttention);

// dense -> dropout -> LayerNorm(x + residual): BertSelfOutput and BertOutput.
class BertResidualOutputImpl : public torch::nn::Module {
 public:
  BertResidualOutputImpl(int64_t in, int64_t out, double eps, double dropout);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& residual);
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
  torch::nn::Dropout dropout{nullptr};
};
TORCH_MODULE(BertResidualOutput);

class BertAttentionImpl : public torch::nn::Module {
 public:
  explicit BertAttentionImpl(const BertConfig& c);
  BertSelfAttention self{nullptr};
  BertResidualOutput output{nullptr};
};
TORCH_MODULE(BertAttention);

class BertIntermediateImpl : public torch::nn::Module {
 public:
  explicit BertIntermediateImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& x) { return torch::gelu(dense(x)); }
  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(BertIntermediate);

class BertLayerImpl : public torch::nn::Module {
 public:
  explicit BertLayerImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask_add, const torch::Tensor& mask_bool,
                        torch::Tensor* scores = nullptr, torch::Tensor* probs = nullptr);
  BertAttention attention{nullptr};
  BertIntermediate intermediate{nullptr};
  BertResidualOutput output{nullptr};
};
TORCH_MODULE(BertLayer);

class BertEncoderImpl : public torch::nn::Module {
 public:
  explicit BertEncoderImpl(const BertConfig& c);
  torch::nn::ModuleList layer{nullptr};
  std::vector<BertLayer> layers;  // typed view of `layer`
};
TORCH_MODULE(BertEncoder);

class BertPoolerImpl : public torch::nn::Module {
 public:
  explicit BertPoolerImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& h) { return torch::tanh(dense(h.select(1, 0))); }
  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(BertPooler);

// BertModel: embeddings, encoder, pooler.
class BertModelImpl : public torch::nn::Module {
 public:
  explicit BertModelImpl(const BertConfig& c);
  // input_ids [B,T] int64; attention_mask [B,T] (1 token, 0 padding; undefined = all 1);
  // token_type_ids [B,T] (undefined = zeros).
  EncoderOutput forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                        const torch::Tensor& token_type_ids = {}, const ForwardOptions& options = {});
  BertConfig config;
  BertEmbeddings embeddings{nullptr};
  BertEncoder encoder{nullptr};
  BertPooler pooler{nullptr};
};
TORCH_MODULE(BertModel);

// Masked-LM head: cls.predictions.{transform.dense, transform.LayerNorm, bias};
// the decoder weight is tied to the word embeddings.
class BertPredictionTransformImpl : public torch::nn::Module {
 public:
  explicit BertPredictionTransformImpl(const BertConfig& c);
  torch::Tensor forward(const torch::Tensor& x) { return LayerNorm(torch::gelu(dense(x))); }
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
};
TORCH_MODULE(BertPredictionTransform);

class BertLMHeadImpl : public torch::nn::Module {
 public:
  BertLMHeadImpl(const BertConfig& c, torch::Tensor tied_word_embeddings);
  torch::Tensor forward(const torch::Tensor& hidden);  // [..., H] -> [..., V]
  BertPredictionTransform transform{nullptr};
  torch::Tensor bias;
  torch::Tensor decoder_weight;  // tied, not registered
};
TORCH_MODULE(BertLMHead);

// Which heads a model carries.
enum class Heads { kNone, kMaskedLM, kClassifier };

// The model every stage trains: `bert` plus an optional head. State dict keys
// match transformers' BertForMaskedLM / BertForSequenceClassification.
class BertImpl : public torch::nn::Module {
 public:
  // `hf_init`: Hugging Face's initialisation (init_weights); false for a model
  // whose every weight is about to be loaded (saves drawing them twice).
  BertImpl(const BertConfig& c, Heads heads, bool hf_init = true);
  EncoderOutput encode(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = {},
                       const torch::Tensor& token_type_ids = {}, const ForwardOptions& options = {});
  // MLM logits for the selected hidden rows ([N, H] -> [N, V]).
  torch::Tensor mlm_logits(const torch::Tensor& hidden_rows);
  // Classification logits [B, num_labels] from the pooled output.
  torch::Tensor classify(const torch::Tensor& pooled);

  // Parameters by checkpoint name (tied decoder weight not duplicated).
  std::vector<std::pair<std::string, torch::Tensor>> named_state() const;
  ParamCount parameter_count() const;

  BertConfig config;
  Heads heads;
  BertModel bert{nullptr};
  std::shared_ptr<torch::nn::Module> cls;  // holds "predictions" (the MLM head) when present
  BertLMHead predictions{nullptr};
  torch::nn::Dropout classifier_dropout{nullptr};
  torch::nn::Linear classifier{nullptr};
};
TORCH_MODULE(Bert);

// Hugging Face initialisation: N(0, initializer_range) for Linear and
// Embedding weights, zero biases and padding row, LayerNorm (1, 0).
void init_weights(torch::nn::Module& module, const BertConfig& c);

}  // namespace kdtext::model
