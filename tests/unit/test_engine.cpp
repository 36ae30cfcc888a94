// The inference engine against the training model run in float64 (itself
// checked against a written-out float64 reference in test_bert.cpp), and its
// int8 Linear against hand-quantized weights.
#include <ATen/cpu/Utils.h>
#include <gtest/gtest.h>

#include <thread>

#include "kdtext/infer/engine.h"
#include "kdtext/error.h"

using namespace kdtext;
using infer::Engine;
using infer::Precision;

namespace {

model::BertConfig config(int64_t layers = 2) {
  model::BertConfig c;
  c.vocab_size = 60;
  c.hidden_size = 32;
  c.num_hidden_layers = layers;
  c.num_attention_heads = 4;
  c.intermediate_size = 48;
  c.max_position_embeddings = 40;
  c.type_vocab_size = 2;
  c.labels = {"a", "b", "c"};
  return c;
}

model::Bert make_model(int64_t layers = 2) {
  torch::manual_seed(11);
  model::Bert m(config(layers), model::Heads::kClassifier);
  torch::NoGradGuard g;
  for (auto& p : m->named_parameters()) {  // non-trivial LayerNorm, biases, a larger spread of logits
    if (p.key().find("LayerNorm") != std::string::npos || p.key().find("bias") != std::string::npos) {
      p.value().add_(torch::randn_like(p.value()) * 0.2);
    } else {
      p.value().mul_(4.0);
    }
  }
  m->classifier->weight.mul_(20.0);
  m->eval();
  return m;
}

struct Inputs {
  torch::Tensor ids, mask, types;
};

// Three rows of lengths 9, 5 and 7 (padded with 0), a pair in the last one.
Inputs padded_batch() {
  torch::manual_seed(5);
  Inputs in;
  in.ids = torch::randint(1, 60, {3, 9}, torch::kLong);
  in.mask = torch::ones({3, 9}, torch::kLong);
  in.mask[1].narrow(0, 5, 4).zero_();
  in.mask[2].narrow(0, 7, 2).zero_();
  in.ids.masked_fill_(in.mask == 0, 0);
  in.types = torch::zeros({3, 9}, torch::kLong);
  in.types[2].narrow(0, 4, 3).fill_(1);
  return in;
}

// The training model's logits in float64.
torch::Tensor reference(const model::Bert& m, const Inputs& in) {
  torch::NoGradGuard g;
  auto copy = model::Bert(m->config, model::Heads::kClassifier);
  for (auto& [name, t] : copy->named_state()) {
    for (const auto& [n2, t2] : m->named_state()) {
      if (n2 == name) t.copy_(t2);
    }
  }
  copy->to(torch::kFloat64);
  copy->eval();
  const auto out = copy->encode(in.ids, in.mask, in.types);
  return copy->classify(out.pooled);
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

TEST(Engine, Fp32MatchesFloat64ModelWithPaddingAndTokenTypes) {
  const auto m = make_model();
  const Engine e(*m, Precision::kFloat32, torch::kCPU);
  const auto in = padded_batch();
  const auto want = reference(m, in);
  const auto got = e.logits(in.ids, in.mask, in.types);
  ASSERT_EQ(got.sizes(), want.sizes());
  EXPECT_EQ(got.scalar_type(), torch::kFloat32);
  EXPECT_GT(want.abs().max().item<double>(), 0.5);  // logits that say something
  EXPECT_LE(max_diff(got, want), 1e-5);
}

TEST(Engine, RowsWithoutPaddingSkipTheMaskAndAgreeWithTheMaskedBatch) {
  const auto m = make_model(3);
  const Engine e(*m, Precision::kFloat32, torch::kCPU);
  const auto in = padded_batch();
  const auto batch = e.logits(in.ids, in.mask, in.types);
  // Row 1 alone, cut to its 5 tokens: no padding, so no mask at all.
  const auto alone = e.logits(in.ids.narrow(0, 1, 1).narrow(1, 0, 5), torch::ones({1, 5}, torch::kLong),
                              in.types.narrow(0, 1, 1).narrow(1, 0, 5));
  EXPECT_LE(max_diff(alone[0], batch[1]), 1e-5);
  // Undefined mask and token types mean "all tokens" and "all type 0".
  const auto bare = e.logits(in.ids.narrow(0, 0, 1), {}, {});
  EXPECT_LE(max_diff(bare[0], batch[0]), 1e-5);
  EXPECT_LE(max_diff(batch, reference(m, in)), 1e-5);
}

TEST(Engine, OneInstanceSharedByThreadsGivesTheSerialAnswer) {
  const auto m = make_model();
  const Engine e(*m, Precision::kFloat32, torch::kCPU);
  const auto in = padded_batch();
  const auto serial = e.logits(in.ids, in.mask, in.types);
  std::vector<torch::Tensor> got(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] {
      torch::InferenceMode guard;
      for (int k = 0; k < 20; ++k) got[i] = e.logits(in.ids, in.mask, in.types);
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_TRUE(torch::equal(g, serial));
}

// The padded batch repeated `copies` times: 3 rows of 9 tokens each time.
Inputs repeated(int64_t copies) {
  auto in = padded_batch();
  return {in.ids.repeat({copies, 1}), in.mask.repeat({copies, 1}), in.types.repeat({copies, 1})};
}

// Both kernels of each reduced precision: 27 rows x tokens (the small-input
// kernels) and 270 (the large-input ones).
TEST(Engine, Bf16StaysCloseToFloat64) {
  const auto m = make_model();
  const Engine e(*m, Precision::kBFloat16, torch::kCPU);
  for (const int64_t copies : {1, 10}) {
    const auto in = repeated(copies);
    const auto want = reference(m, in);
    const auto got = e.logits(in.ids, in.mask, in.types);
    EXPECT_EQ(got.scalar_type(), torch::kFloat32);
    const double scale = want.abs().max().item<double>();
    EXPECT_GT(max_diff(got, want), 1e-6) << copies;  // it is not the fp32 path
    EXPECT_LE(max_diff(got, want), 0.05 * scale) << copies;
  }
}

TEST(Engine, Int8LinearUsesOneScalePerOutputChannel) {
  // Two output rows whose magnitudes differ 1000x: one scale for the whole
  // tensor would round the small row to zero; per-channel keeps it.
  torch::manual_seed(2);
  auto w = torch::randn({2, 64}, torch::kFloat32);
  w[1].mul_(1e-3);
  const auto b = torch::tensor({0.5f, -0.25f});
  const infer::PreparedLinear lin(w, b, Precision::kInt8, torch::kCPU);
  const auto caps = at::cpu::get_cpu_capabilities();
  const auto has = [&](const char* f) { return caps.count(f) && caps.at(f).isBool() && caps.at(f).toBool(); };
  const bool vnni = has("avx512_vnni") || has("avx_vnni") || has("amx_int8");
  for (const int64_t rows : {5, 300}) {  // the small-input and the large-input kernels
    const auto x = torch::randn({rows, 64}, torch::kFloat32);
    const auto y = lin(x);
    // Hand quantization of the weights: q = round(w / s), s = max|w_row| / 127.
    const auto s = w.abs().amax(1, true) / 127.0;
    const auto w_hat = (w / s).round().clamp(-127, 127) * s;
    const auto y_hat = x.to(torch::kFloat64).matmul(w_hat.to(torch::kFloat64).t()) + b.to(torch::kFloat64);
    const auto exact = x.to(torch::kFloat64).matmul(w.to(torch::kFloat64).t()) + b.to(torch::kFloat64);
    for (int64_t r = 0; r < 2; ++r) {
      // What is left after the weights is the activation rounding: under 2% of the row's output spread
      // with 8-bit activations, 4% with the 7 bits used where the CPU has no VNNI.
      const auto spread = (exact.select(1, r) - b[r].item<double>()).abs().max().item<double>();
      EXPECT_LE(max_diff(y.select(1, r), y_hat.select(1, r)), (vnni ? 0.02 : 0.04) * spread) << rows << " rows, row " << r;
      EXPECT_GT(max_diff(y.select(1, r), exact.select(1, r)), 0.0) << "row " << r;  // it is quantized
    }
  }
}

TEST(Engine, Int8ClassifierStaysCloseToFp32) {
  const auto m = make_model();
  const Engine fp32(*m, Precision::kFloat32, torch::kCPU), int8(*m, Precision::kInt8, torch::kCPU);
  for (const int64_t copies : {1, 10}) {
    const auto in = repeated(copies);
    const auto a = fp32.logits(in.ids, in.mask, in.types), q = int8.logits(in.ids, in.mask, in.types);
    const double scale = a.abs().max().item<double>();
    EXPECT_GT(max_diff(a, q), 1e-6) << copies;
    EXPECT_LE(max_diff(a, q), 0.1 * scale) << copies;
  }
}

TEST(Engine, RefusesInt8OffTheCpuAndUnknownPrecisions) {
  const auto m = make_model(1);
  try {
    Engine e(*m, Precision::kInt8, torch::Device(torch::kCUDA, 0));
    FAIL() << "int8 on CUDA was accepted";
  } catch (const ConfigError& err) {
    EXPECT_NE(std::string(err.what()).find("CPU only"), std::string::npos) << err.what();
  }
  EXPECT_EQ(infer::parse_precision("bf16", "precision"), Precision::kBFloat16);
  try {
    infer::parse_precision("fp16", "precision");
    FAIL() << "fp16 was accepted";
  } catch (const ConfigError& err) {
    EXPECT_NE(std::string(err.what()).find("precision"), std::string::npos);
    EXPECT_NE(std::string(err.what()).find("fp16"), std::string::npos);
  }
}

TEST(Engine, CheckpointWeightsAreCheckedAgainstTheConfigByName) {
  const auto m = make_model(1);
  io::TensorMap weights;
  for (const auto& [name, t] : m->named_state()) weights[name] = t.detach().clone();
  const auto error_of = [&](const io::TensorMap& w) {
    try {
      Engine e(m->config, w, Precision::kFloat32, torch::kCPU, "ckpt/model.safetensors");
    } catch (const InputError& err) {
      return std::string(err.what());
    }
    return std::string();
  };
  EXPECT_EQ(error_of(weights), "");
  auto missing = weights;
  missing.erase("bert.encoder.layer.0.attention.self.key.bias");
  EXPECT_EQ(error_of(missing),
            "ckpt/model.safetensors: missing weight 'bert.encoder.layer.0.attention.self.key.bias' (expected shape [32])");
  auto misshapen = weights;
  misshapen["classifier.weight"] = torch::zeros({2, 32});
  EXPECT_EQ(error_of(misshapen),
            "ckpt/model.safetensors: weight 'classifier.weight' has shape [2, 32] but the model config needs [3, 32]");
  auto extra = weights;
  extra["cls.predictions.bias"] = torch::zeros({60});
  EXPECT_EQ(error_of(extra), "ckpt/model.safetensors: unexpected weight 'cls.predictions.bias' that the model does not have");
  auto stale = weights;  // transformers' old position_ids buffer is ignored, as by io::load_weights
  stale["bert.embeddings.position_ids"] = torch::arange(40).unsqueeze(0);
  EXPECT_EQ(error_of(stale), "");
  // The weights read are the model's parameters.
  EXPECT_EQ(Engine(m->config, weights, Precision::kFloat32, torch::kCPU, "x").parameters(),
            m->parameter_count().total);
}
