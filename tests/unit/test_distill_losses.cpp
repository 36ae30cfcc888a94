// Each distillation term against a plain-C++ float64 computation.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kdtext/distill/losses.h"

using namespace kdtext::distill;

namespace {
using Mat = std::vector<std::vector<double>>;

torch::Tensor t2d(const Mat& m) {
  std::vector<double> flat;
  for (const auto& r : m) flat.insert(flat.end(), r.begin(), r.end());
  return torch::tensor(flat, torch::kFloat64).view({static_cast<int64_t>(m.size()), -1});
}

std::vector<double> softmax(const std::vector<double>& x, double T) {
  double mx = -1e300, z = 0;
  for (double v : x) mx = std::max(mx, v / T);
  std::vector<double> p;
  for (double v : x) p.push_back(std::exp(v / T - mx));
  for (double v : p) z += v;
  for (double& v : p) v /= z;
  return p;
}

const Mat kStudent{{1.0, -0.5, 2.0}, {0.3, 0.2, -1.0}};
const Mat kTeacher{{2.0, 0.0, 1.0}, {-0.5, 1.5, 0.5}};
}  // namespace

TEST(DistillLosses, KlOfTemperatureSoftenedLogits) {
  for (double T : {1.0, 2.0, 4.0}) {
    double ref = 0;
    for (size_t b = 0; b < 2; ++b) {
      const auto ps = softmax(kStudent[b], T), pt = softmax(kTeacher[b], T);
      for (size_t k = 0; k < 3; ++k) ref += pt[k] * std::log(pt[k] / ps[k]);
    }
    ref /= 2;
    EXPECT_NEAR(kl_logits(t2d(kStudent), t2d(kTeacher), T, false).item<double>(), ref, 1e-12) << T;
    EXPECT_NEAR(kl_logits(t2d(kStudent), t2d(kTeacher), T, true).item<double>(), ref * T * T, 1e-12) << T;
  }
  EXPECT_NEAR(kl_logits(t2d(kTeacher), t2d(kTeacher), 2.0, true).item<double>(), 0.0, 1e-15);
}

TEST(DistillLosses, SoftCrossEntropyAndItsRelationToKl) {
  const double T = 3.0;
  double ref = 0, entropy = 0;
  for (size_t b = 0; b < 2; ++b) {
    const auto ps = softmax(kStudent[b], T), pt = softmax(kTeacher[b], T);
    for (size_t k = 0; k < 3; ++k) {
      ref -= pt[k] * std::log(ps[k]);
      entropy -= pt[k] * std::log(pt[k]);
    }
  }
  ref /= 2;
  entropy /= 2;
  const double ce = soft_cross_entropy(t2d(kStudent), t2d(kTeacher), T, false).item<double>();
  EXPECT_NEAR(ce, ref, 1e-12);
  EXPECT_NEAR(ce - kl_logits(t2d(kStudent), t2d(kTeacher), T, false).item<double>(), entropy, 1e-12);
}

TEST(DistillLosses, LogitMseAndHardLabels) {
  double ref = 0;
  for (size_t b = 0; b < 2; ++b)
    for (size_t k = 0; k < 3; ++k) ref += std::pow(kStudent[b][k] - kTeacher[b][k], 2);
  EXPECT_NEAR(logit_mse(t2d(kStudent), t2d(kTeacher)).item<double>(), ref / 6, 1e-12);
  const auto labels = torch::tensor(std::vector<int64_t>{2, 0});
  const double ce = -(std::log(softmax(kStudent[0], 1)[2]) + std::log(softmax(kStudent[1], 1)[0])) / 2;
  EXPECT_NEAR(hard_cross_entropy(t2d(kStudent), labels).item<double>(), ce, 1e-12);
}

TEST(DistillLosses, SentenceVectorMseAndCosineByHand) {
  const auto s = torch::tensor({{1.0, 2.0}, {3.0, 4.0}}, torch::kDouble);
  const auto t = torch::tensor({{1.0, 0.0}, {0.0, 4.0}}, torch::kDouble);
  // (0 + 4 + 9 + 0) / 4 elements.
  EXPECT_NEAR(vector_mse(s, t).item<double>(), 3.25, 1e-12);
  // Row 1: cos = 1 / sqrt(5); row 2: cos = 16 / (5 * 4) = 0.8.
  EXPECT_NEAR(vector_cosine(s, t).item<double>(), ((1 - 1 / std::sqrt(5.0)) + (1 - 0.8)) / 2, 1e-12);
  EXPECT_THROW(vector_mse(s, torch::zeros({2, 3}, torch::kDouble)), std::exception);
}

TEST(DistillLosses, HiddenMseIgnoresPadding) {
  // B=1, T=3 (last position padding), H=2.
  auto s = torch::tensor({1.0, 2.0, 3.0, 4.0, 100.0, -100.0}, torch::kFloat64).view({1, 3, 2});
  auto t = torch::tensor({0.0, 2.0, 1.0, 1.0, 0.0, 0.0}, torch::kFloat64).view({1, 3, 2});
  auto mask = torch::tensor(std::vector<int64_t>{1, 1, 0}).view({1, 3});
  // (1 + 0 + 4 + 9) / (2 tokens * 2 units)
  EXPECT_NEAR(hidden_mse(s, t, mask).item<double>(), 14.0 / 4, 1e-12);
}

TEST(DistillLosses, HiddenCosine) {
  auto s = torch::tensor({1.0, 0.0, 1.0, 1.0, 3.0, 0.0}, torch::kFloat64).view({1, 3, 2});
  auto t = torch::tensor({0.0, 5.0, 2.0, 2.0, -1.0, 0.0}, torch::kFloat64).view({1, 3, 2});
  auto all = torch::ones({1, 3}, torch::kLong);
  // orthogonal (1) + parallel (0) + opposite (2), averaged over 3 tokens
  EXPECT_NEAR(hidden_cosine(s, t, all).item<double>(), 1.0, 1e-12);
  auto first_two = torch::tensor(std::vector<int64_t>{1, 1, 0}).view({1, 3});
  EXPECT_NEAR(hidden_cosine(s, t, first_two).item<double>(), 0.5, 1e-12);
}

TEST(DistillLosses, NormalizedClsMse) {
  // [CLS] vectors (3,4) and (0,2): normalised (0.6,0.8) and (0,1) -> 0.36 + 0.04
  auto s = torch::tensor({3.0, 4.0, 9.0, 9.0}, torch::kFloat64).view({1, 2, 2});
  auto t = torch::tensor({0.0, 2.0, -9.0, 9.0}, torch::kFloat64).view({1, 2, 2});
  EXPECT_NEAR(normalized_cls_mse(s, t).item<double>(), 0.4, 1e-12);
}

TEST(DistillLosses, AttentionScoreMseOverRealPairs) {
  // B=1, heads=2, T=2 with the second token padding: only pair (0,0) counts.
  auto s = torch::tensor({1.0, 50.0, 60.0, 70.0, 3.0, -5.0, 8.0, 9.0}, torch::kFloat64).view({1, 2, 2, 2});
  auto t = torch::tensor({0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0}, torch::kFloat64).view({1, 2, 2, 2});
  auto mask = torch::tensor(std::vector<int64_t>{1, 0}).view({1, 2});
  EXPECT_NEAR(attention_score_mse(s, t, mask).item<double>(), (1.0 + 4.0) / 2, 1e-12);
  // Different head counts compare head-averaged maps: student mean over its 2 heads vs teacher's 1 head.
  auto t1 = torch::tensor({0.5, 0.0, 0.0, 0.0}, torch::kFloat64).view({1, 1, 2, 2});
  EXPECT_NEAR(attention_score_mse(s, t1, mask).item<double>(), std::pow((1.0 + 3.0) / 2 - 0.5, 2), 1e-12);
}

TEST(DistillLosses, AttentionKlOfProbabilities) {
  // B=1, heads=1, T=2 (both real): rows p_t=(0.5,0.5) vs p_s=(0.9,0.1); (0.2,0.8) vs (0.2,0.8).
  auto s = torch::tensor({0.9, 0.1, 0.2, 0.8}, torch::kFloat64).view({1, 1, 2, 2});
  auto t = torch::tensor({0.5, 0.5, 0.2, 0.8}, torch::kFloat64).view({1, 1, 2, 2});
  auto mask = torch::ones({1, 2}, torch::kLong);
  const double row0 = 0.5 * std::log(0.5 / 0.9) + 0.5 * std::log(0.5 / 0.1);
  EXPECT_NEAR(attention_kl(s, t, mask).item<double>(), row0 / 2, 1e-12);
  EXPECT_NEAR(attention_kl(t, t, mask).item<double>(), 0.0, 1e-15);
}

TEST(DistillLosses, ShapeMismatchIsAnError) {
  EXPECT_THROW(logit_mse(torch::zeros({2, 3}), torch::zeros({2, 4})), c10::Error);
  EXPECT_THROW(hidden_mse(torch::zeros({1, 2, 3}), torch::zeros({1, 2, 4}), torch::ones({1, 2})), c10::Error);
}
