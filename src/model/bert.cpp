#include "kdtext/model/bert.h"

#include <cmath>
#include <limits>

namespace kdtext::model {
namespace nn = torch::nn;

namespace {
double lowest_value(torch::ScalarType t) {
  switch (t) {
    case torch::kHalf: return -65504.0;
    case torch::kBFloat16: return -3.3895313892515355e38;
    case torch::kDouble: return std::numeric_limits<double>::lowest();
    default: return static_cast<double>(std::numeric_limits<float>::lowest());
  }
}

nn::LayerNorm layer_norm(int64_t h, double eps) {
  return nn::LayerNorm(nn::LayerNormOptions({h}).eps(eps).elementwise_affine(true));
}
}  // namespace

BertEmbeddingsImpl::BertEmbeddingsImpl(const BertConfig& c) {
  word_embeddings = register_module(
      "word_embeddings", nn::Embedding(nn::EmbeddingOptions(c.vocab_size, c.hidden_size).padding_idx(c.pad_token_id)));
  position_embeddings =
      register_module("position_embeddings", nn::Embedding(c.max_position_embeddings, c.hidden_size));
  token_type_embeddings = register_module("token_type_embeddings", nn::Embedding(c.type_vocab_size, c.hidden_size));
  LayerNorm = register_module("LayerNorm", layer_norm(c.hidden_size, c.layer_norm_eps));
  dropout = register_module("dropout", nn::Dropout(c.hidden_dropout_prob));
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& token_type_ids) {
  const int64_t t = input_ids.size(1);
  TORCH_CHECK(t <= position_embeddings->weight.size(0), "sequence length ", t,
              " exceeds max_position_embeddings ", position_embeddings->weight.size(0));
  auto positions = torch::arange(t, input_ids.options().dtype(torch::kLong)).unsqueeze(0);
  auto x = word_embeddings(input_ids) + position_embeddings(positions);
  x = x + (token_type_ids.defined() ? token_type_embeddings(token_type_ids)
                                    : token_type_embeddings->weight[0].view({1, 1, -1}));
  return dropout(LayerNorm(x));
}

BertSelfAttentionImpl::BertSelfAttentionImpl(const BertConfig& c)
    : heads(c.num_attention_heads), head_dim(c.head_dim()), dropout_p(c.attention_probs_dropout_prob) {
  query = register_module("query", nn::Linear(c.hidden_size, c.hidden_size));
  key = register_module("key", nn::Linear(c.hidden_size, c.hidden_size));
  value = register_module("value", nn::Linear(c.hidden_size, c.hidden_size));
  dropout = register_module("dropout", nn::Dropout(c.attention_probs_dropout_prob));
}

torch::Tensor BertSelfAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask_add,
                                             const torch::Tensor& mask_bool, torch::Tensor* scores,
                                             torch::Tensor* probs) {
  const int64_t b = x.size(0), t = x.size(1);
  const auto split = [&](const torch::Tensor& y) { return y.view({b, t, heads, head_dim}).transpose(1, 2); };
  auto q = split(query(x)), k = split(key(x)), v = split(value(x));
  torch::Tensor context;
  if (scores == nullptr && probs == nullptr) {
    // Fused path. The boolean mask says which keys may be attended to.
    const std::optional<at::Tensor> mask = mask_bool.defined() ? std::optional<at::Tensor>(mask_bool) : std::nullopt;
    context = at::scaled_dot_product_attention(q, k, v, mask, is_training() ? dropout_p : 0.0, false);
  } else {
    auto s = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(head_dim));
    auto p = torch::softmax(mask_add.defined() ? s + mask_add : s, -1);
    if (scores) *scores = s;
    if (probs) *probs = p;
    context = torch::matmul(dropout(p), v);
  }
  return context.transpose(1, 2).reshape({b, t, heads * head_dim});
}

BertResidualOutputImpl::BertResidualOutputImpl(int64_t in, int64_t out, double eps, double p) {
  dense = register_module("dense", nn::Linear(in, out));
  LayerNorm = register_module("LayerNorm", layer_norm(out, eps));
  dropout = register_module("dropout", nn::Dropout(p));
}

torch::Tensor BertResidualOutputImpl::forward(const torch::Tensor& x, const torch::Tensor& residual) {
  return LayerNorm(dropout(dense(x)) + residual);
}

BertAttentionImpl::BertAttentionImpl(const BertConfig& c) {
  self = register_module("self", BertSelfAttention(c));
  output = register_module(
      "output", BertResidualOutput(c.hidden_size, c.hidden_size, c.layer_norm_eps, c.hidden_dropout_prob));
}

BertIntermediateImpl::BertIntermediateImpl(const BertConfig& c) {
  dense = register_module("dense", nn::Linear(c.hidden_size, c.intermediate_size));
}

BertLayerImpl::BertLayerImpl(const BertConfig& c) {
  attention = register_module("attention", BertAttention(c));
  intermediate = register_module("intermediate", BertIntermediate(c));
  output = register_module(
      "output", BertResidualOutput(c.intermediate_size, c.hidden_size, c.layer_norm_eps, c.hidden_dropout_prob));
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& mask_add,
                                     const torch::Tensor& mask_bool, torch::Tensor* scores, torch::Tensor* probs) {
  auto a = attention->output(attention->self(x, mask_add, mask_bool, scores, probs), x);
  return output(intermediate(a), a);
}

BertEncoderImpl::BertEncoderImpl(const BertConfig& c) {
  layer = register_module("layer", nn::ModuleList());
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    layers.push_back(BertLayer(c));
    layer->push_back(layers.back());
  }
}

BertPoolerImpl::BertPoolerImpl(const BertConfig& c) {
  dense = register_module("dense", nn::Linear(c.hidden_size, c.hidden_size));
}

BertModelImpl::BertModelImpl(const BertConfig& c) : config(c) {
  embeddings = register_module("embeddings", BertEmbeddings(c));
  encoder = register_module("encoder", BertEncoder(c));
  pooler = register_module("pooler", BertPooler(c));
}

EncoderOutput BertModelImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                     const torch::Tensor& token_type_ids, const ForwardOptions& options) {
  TORCH_CHECK(input_ids.dim() == 2, "input_ids must be [batch, time], got ", input_ids.sizes());
  EncoderOutput out;
  auto h = embeddings(input_ids, token_type_ids);
  torch::Tensor mask_add, mask_bool;
  if (attention_mask.defined()) {
    mask_bool = attention_mask.to(torch::kBool).view({input_ids.size(0), 1, 1, input_ids.size(1)});
    // Additive mask in the compute dtype: 0 where attended, the dtype's lowest value at padding.
    mask_add = torch::zeros(mask_bool.sizes(), h.options())
                   .masked_fill(mask_bool.logical_not(), lowest_value(h.scalar_type()));
  }
  const bool want_attn = options.attentions;
  if (options.hidden_states) out.hidden_states.push_back(h);
  for (auto& layer : encoder->layers) {
    torch::Tensor s, p;
    h = layer(h, mask_add, mask_bool, want_attn ? &s : nullptr, want_attn ? &p : nullptr);
    if (options.hidden_states) out.hidden_states.push_back(h);
    if (want_attn) {
      out.attention_scores.push_back(s);
      out.attention_probs.push_back(p);
    }
  }
  out.last_hidden = h;
  if (options.pooled) out.pooled = pooler(h);
  return out;
}

BertPredictionTransformImpl::BertPredictionTransformImpl(const BertConfig& c) {
  dense = register_module("dense", nn::Linear(c.hidden_size, c.hidden_size));
  LayerNorm = register_module("LayerNorm", layer_norm(c.hidden_size, c.layer_norm_eps));
}

BertLMHeadImpl::BertLMHeadImpl(const BertConfig& c, torch::Tensor tied) : decoder_weight(std::move(tied)) {
  transform = register_module("transform", BertPredictionTransform(c));
  bias = register_parameter("bias", torch::zeros({c.vocab_size}));
}

torch::Tensor BertLMHeadImpl::forward(const torch::Tensor& hidden) {
  return torch::nn::functional::linear(transform(hidden), decoder_weight, bias);
}

BertImpl::BertImpl(const BertConfig& c, Heads h, bool hf_init) : config(c), heads(h) {
  c.validate("model config");
  check_fits_in_memory(c, "model config", 1, "hold");
  bert = register_module("bert", BertModel(c));
  if (heads == Heads::kMaskedLM) {
    cls = std::make_shared<torch::nn::Module>("cls");
    predictions = BertLMHead(c, bert->embeddings->word_embeddings->weight);
    cls->register_module("predictions", predictions);
    register_module("cls", cls);
  } else if (heads == Heads::kClassifier) {
    TORCH_CHECK(c.labels.size() >= 2, "a classifier needs at least 2 labels in the config");
    const double p = c.classifier_dropout >= 0 ? c.classifier_dropout : c.hidden_dropout_prob;
    classifier_dropout = register_module("dropout", nn::Dropout(p));
    classifier = register_module("classifier", nn::Linear(c.hidden_size, static_cast<int64_t>(c.labels.size())));
  }
  if (hf_init) init_weights(*this, c);
}

EncoderOutput BertImpl::encode(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                               const torch::Tensor& token_type_ids, const ForwardOptions& options) {
  return bert(input_ids, attention_mask, token_type_ids, options);
}

torch::Tensor BertImpl::mlm_logits(const torch::Tensor& hidden_rows) {
  TORCH_CHECK(predictions, "this model has no masked-LM head");
  return predictions(hidden_rows);
}

torch::Tensor BertImpl::classify(const torch::Tensor& pooled) {
  TORCH_CHECK(classifier, "this model has no classification head");
  return classifier(classifier_dropout(pooled));
}

std::vector<std::pair<std::string, torch::Tensor>> BertImpl::named_state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : named_parameters(true)) out.emplace_back(item.key(), item.value());
  for (const auto& item : named_buffers(true)) out.emplace_back(item.key(), item.value());
  return out;
}

ParamCount BertImpl::parameter_count() const {
  ParamCount n;
  for (const auto& item : named_parameters(true)) {
    n.total += item.value().numel();
    if (item.key().find("embeddings.") == std::string::npos) n.non_embedding += item.value().numel();
  }
  return n;
}

void init_weights(torch::nn::Module& module, const BertConfig& c) {
  torch::NoGradGuard no_grad;
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* linear = m->as<nn::Linear>()) {
      linear->weight.normal_(0.0, c.initializer_range);
      if (linear->bias.defined()) linear->bias.zero_();
    } else if (auto* emb = m->as<nn::Embedding>()) {
      emb->weight.normal_(0.0, c.initializer_range);
      if (emb->options.padding_idx()) emb->weight[*emb->options.padding_idx()].zero_();
    } else if (auto* ln = m->as<nn::LayerNorm>()) {
      ln->weight.fill_(1.0);
      ln->bias.zero_();
    }
  }
}

}  // namespace kdtext::model
