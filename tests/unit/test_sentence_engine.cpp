// The non-transformer students' inference engine (infer/sentence_engine.h)
// against the trained module it is loaded from: the same logits for every
// architecture, with padding; the bag's flat embedding_bag path against the
// module's own tensor path (itself checked against float64 loops in
// test_sentence_students.cpp). Loading errors name the tensor.
#include <gtest/gtest.h>

#include "kdtext/error.h"
#include "kdtext/infer/sentence_engine.h"
#include "kdtext/model/sentence.h"

using namespace kdtext;
using namespace kdtext::model;

namespace sentence_engine_test {

SentenceConfig config(SentenceArch arch) {
  SentenceConfig c;
  c.arch = arch;
  c.vocab_size = 30;
  c.embedding = 6;
  c.hidden = 5;
  c.layers = 2;
  c.widths = {2, 4};
  c.pooling = Pooling::kMaxMean;
  c.ngram_buckets = arch == SentenceArch::kBag ? 13 : 0;
  c.ngram_order = 3;
  c.num_labels = 3;
  return c;
}

io::TensorMap weights_of(const SentenceClassifierImpl& m) {
  io::TensorMap w;
  for (const auto& p : m.named_parameters()) w[p.key()] = p.value().detach().clone();
  return w;
}

// Three sentences of 6, 3 and 1 tokens (pad id 0).
torch::Tensor ids() { return torch::tensor({{4, 9, 2, 17, 5, 29}, {11, 3, 8, 0, 0, 0}, {21, 0, 0, 0, 0, 0}}, torch::kLong); }
torch::Tensor mask() { return (ids() != 0).to(torch::kLong); }

}  // namespace sentence_engine_test


TEST(SentenceEngine, LogitsEqualTheModulesForEveryArchitecture) {
  for (const auto arch : {SentenceArch::kBiLstm, SentenceArch::kCnn, SentenceArch::kBag}) {
    for (const int64_t hidden : {0, 5}) {
      auto c = sentence_engine_test::config(arch);
      if (arch != SentenceArch::kBag && hidden == 0) continue;  // only the bag may have no hidden layer
      c.hidden = hidden;
      torch::manual_seed(3);
      SentenceClassifier m(c);
      m->eval();
      torch::NoGradGuard g;
      const auto expected = m->forward(sentence_engine_test::ids(), sentence_engine_test::mask()).logits;
      const infer::SentenceEngine e(c, sentence_engine_test::weights_of(*m), infer::Precision::kFloat32, torch::kCPU, "ck");
      const auto got = e.logits(sentence_engine_test::ids(), sentence_engine_test::mask(), {});
      EXPECT_TRUE(torch::allclose(got, expected, 1e-5, 1e-5))
          << choice_name(arch, kSentenceArchs) << " hidden " << hidden << "\n" << got << "\n" << expected;
      EXPECT_EQ(e.num_labels(), 3);
      int64_t n = 0;
      for (const auto& p : m->parameters()) n += p.numel();
      EXPECT_EQ(e.parameters(), n);
      // A sentence's answer does not depend on the batch it is in.
      const auto alone = e.logits(sentence_engine_test::ids().narrow(0, 1, 1).narrow(1, 0, 3),
                                sentence_engine_test::mask().narrow(0, 1, 1).narrow(1, 0, 3), {});
      EXPECT_TRUE(torch::allclose(alone[0], got[1], 1e-5, 1e-5)) << choice_name(arch, kSentenceArchs);
    }
  }
}

TEST(SentenceEngine, Int8BagStaysWithinItsRowQuantisationBound) {
  auto c = sentence_engine_test::config(SentenceArch::kBag);
  c.hidden = 0;
  torch::manual_seed(5);
  SentenceClassifier m(c);
  const auto w = sentence_engine_test::weights_of(*m);
  const infer::SentenceEngine fp32(c, w, infer::Precision::kFloat32, torch::kCPU, "ck");
  const infer::SentenceEngine int8(c, w, infer::Precision::kInt8, torch::kCPU, "ck");
  const auto ids = sentence_engine_test::ids(), mask = sentence_engine_test::mask();
  const auto diff = (int8.logits(ids, mask, {}) - fp32.logits(ids, mask, {})).abs().max().item<double>();
  // Each stored row is off by at most half its step (range / 255 / 2) per element, and so is a
  // mean of rows; a logit moves by at most that times the sum of |weights| of its class.
  const auto table = torch::cat({m->embeddings->weight, m->ngram_embeddings->weight}).detach();
  const double half_step = ((table.amax(1) - table.amin(1)) / 255.0 / 2.0).max().item<double>();
  const double weight_sum = m->classifier->weight.detach().abs().sum(1).max().item<double>();
  EXPECT_LE(diff, half_step * weight_sum + 1e-5);
  EXPECT_GT(diff, 0.0);  // it is quantised
}

TEST(SentenceEngine, CnnInInt8AndBf16StaysCloseToFloat32) {
  // Wider than the other tests' models so that quantisation error averages as in real ones.
  auto c = sentence_engine_test::config(SentenceArch::kCnn);
  c.embedding = 32;
  c.hidden = 24;
  c.widths = {1, 3};
  torch::manual_seed(11);
  SentenceClassifier m(c);
  m->eval();
  torch::NoGradGuard g;
  const auto ids = torch::randint(1, 30, {16, 12}, torch::kLong);
  auto mask = torch::ones_like(ids);
  mask.narrow(1, 7, 5).narrow(0, 0, 8).zero_();  // half the rows 7 tokens long
  const auto expected = m->forward(ids, mask).logits;
  const auto w = sentence_engine_test::weights_of(*m);
  const double scale = expected.abs().max().item<double>();
  // int8: weights per output channel (step max|w| / 127) and activations per batch (step range / 255);
  // bf16: 8 significant bits. Both well under 5% of the largest logit here, and not exact.
  for (const auto precision : {infer::Precision::kInt8, infer::Precision::kBFloat16}) {
    const infer::SentenceEngine e(c, w, precision, torch::kCPU, "ck");
    const auto got = e.logits(ids, mask, {});
    const double diff = (got - expected).abs().max().item<double>();
    EXPECT_LT(diff, 0.05 * scale) << infer::precision_name(precision) << "\n" << got << "\n" << expected;
    EXPECT_GT(diff, 0.0) << infer::precision_name(precision);
    EXPECT_EQ(e.precision(), precision);
  }
}

TEST(SentenceEngine, PrecisionsNotOfferedAndBadWeightsAreErrorsNamingThem) {
  const auto lstm = sentence_engine_test::config(SentenceArch::kBiLstm);
  SentenceClassifier lstm_model(lstm);
  for (const auto precision : {infer::Precision::kInt8, infer::Precision::kBFloat16}) {
    try {
      infer::SentenceEngine e(lstm, sentence_engine_test::weights_of(*lstm_model), precision, torch::kCPU, "ck");
      ADD_FAILURE() << "accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("--precision " + infer::precision_name(precision) +
                                           " is not offered for bilstm students"),
                std::string::npos)
          << e.what();
    }
  }
  const auto c = sentence_engine_test::config(SentenceArch::kBag);
  SentenceClassifier m(c);
  auto w = sentence_engine_test::weights_of(*m);
  w.erase("ngram_embeddings.weight");
  try {
    infer::SentenceEngine e(c, w, infer::Precision::kFloat32, torch::kCPU, "ck/model.safetensors");
    ADD_FAILURE() << "a missing tensor accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("ngram_embeddings.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("ck/model.safetensors"), std::string::npos) << e.what();
  }
}
