#include "kdtext/infer/engine.h"

#include <ATen/Context.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/cpu/Utils.h>

#include <mutex>
#include <set>

#include "kdtext/util/log.h"
#include "kdtext/error.h"

namespace kdtext::infer {

std::optional<c10::OperatorHandle> find_op(const char* name) {
  return c10::Dispatcher::singleton().findSchema({name, ""});
}

c10::IValue call_boxed(const c10::OperatorHandle& op, std::vector<c10::IValue> stack) {
  op.callBoxed(&stack);
  return std::move(stack.at(0));
}

void check_engine_precision(Precision p) {
  if (p == Precision::kAuto) {
    throw ConfigError("precision auto is resolved by measurement before an engine is built (infer::load_classifier)");
  }
}

namespace {


// Rows (batch x tokens) up to which FBGEMM's int8 kernels run (faster for
// batch-1-sized inputs), oneDNN's above (faster for batch-32-sized ones;
// docs/RESULTS.md, "Inference: precisions"). fp32 and bf16 take oneDNN's
// pre-reordered weight at every size (issue 30, AMD EPYC, oneDNN 3.10.2): fp32
// 1.36x faster than MKL through at::linear at batch 1 and 7% at batch 32 (one
// thread, the SST-2 teacher); for bf16, at::linear hands oneDNN the weight in its
// stored layout, which the brgemm kernel repacks on every call, and adds the bias
// in a separate pass (ONEDNN_VERBOSE; 4-5% at batch 32).
constexpr int64_t kSmallRows = 128;

bool has_qengine(at::QEngine e) {
  const auto& engines = at::globalContext().supportedQEngines();
  return std::find(engines.begin(), engines.end(), e) != engines.end();
}

// Packs an int8 weight with one of LibTorch's quantized engines (a
// process-wide setting that decides the packed type; the packed weight then
// runs with its own kernels whatever the setting). Leaves FBGEMM selected.
c10::IValue int8_pack(at::QEngine engine, const torch::Tensor& q, const torch::Tensor& bias) {
  static std::mutex mutex;
  static const auto prepack = find_op("quantized::linear_prepack");
  TORCH_CHECK(prepack && find_op("quantized::linear_dynamic"), "this LibTorch has no quantized linear operators");
  std::lock_guard<std::mutex> lock(mutex);
  at::globalContext().setQEngine(engine);
  auto packed = call_boxed(*prepack, {q, bias});
  at::globalContext().setQEngine(at::QEngine::FBGEMM);
  return packed;
}

// oneDNN's matmul (fp32, bf16) with the weight reordered once into its blocked
// layout (mkldnn::_reorder_linear_weight / _linear_pointwise, the operators
// LibTorch's own compiler uses), bias and GELU fused; null without oneDNN.
const c10::OperatorHandle* onednn_linear_op() {
  static const auto op = at::hasMKLDNN() ? find_op("mkldnn::_linear_pointwise") : std::nullopt;
  static const auto reorder = at::hasMKLDNN() ? find_op("mkldnn::_reorder_linear_weight") : std::nullopt;
  return op && reorder ? &*op : nullptr;
}

// A CPU feature as LibTorch reports it (at::cpu::get_cpu_capabilities()).
bool cpu_has(const char* feature) {
  static const auto caps = at::cpu::get_cpu_capabilities();
  const auto it = caps.find(feature);
  return it != caps.end() && it->second.isBool() && it->second.toBool();
}

// oneDNN's reordered bf16 weights need AVX512 BW/VL/DQ or AVX-NE-CONVERT; on
// other CPUs (AVX2 only) bf16 runs through at::linear.
bool onednn_bf16_supported() {
  return (cpu_has("avx512_bw") && cpu_has("avx512_vl") && cpu_has("avx512_dq")) || cpu_has("avx_ne_convert");
}

// Int8 kernels round well only with VNNI (or AMX); without it (AVX2's u8 x s8
// pair products saturate 16 bits) FBGEMM serves every batch size, with
// 7-bit activations.
bool onednn_int8_accurate() { return cpu_has("avx512_vnni") || cpu_has("avx_vnni") || cpu_has("amx_int8"); }

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
    if (!has_qengine(at::QEngine::FBGEMM)) {
      throw ConfigError("--precision int8 needs LibTorch's FBGEMM quantized engine, which this LibTorch lacks");
    }
    const auto q = int8_per_channel(w);
    int8_small_ = int8_pack(at::QEngine::FBGEMM, q, b);
    int8_large_ = has_qengine(at::QEngine::ONEDNN) && onednn_int8_accurate() ? int8_pack(at::QEngine::ONEDNN, q, b)
                                                                             : int8_small_;
    int8_ = true;
  } else {
    const auto dtype = precision == Precision::kBFloat16 ? torch::kBFloat16 : torch::kFloat32;
    weight_ = w.to(device, dtype);
    bias_ = b.to(device, dtype);
    const bool onednn = precision == Precision::kFloat32 || onednn_bf16_supported();
    if (device.is_cpu() && onednn && onednn_linear_op()) {
      static const auto reorder = find_op("mkldnn::_reorder_linear_weight");
      onednn_weight_ = call_boxed(*reorder, {weight_, c10::IValue()}).toTensor();
      weight_ = torch::Tensor();  // one copy of the weights: the reordered one serves every input
    }
  }
}

torch::Tensor PreparedLinear::operator()(const torch::Tensor& x, bool gelu) const {
  const bool small = x.dim() == 2 && x.size(0) <= kSmallRows;
  if (int8_) {
    static const auto op = find_op("quantized::linear_dynamic");
    // Without VNNI the u8 x s8 pair products of AVX2 saturate 16 bits: activations then take 7 bits
    // (reduce_range), as LibTorch's own quantization does on such CPUs.
    static const bool reduce_range = !onednn_int8_accurate();
    auto y = call_boxed(*op, {x.contiguous(), small ? int8_small_ : int8_large_, reduce_range}).toTensor();
    return gelu ? at::gelu_(y) : y;
  }
  if (onednn_weight_.defined()) {
    auto shape = x.sizes().vec();
    shape.back() = out_features_;
    const auto rows = x.reshape({-1, x.size(-1)}).contiguous();
    return call_boxed(*onednn_linear_op(), {rows, onednn_weight_, bias_, std::string(gelu ? "gelu" : "none"),
                                            c10::List<std::optional<at::Scalar>>(), std::string("none")})
        .toTensor()
        .view(shape);
  }
  auto y = at::linear(x, weight_, bias_);
  return gelu ? at::gelu_(y) : y;
}

namespace {
// Takes tensors out of checkpoint weights by name and shape, remembering which were used.
class WeightTable {
 public:
  WeightTable(const io::TensorMap& weights, std::string origin) : weights_(weights), origin_(std::move(origin)) {}
  const torch::Tensor& take(const std::string& name, const std::vector<int64_t>& shape) {
    const auto it = weights_.find(name);
    if (it == weights_.end()) {
      throw InputError(origin_ + ": missing weight '" + name + "' (expected shape " + c10::str(c10::IntArrayRef(shape)) + ")");
    }
    if (it->second.sizes() != c10::IntArrayRef(shape)) {
      throw InputError(origin_ + ": weight '" + name + "' has shape " + c10::str(it->second.sizes()) +
                       " but the model config needs " + c10::str(c10::IntArrayRef(shape)));
    }
    io::check_weight(origin_, name, it->second);
    if (used_.insert(name).second) count_ += it->second.numel();
    return it->second;
  }
  // Every stored tensor must have been taken, but for those io::load_weights also ignores.
  int64_t finish() const {
    for (const auto& [name, tensor] : weights_) {
      if (used_.count(name) || name == "bert.embeddings.position_ids" || name == "embeddings.position_ids") continue;
      throw InputError(origin_ + ": unexpected weight '" + name + "' that the model does not have");
    }
    return count_;
  }

 private:
  const io::TensorMap& weights_;
  std::string origin_;
  std::set<std::string> used_;
  int64_t count_ = 0;
};

io::TensorMap model_weights(const model::BertImpl& model) {
  if (!model.classifier) throw InputError("the inference engine needs a model with a classification head");
  io::TensorMap out;
  for (const auto& [name, tensor] : model.named_state()) out[name] = tensor.detach();
  return out;
}
}  // namespace

Engine::Engine(const model::BertImpl& model, Precision precision, torch::Device device)
    : Engine(model.config, model_weights(model), precision, device, "model") {}

Engine::Engine(const model::BertConfig& c, const io::TensorMap& weights, Precision precision, torch::Device device,
               const std::string& origin)
    : precision_(precision),
      device_(device),
      hidden_(c.hidden_size),
      heads_(c.num_attention_heads),
      head_dim_(c.head_dim()),
      eps_(c.layer_norm_eps),
      dtype_(precision == Precision::kBFloat16 ? torch::kBFloat16 : torch::kFloat32) {
  check_engine_precision(precision);
  c.validate("model config");
  if (precision == Precision::kInt8 && !device.is_cpu()) {
    throw ConfigError("--precision int8 runs on the CPU only; use bf16 or fp32 on " + device.str());
  }
  if (precision == Precision::kBFloat16 && device.is_cpu()) {
    if (!cpu_has("avx512_bf16")) {
      log::warn("this CPU has no AVX512-BF16 instructions: bf16 is emulated and likely slower than fp32");
    }
  }
  torch::NoGradGuard no_grad;
  WeightTable w(weights, origin);
  const int64_t h = c.hidden_size, inner = c.intermediate_size, labels = static_cast<int64_t>(c.labels.size());
  // Every non-Linear tensor: on the device, in the compute dtype (LayerNorm and
  // embeddings stay float32 under int8: only the Linears are quantized).
  const auto tensor = [&](const std::string& name, const std::vector<int64_t>& shape) {
    return w.take(name, shape).to(device, dtype_).contiguous();
  };
  const auto dense = [&](const std::string& prefix, int64_t out, int64_t in, Precision p) {
    return PreparedLinear(w.take(prefix + ".weight", {out, in}), w.take(prefix + ".bias", {out}), p, device);
  };
  word_ = tensor("bert.embeddings.word_embeddings.weight", {c.vocab_size, h});
  position_ = tensor("bert.embeddings.position_embeddings.weight", {c.max_position_embeddings, h});
  token_type_ = tensor("bert.embeddings.token_type_embeddings.weight", {c.type_vocab_size, h});
  emb_ln_weight_ = tensor("bert.embeddings.LayerNorm.weight", {h});
  emb_ln_bias_ = tensor("bert.embeddings.LayerNorm.bias", {h});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const auto pre = "bert.encoder.layer." + std::to_string(i) + ".";
    const auto self = pre + "attention.self.";
    std::vector<torch::Tensor> qkv_w, qkv_b;
    for (const char* part : {"query", "key", "value"}) {
      qkv_w.push_back(w.take(self + part + ".weight", {h, h}));
      qkv_b.push_back(w.take(self + part + ".bias", {h}));
    }
    Layer l;
    l.qkv = PreparedLinear(torch::cat(qkv_w), torch::cat(qkv_b), precision, device);
    l.out = dense(pre + "attention.output.dense", h, h, precision);
    l.ln1_weight = tensor(pre + "attention.output.LayerNorm.weight", {h});
    l.ln1_bias = tensor(pre + "attention.output.LayerNorm.bias", {h});
    l.ff_in = dense(pre + "intermediate.dense", inner, h, precision);
    l.ff_out = dense(pre + "output.dense", h, inner, precision);
    l.ln2_weight = tensor(pre + "output.LayerNorm.weight", {h});
    l.ln2_bias = tensor(pre + "output.LayerNorm.bias", {h});
    layers_.push_back(std::move(l));
  }
  // The head is a small share of the work: kept out of int8 (as the embeddings).
  const auto head_precision = precision == Precision::kInt8 ? Precision::kFloat32 : precision;
  pooler_ = dense("bert.pooler.dense", h, h, head_precision);
  classifier_ = dense("classifier", labels, h, head_precision);
  parameters_ = w.finish();
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
  auto o = l.ff_out(l.ff_in(a, /*gelu=*/true));
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
