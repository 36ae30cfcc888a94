// The inference engine: a trained BERT classifier rewritten for forward
// passes only. It holds its own copy of the weights, prepared once at load
// for the chosen precision and device:
// - one GEMM for Q, K and V (their weights concatenated);
// - float32 Linears on the CPU through oneDNN with the weight reordered once
//   at load into its blocked layout, bias and GELU fused
//   (mkldnn::_linear_pointwise): with oneDNN 3.10 1.36x faster than MKL through
//   at::linear at batch 1 and 7% at batch 32 (issue 30; an older oneDNN measured
//   3-15% slower, docs/RESULTS.md); at::linear on GPUs and without oneDNN;
// - int8: Linear layers of the encoder dynamically quantized (int8 weights with
//   one scale per output channel, activations quantized per batch), through
//   LibTorch's quantized::linear_dynamic, packed twice: FBGEMM's kernels for
//   batch-1-sized inputs, oneDNN's for larger ones (each faster there); CPU only;
// - bfloat16: every weight and activation in bf16 (LayerNorm and softmax
//   accumulate in float32 inside LibTorch), logits returned in float32; on the
//   CPU through oneDNN the same way where the CPU has AVX-512 BW/VL/DQ;
//   otherwise (and on GPUs) through at::linear;
// - no attention mask when a batch has no padding;
// - the last layer computed for the [CLS] row only (the pooler reads nothing
//   else), which is exact, not an approximation.
// An Engine is immutable after construction: one instance may be shared by
// threads (each call allocates its own activations).
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/torch.h>

#include <optional>

#include <string>
#include <vector>

#include "kdtext/infer/precision.h"
#include "kdtext/io/safetensors.h"
#include "kdtext/model/bert.h"

namespace kdtext::infer {

// LibTorch operators without a C++ function of their own, found by name in
// the dispatcher (as Python's torch.ops finds them), and called boxed (the
// first result returned). Used by both engines.
std::optional<c10::OperatorHandle> find_op(const char* name);
c10::IValue call_boxed(const c10::OperatorHandle& op, std::vector<c10::IValue> stack);

// Bumped when the engines' kernels change (their speed ratios may change with
// them): precisions measured by an earlier revision are measured again.
inline constexpr int kEngineRevision = 3;

// Throws ConfigError for Precision::kAuto: a request that load_classifier
// resolves (infer/precision_probe.h) before an engine is built.
void check_engine_precision(Precision p);

// One Linear layer prepared for inference: y = x W^T + b for 2-D x.
class PreparedLinear {
 public:
  PreparedLinear() = default;
  PreparedLinear(const torch::Tensor& weight, const torch::Tensor& bias, Precision precision, torch::Device device);
  // `gelu`: GELU (erf) applied to the result (fused where the kernel can).
  torch::Tensor operator()(const torch::Tensor& x, bool gelu = false) const;
  int64_t out_features() const { return out_features_; }

 private:
  bool int8_ = false;
  torch::Tensor weight_, bias_;
  torch::Tensor onednn_weight_;           // fp32/bf16 on the CPU: weight_ reordered for oneDNN
  c10::IValue int8_small_, int8_large_;   // int8: packed by FBGEMM (small inputs) and oneDNN (large)
  int64_t out_features_ = 0;
};

// What every prepared classifier answers (the BERT Engine below, the
// non-transformer students' SentenceEngine in infer/sentence_engine.h):
// logits for a CPU batch. Implementations are immutable after construction
// and may be shared by threads.
class ClassifierEngine {
 public:
  virtual ~ClassifierEngine() = default;
  // Classification logits [B, K], float32, on the CPU. Inputs are CPU int64
  // [B, T] (token types may be undefined: all zero); attention_mask 1 = token.
  virtual torch::Tensor logits(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                               const torch::Tensor& token_type_ids) const = 0;
  virtual int64_t num_labels() const = 0;
  virtual Precision precision() const = 0;
  virtual int64_t parameters() const = 0;  // weights read (the model's parameter count)
  virtual torch::Device device() const = 0;
};

class Engine final : public ClassifierEngine {
 public:
  // From a classification checkpoint's weights by Hugging Face name, checked
  // against `config` as io::load_weights checks a model: a missing,
  // unexpected or misshapen tensor is an InputError naming `origin` and the
  // tensor. Tensors already in the right dtype on the device are used as they
  // are (no copy), so loading costs one read of the file. int8 on a non-CPU
  // device is a ConfigError.
  Engine(const model::BertConfig& config, const io::TensorMap& weights, Precision precision, torch::Device device,
         const std::string& origin);
  // From a model with a classification head (its tensors are shared or
  // copied; the model may be discarded afterwards).
  Engine(const model::BertImpl& model, Precision precision, torch::Device device);

  torch::Tensor logits(const torch::Tensor& input_ids, const torch::Tensor& attention_mask,
                       const torch::Tensor& token_type_ids) const override;

  int64_t num_labels() const override { return classifier_.out_features(); }
  Precision precision() const override { return precision_; }
  int64_t parameters() const override { return parameters_; }
  torch::Device device() const override { return device_; }

 private:
  struct Layer {
    PreparedLinear qkv, out, ff_in, ff_out;
    torch::Tensor ln1_weight, ln1_bias, ln2_weight, ln2_bias;
  };
  torch::Tensor layer_forward(const Layer& l, const torch::Tensor& x, int64_t b, int64_t t,
                              const std::optional<torch::Tensor>& mask, bool cls_only) const;

  Precision precision_;
  torch::Device device_;
  int64_t hidden_, heads_, head_dim_, parameters_ = 0;
  double eps_;
  torch::ScalarType dtype_;
  torch::Tensor word_, position_, token_type_, emb_ln_weight_, emb_ln_bias_;
  std::vector<Layer> layers_;
  PreparedLinear pooler_, classifier_;
};

}  // namespace kdtext::infer
