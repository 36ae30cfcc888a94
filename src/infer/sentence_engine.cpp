#include "kdtext/infer/sentence_engine.h"

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>
#include <optional>

#include "kdtext/error.h"
#include "kdtext/util/fields.h"

namespace kdtext::infer {

namespace {
// The same hash as model::ngram_buckets, for one sentence of real tokens.
constexpr int64_t kNgramPrime = 1000003;

// FBGEMM's byte-rowwise embedding operators (infer::find_op); a ConfigError without them.
const c10::OperatorHandle* byte_op(const char* name) {
  static std::map<std::string, std::optional<c10::OperatorHandle>> ops;
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  auto& op = ops[name];
  if (!op) op = find_op(name);
  if (!op) throw ConfigError(std::string("--precision int8 needs LibTorch's ") + name + ", which this LibTorch lacks");
  return &*op;
}

// The precisions each architecture offers: every one for cnn, fp32 and int8
// for the bag, fp32 for bilstm; int8 on the CPU only. ConfigError otherwise.
void check_precision(const model::SentenceConfig& c, Precision precision, torch::Device device) {
  check_engine_precision(precision);
  const bool int8_bag = precision == Precision::kInt8 && c.arch == model::SentenceArch::kBag;
  const bool cnn = c.arch == model::SentenceArch::kCnn;
  if (precision == Precision::kInt8 && !device.is_cpu()) {
    throw ConfigError("--precision int8 runs on the CPU only; use fp32 on " + device.str());
  }
  if (precision != Precision::kFloat32 && !int8_bag && !cnn) {
    throw ConfigError("--precision " + precision_name(precision) + " is not offered for " +
                      choice_name(c.arch, model::kSentenceArchs) + " students (" +
                      (c.arch != model::SentenceArch::kBiLstm ? "bf16 tables would only halve memory"
                       : precision == Precision::kInt8
                           ? "LibTorch's int8 LSTM measured no faster than fp32 at these sizes: bench/lstm_int8.py"
                           : "kdtext runs the LSTM in fp32 only") +
                      "); use fp32" + (c.arch == model::SentenceArch::kBag ? " or int8" : ""));
  }
}

}  // namespace

SentenceEngine::SentenceEngine(const model::SentenceConfig& c, const io::TensorMap& weights, Precision precision,
                               torch::Device device, const std::string& origin)
    : config_(c), precision_(precision), device_(device) {
  check_precision(c, precision, device);
  const bool int8_bag = precision == Precision::kInt8 && c.arch == model::SentenceArch::kBag;
  torch::NoGradGuard no_grad;
  // the module beside the weights read, and for the bag its one table (fp32, or int8 made from it)
  model::check_fits_in_memory(c, origin, c.arch == model::SentenceArch::kBag ? 2 : 1, "load for inference");
  module_ = model::SentenceClassifier(c);
  io::load_tensors(io::module_tensors(*module_), weights, origin);  // names and shapes checked
  for (const auto& p : module_->parameters()) parameters_ += p.numel();
  if (c.arch == model::SentenceArch::kBag) {
    const auto& m = *module_;
    bag_table_ = c.ngram_buckets > 0 ? torch::cat({m.embeddings->weight, m.ngram_embeddings->weight})
                                     : m.embeddings->weight.clone();
    bag_table_ = int8_bag ? call_boxed(*byte_op("quantized::embedding_bag_byte_prepack"), {bag_table_.contiguous()})
                                .toTensor()
                          : bag_table_.to(device).contiguous();
    if (c.hidden > 0) {
      hidden_weight_ = m.hidden->weight.to(device).contiguous();
      hidden_bias_ = m.hidden->bias.to(device).contiguous();
    }
    classifier_weight_ = m.classifier->weight.to(device).contiguous();
    classifier_bias_ = m.classifier->bias.to(device).contiguous();
    module_ = nullptr;  // the table above holds every weight it needs
    return;
  }
  if (c.arch == model::SentenceArch::kBiLstm) {
    auto named = module_->lstm->named_parameters();
    for (int64_t l = 0; l < c.layers; ++l) {
      for (const std::string suffix : {"", "_reverse"}) {
        std::vector<torch::Tensor> p;
        for (const char* kind : {"weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l"}) {
          p.push_back(named[kind + std::to_string(l) + suffix].detach().to(device).contiguous());
        }
        lstm_params_.push_back(std::move(p));
      }
    }
    embeddings_ = module_->embeddings->weight.detach().to(device).contiguous();
    classifier_weight_ = module_->classifier->weight.detach().to(device).contiguous();
    classifier_bias_ = module_->classifier->bias.detach().to(device).contiguous();
    module_ = nullptr;
    return;
  }
  // cnn: each convolution as one matrix product over its windows (unfolded), so
  // that every precision PreparedLinear offers (fp32, bf16, int8) serves it.
  embeddings_ = module_->embeddings->weight.detach().to(device).contiguous();
  for (size_t i = 0; i < c.widths.size(); ++i) {
    const auto& conv = *module_->convs[i]->as<torch::nn::Conv1d>();
    // [F, E, w] -> [F, w * E]: window position k's E inputs at columns k*E..k*E+E-1.
    const auto w = conv.weight.detach().permute({0, 2, 1}).reshape({c.hidden, -1});
    convs_.emplace_back(w, conv.bias.detach(), precision, device);
  }
  classifier_weight_ = module_->classifier->weight.detach().to(device).contiguous();
  classifier_bias_ = module_->classifier->bias.detach().to(device).contiguous();
  module_ = nullptr;
}

torch::Tensor SentenceEngine::cnn_sentence(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const {
  const int64_t b = input_ids.size(0), e = config_.embedding;
  const int64_t widest = *std::max_element(config_.widths.begin(), config_.widths.end());
  const auto ids = input_ids.to(device_);
  const auto mask = attention_mask.defined() ? attention_mask.to(device_, torch::kLong) : torch::ones_like(ids);
  auto x = at::embedding(embeddings_, ids) * mask.unsqueeze(-1).to(torch::kFloat32);  // [B, T, E], padding zero
  if (precision_ == Precision::kBFloat16) x = x.to(torch::kBFloat16);
  if (x.size(1) < widest) x = at::constant_pad_nd(x, {0, 0, 0, widest - x.size(1)});  // Kim's zero padding
  const auto lengths = mask.sum(1).clamp_min(widest);
  std::vector<torch::Tensor> pooled;
  for (size_t i = 0; i < convs_.size(); ++i) {
    const int64_t w = config_.widths[i], windows = x.size(1) - w + 1;
    const auto flat = x.unfold(1, w, 1).transpose(2, 3).reshape({b * windows, w * e});  // [B*W, w*E]
    const auto y = at::relu(convs_[i](flat)).view({b, windows, -1});
    const auto position = torch::arange(windows, lengths.options()).unsqueeze(0);
    const auto valid = (position < (lengths - w + 1).unsqueeze(1)).unsqueeze(-1);  // [B, W, 1]
    pooled.push_back(y.masked_fill(~valid, -std::numeric_limits<float>::infinity()).amax(1));
  }
  return torch::cat(pooled, 1).to(torch::kFloat32);
}

torch::Tensor SentenceEngine::bag_sentence(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const {
  // One flat index list (tokens, then n-grams offset by the vocabulary) and its bag offsets.
  const auto ids = input_ids.to(torch::kCPU, torch::kLong).contiguous();
  const auto mask = attention_mask.defined() ? attention_mask.to(torch::kCPU, torch::kLong).contiguous()
                                             : torch::ones_like(ids);
  const int64_t b = ids.size(0), t = ids.size(1), order = config_.ngram_order, buckets = config_.ngram_buckets;
  const int64_t* id = ids.data_ptr<int64_t>();
  const int64_t* real = mask.data_ptr<int64_t>();
  std::vector<int64_t> flat, offsets(static_cast<size_t>(b));
  flat.reserve(static_cast<size_t>(b * t * (buckets > 0 ? order : 1)));
  std::vector<int64_t> tokens;
  for (int64_t r = 0; r < b; ++r) {
    offsets[static_cast<size_t>(r)] = static_cast<int64_t>(flat.size());
    tokens.clear();
    for (int64_t i = 0; i < t; ++i) {
      if (real[r * t + i]) tokens.push_back(id[r * t + i]);
    }
    flat.insert(flat.end(), tokens.begin(), tokens.end());
    if (buckets == 0) continue;
    const auto n_tokens = static_cast<int64_t>(tokens.size());
    for (int64_t i = 0; i < n_tokens; ++i) {
      int64_t h = tokens[static_cast<size_t>(i)] % buckets;
      for (int64_t n = 2; n <= order && i + n <= n_tokens; ++n) {
        h = (h * kNgramPrime + tokens[static_cast<size_t>(i + n - 1)]) % buckets;
        flat.push_back(config_.vocab_size + h);
      }
    }
  }
  const auto index = torch::from_blob(flat.data(), {static_cast<int64_t>(flat.size())}, torch::kLong).to(device_);
  const auto offset = torch::from_blob(offsets.data(), {b}, torch::kLong).to(device_);
  // mode 1: the mean of each bag's rows.
  if (precision_ == Precision::kInt8) {  // FBGEMM's byte kernel sums (its mode is ignored): divided here
    static const auto* op = byte_op("quantized::embedding_bag_byte_rowwise_offsets");
    std::vector<float> counts(static_cast<size_t>(b));
    for (int64_t r = 0; r < b; ++r) {
      const int64_t end = r + 1 < b ? offsets[static_cast<size_t>(r + 1)] : static_cast<int64_t>(flat.size());
      counts[static_cast<size_t>(r)] = static_cast<float>(std::max<int64_t>(end - offsets[static_cast<size_t>(r)], 1));
    }
    const auto sums = call_boxed(*op, {bag_table_, index, offset, false, int64_t{0}, false, c10::IValue(),
                                       c10::IValue(), false})
                          .toTensor();
    return sums / torch::from_blob(counts.data(), {b, 1}, torch::kFloat32);
  }
  return std::get<0>(at::embedding_bag(bag_table_, index, offset, false, 1));
}

torch::Tensor SentenceEngine::lstm_sentence(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) const {
  const int64_t b = input_ids.size(0), t = input_ids.size(1), h = config_.hidden;
  const auto ids = input_ids.to(device_);
  const auto lengths = (attention_mask.defined() ? attention_mask.to(device_, torch::kLong) : torch::ones_like(ids)).sum(1);
  // Each row's real tokens in reverse order, padding left where it is: position p < L -> L-1-p.
  const auto position = torch::arange(t, lengths.options()).unsqueeze(0).expand({b, t});
  const auto real = position < lengths.unsqueeze(1);
  const auto reversed = torch::where(real, lengths.unsqueeze(1) - 1 - position, position);
  const auto flip_rows = [&](const torch::Tensor& x) {
    return x.gather(1, reversed.unsqueeze(-1).expand({b, t, x.size(2)}));
  };
  const auto one_direction = [&](const torch::Tensor& x, const std::vector<torch::Tensor>& p) {
    const auto zeros = torch::zeros({1, b, h}, x.options());
    return std::get<0>(at::lstm(x, {zeros, zeros}, p, /*has_biases=*/true, /*num_layers=*/1, /*dropout=*/0.0,
                                /*train=*/false, /*bidirectional=*/false, /*batch_first=*/true));
  };
  auto x = at::embedding(embeddings_, ids);  // [B, T, E]
  for (size_t l = 0; l < lstm_params_.size(); l += 2) {
    const auto forward = one_direction(x, lstm_params_[l]);
    const auto backward = flip_rows(one_direction(flip_rows(x), lstm_params_[l + 1]));
    x = torch::cat({forward, backward}, 2);  // [B, T, 2H]
  }
  const auto m = real.unsqueeze(-1);
  const auto max = x.masked_fill(~m, -std::numeric_limits<float>::infinity()).amax(1);
  const auto mean = (x * m).sum(1) / lengths.clamp_min(1).unsqueeze(1).to(x.dtype());
  switch (config_.pooling) {
    case model::Pooling::kMax: return max;
    case model::Pooling::kMean: return mean;
    case model::Pooling::kMaxMean: return torch::cat({max, mean}, 1);
  }
  return max;
}

torch::Tensor SentenceEngine::logits(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                                     const torch::Tensor& /*token_type_ids: the students read none*/) const {
  TORCH_CHECK(input_ids.dim() == 2, "input_ids must be [batch, time], got ", input_ids.sizes());
  torch::InferenceMode guard;
  if (config_.arch == model::SentenceArch::kBiLstm) {
    return at::linear(lstm_sentence(input_ids, attention_mask), classifier_weight_, classifier_bias_)
        .to(torch::kCPU, torch::kFloat32);
  }
  if (config_.arch == model::SentenceArch::kCnn) {
    return at::linear(cnn_sentence(input_ids, attention_mask), classifier_weight_, classifier_bias_)
        .to(torch::kCPU, torch::kFloat32);
  }
  auto s = bag_sentence(input_ids, attention_mask);
  if (hidden_weight_.defined()) s = at::relu(at::linear(s, hidden_weight_, hidden_bias_));
  return at::linear(s, classifier_weight_, classifier_bias_).to(torch::kCPU, torch::kFloat32);
}

}  // namespace kdtext::infer
