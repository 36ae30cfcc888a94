#include "kdtext/infer/engine.h"

#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/cpu/Utils.h>

#include <map>
#include <mutex>

#include "kdtext/log.h"
#include "kdtext/util/error.h"

namespace kdtext::infer {

Precision parse_precision(const std::string& name, const std::string& key) {
  if (name == "fp32") return Precision::kFloat32;
  if (name == "bf16") return Precision::kBFloat16;
  if (name == "int8") return Precision::kInt8;
  throw ConfigError(key + " must be fp32, bf16 or int8, got '" + name + "'");
}

std::string precision_name(Precision p) {
  switch (p) {
    case Precision::kBFloat16: return "bf16";
    case Precision::kInt8: return "int8";
    default: return "fp32";
  }
}

namespace {

// LibTorch operators without a C++ function of their own, found by name in
// the dispatcher (as Python's torch.ops finds them).
std::optional<c10::OperatorHandle> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchema({name, ""});
}

c10::IValue call_boxed(const c10::OperatorHandle& op, std::vector<c10::IValue> stack) {
  op.callBoxed(&stack);
  return std::move(stack.at(0));
}

// FBGEMM's int8 kernels; the engine is a process-wide LibTorch setting,
// chosen once before any weight is packed.
void select_int8_engine() {
  static std::once_flag once;
  std::call_once(once, [] {
    const auto& engines = at::globalContext().supportedQEngines();
    if (std::find(engines.begin(), engines.end(), at::QEngine::FBGEMM) == engines.end()) {
      throw ConfigError("--precision int8 needs LibTorch's FBGEMM quantized engine, which this LibTorch lacks");
    }
    at::globalContext().setQEngine(at::QEngine::FBGEMM);
  });
}

torch::Tensor int8_per_channel(const torch::Tensor& w) {
  // Symmetric: scale = max|w_row| / 127, zero point 0.
  const auto scales = w.abs().amax(1).div(127.0).clamp_min(1e-12).to(torch::kDouble);
  const auto zeros = torch::zeros({w.size(0)}, torch::kLong);
  return at::quantize_per_channel(w, scales, zeros, 0, torch::kQInt8);
}

}  // namespace

PreparedLinear::PreparedLinear(const torch::Tensor& weight, const torch::Tensor& bias, Precision precision,
                               torch::Device device)
    : out_features_(weight.size(0)) {
  torch::NoGradGuard no_grad;
  const auto w = weight.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const auto b = bias.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  if (precision == Precision::kInt8) {
    select_int8_engine();
    static const auto prepack = find_op("quantized::linear_prepack");
    TORCH_CHECK(prepack && find_op("quantized::linear_dynamic"), "this LibTorch has no quantized linear operators");
    int8_packed_ = call_boxed(*prepack, {int8_per_channel(w), b});
    int8_ = true;
  } else {
    const auto dtype = precision == Precision::kBFloat16 ? torch::kBFloat16 : torch::kFloat32;
    weight_ = w.to(device, dtype);
    bias_ = b.to(device, dtype);
  }
}

torch::Tensor PreparedLinear::operator()(const torch::Tensor& x) const {
  if (int8_) {
    static const auto op = find_op("quantized::linear_dynamic");
    return call_boxed(*op, {x.contiguous(), int8_packed_, false}).toTensor();
  }
  return at::linear(x, weight_, bias_);
}

Engine::Engine(const model::BertImpl& model, Precision precision, torch::Device device)
    : precision_(precision),
      device_(device),
      hidden_(model.config.hidden_size),
      heads_(model.config.num_attention_heads),
      head_dim_(model.config.head_dim()),
      eps_(model.config.layer_norm_eps),
      dtype_(precision == Precision::kBFloat16 ? torch::kBFloat16 : torch::kFloat32) {
  if (!model.classifier) throw InputError("the inference engine needs a model with a classification head");
  if (precision == Precision::kInt8 && !device.is_cpu()) {
    throw ConfigError("--precision int8 runs on the CPU only; use bf16 or fp32 on " + device.str());
  }
  if (precision == Precision::kBFloat16 && device.is_cpu()) {
    const auto caps = at::cpu::get_cpu_capabilities();
    const auto it = caps.find("avx512_bf16");
    if (it == caps.end() || !it->second.isBool() || !it->second.toBool()) {
      log::warn("this CPU has no AVX512-BF16 instructions: bf16 is emulated and likely slower than fp32");
    }
  }
  std::map<std::string, torch::Tensor> p;
  for (const auto& [name, tensor] : model.named_state()) p[name] = tensor.detach();
  const auto get = [&](const std::string& name) {
    const auto it = p.find(name);
    TORCH_CHECK(it != p.end(), "model has no parameter ", name);
    return it->second;
  };
  const auto dense = [&](const std::string& prefix) {
    return PreparedLinear(get(prefix + ".weight"), get(prefix + ".bias"), precision, device);
  };
  // Every non-Linear tensor: on the device, in the compute dtype.
  const auto tensor = [&](const std::string& name) { return get(name).to(device, dtype_).contiguous(); };
  // LayerNorm and embeddings stay float32 under int8 (only the Linears are quantized).
  word_ = tensor("bert.embeddings.word_embeddings.weight");
  position_ = tensor("bert.embeddings.position_embeddings.weight");
  token_type_ = tensor("bert.embeddings.token_type_embeddings.weight");
  emb_ln_weight_ = tensor("bert.embeddings.LayerNorm.weight");
  emb_ln_bias_ = tensor("bert.embeddings.LayerNorm.bias");
  for (int64_t i = 0; i < model.config.num_hidden_layers; ++i) {
    const auto pre = "bert.encoder.layer." + std::to_string(i) + ".";
    const auto self = pre + "attention.self.";
    const auto qkv_w = torch::cat({get(self + "query.weight"), get(self + "key.weight"), get(self + "value.weight")});
    const auto qkv_b = torch::cat({get(self + "query.bias"), get(self + "key.bias"), get(self + "value.bias")});
    Layer l;
    l.qkv = PreparedLinear(qkv_w, qkv_b, precision, device);
    l.out = dense(pre + "attention.output.dense");
    l.ln1_weight = tensor(pre + "attention.output.LayerNorm.weight");
    l.ln1_bias = tensor(pre + "attention.output.LayerNorm.bias");
    l.ff_in = dense(pre + "intermediate.dense");
    l.ff_out = dense(pre + "output.dense");
    l.ln2_weight = tensor(pre + "output.LayerNorm.weight");
    l.ln2_bias = tensor(pre + "output.LayerNorm.bias");
    layers_.push_back(std::move(l));
  }
  // The head is a small share of the work: kept out of int8 (as the embeddings).
  const auto head_precision = precision == Precision::kInt8 ? Precision::kFloat32 : precision;
  pooler_ = PreparedLinear(get("bert.pooler.dense.weight"), get("bert.pooler.dense.bias"), head_precision, device);
  classifier_ = PreparedLinear(get("classifier.weight"), get("classifier.bias"), head_precision, device);
}

torch::Tensor Engine::layer_forward(const Layer& l, const torch::Tensor& x, int64_t b, int64_t t,
                                    const std::optional<torch::Tensor>& mask, bool cls_only) const {
  // x: [B*T, H] -> [B*T, H], or [B, H] (the [CLS] rows) when cls_only.
  const auto qkv = l.qkv(x).view({b, t, 3, heads_, head_dim_}).permute({2, 0, 3, 1, 4});  // [3, B, heads, T, d]
  auto q = qkv[0];
  if (cls_only) q = q.narrow(2, 0, 1);
  const auto context = at::scaled_dot_product_attention(q, qkv[1], qkv[2], mask, 0.0, false);
  const int64_t rows = cls_only ? b : b * t;
  const auto residual = cls_only ? x.view({b, t, hidden_}).select(1, 0) : x;
  auto a = l.out(context.transpose(1, 2).reshape({rows, hidden_}));
  a = at::layer_norm(a.add_(residual), {hidden_}, l.ln1_weight, l.ln1_bias, eps_);
  auto f = l.ff_in(a);
  f = at::gelu_(f);
  auto o = l.ff_out(f);
  return at::layer_norm(o.add_(a), {hidden_}, l.ln2_weight, l.ln2_bias, eps_);
}

torch::Tensor Engine::logits(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                             const torch::Tensor& token_type_ids) const {
  TORCH_CHECK(input_ids.dim() == 2, "input_ids must be [batch, time], got ", input_ids.sizes());
  const int64_t b = input_ids.size(0), t = input_ids.size(1);
  TORCH_CHECK(t <= position_.size(0), "sequence length ", t, " exceeds max_position_embeddings ", position_.size(0));
  const auto ids = input_ids.to(device_);
  auto x = at::embedding(word_, ids);
  x.add_(position_.narrow(0, 0, t));
  if (token_type_ids.defined()) {
    x.add_(at::embedding(token_type_, token_type_ids.to(device_)));
  } else {
    x.add_(token_type_[0]);
  }
  x = at::layer_norm(x, {hidden_}, emb_ln_weight_, emb_ln_bias_, eps_).view({b * t, hidden_});
  std::optional<torch::Tensor> mask;
  if (attention_mask.defined() && !attention_mask.all().item<bool>()) {
    mask = attention_mask.to(device_, torch::kBool).view({b, 1, 1, t});
  }
  const auto n = static_cast<int64_t>(layers_.size());
  for (int64_t i = 0; i < n; ++i) x = layer_forward(layers_[i], x, b, t, mask, i == n - 1);
  if (n == 0) x = x.view({b, t, hidden_}).select(1, 0);
  const auto pooled = pooler_(x).tanh_();
  return classifier_(pooled).to(torch::kCPU, torch::kFloat32);
}

}  // namespace kdtext::infer
