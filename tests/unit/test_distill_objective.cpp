// DistillObjective on small tensors, no model: which terms, between which
// layers, through which projections, with which (scheduled) weights. Output,
// hard-label, hidden-state and embedding terms are recomputed with plain
// float64 loops; the attention term (whose formula test_distill_losses checks
// against loops) is recomputed from the layer pairs the mapping must pick.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kdtext/distill/losses.h"
#include "kdtext/distill/objective.h"
#include "kdtext/error.h"

using namespace kdtext;
using namespace kdtext::distill;

namespace {

model::BertConfig shape(int64_t layers, int64_t hidden, int64_t heads) {
  model::BertConfig c;
  c.num_hidden_layers = layers;
  c.hidden_size = hidden;
  c.num_attention_heads = heads;
  return c;
}

// Encoder outputs of a model with `layers` layers: L+1 hidden states [B,T,H]
// and L attention score maps [B,heads,T,T], random but seeded.
model::EncoderOutput outputs(int64_t layers, int64_t hidden, int64_t heads, uint64_t seed,
                             torch::ScalarType dtype = torch::kFloat64) {
  torch::manual_seed(seed);
  model::EncoderOutput o;
  for (int64_t l = 0; l <= layers; ++l) o.hidden_states.push_back(torch::randn({2, 3, hidden}, dtype));
  for (int64_t l = 0; l < layers; ++l) o.attention_scores.push_back(torch::randn({2, heads, 3, 3}, dtype));
  o.last_hidden = o.hidden_states.back();
  return o;
}

const torch::Tensor& mask() {
  static const torch::Tensor m = torch::tensor({1, 1, 1, 1, 1, 0}, torch::kLong).view({2, 3});
  return m;
}

// Mean over real tokens and hidden units of (s - t)^2, in float64 loops;
// `proj` (W [Ht, Hs], b [Ht]) maps the student first when given.
double hidden_mse_ref(const torch::Tensor& s, const torch::Tensor& t, const torch::Tensor* w = nullptr,
                      const torch::Tensor* b = nullptr) {
  const auto sa = s.to(torch::kFloat64).contiguous(), ta = t.to(torch::kFloat64).contiguous();
  const auto m = mask();
  double sum = 0, n = 0;
  for (int64_t i = 0; i < sa.size(0); ++i) {
    for (int64_t j = 0; j < sa.size(1); ++j) {
      if (m[i][j].item<int64_t>() == 0) continue;
      for (int64_t h = 0; h < ta.size(2); ++h) {
        double x = 0;
        if (w) {
          x = (*b)[h].item<double>();
          for (int64_t k = 0; k < sa.size(2); ++k) x += (*w)[h][k].item<double>() * sa[i][j][k].item<double>();
        } else {
          x = sa[i][j][h].item<double>();
        }
        sum += std::pow(x - ta[i][j][h].item<double>(), 2);
        n += 1;
      }
    }
  }
  return sum / n;
}

double kl_ref(const torch::Tensor& s, const torch::Tensor& t, double T) {
  double total = 0;
  for (int64_t b = 0; b < s.size(0); ++b) {
    std::vector<double> ps, pt;
    double zs = 0, zt = 0;
    for (int64_t k = 0; k < s.size(1); ++k) {
      ps.push_back(std::exp(s[b][k].item<double>() / T));
      pt.push_back(std::exp(t[b][k].item<double>() / T));
      zs += ps.back();
      zt += pt.back();
    }
    for (size_t k = 0; k < ps.size(); ++k) total += pt[k] / zt * std::log((pt[k] / zt) / (ps[k] / zs));
  }
  return total / static_cast<double>(s.size(0)) * T * T;
}

double ce_ref(const torch::Tensor& s, const std::vector<int64_t>& y) {
  double total = 0;
  for (int64_t b = 0; b < s.size(0); ++b) {
    double z = 0;
    for (int64_t k = 0; k < s.size(1); ++k) z += std::exp(s[b][k].item<double>());
    total += -(s[b][y[b]].item<double>() - std::log(z));
  }
  return total / static_cast<double>(s.size(0));
}

}  // namespace

TEST(DistillObjective, WeightedSumOfTermsMatchesAHandComputation) {
  LossOptions o;
  o.output_weight = 0.7;
  o.temperature = 2.0;
  o.hard_weight = 0.3;
  o.hidden_weight = 2.0;
  o.attention_weight = 0.5;
  DistillObjective obj(o, shape(2, 4, 2), shape(4, 4, 2));
  EXPECT_EQ(obj.layer_map(), (std::vector<int64_t>{2, 4}));  // uniform: 2 of 4 layers
  EXPECT_EQ(obj.projections()->size(), 0u);                   // same width
  EXPECT_TRUE(obj.forward_options().hidden_states);
  EXPECT_TRUE(obj.forward_options().attentions);

  ModelOutputs s{outputs(2, 4, 2, 1), torch::tensor({1.0, -0.5, 2.0, 0.3, 0.2, -1.0}, torch::kFloat64).view({2, 3})};
  ModelOutputs t{outputs(4, 4, 2, 2), torch::tensor({2.0, 0.0, 1.0, -0.5, 1.5, 0.5}, torch::kFloat64).view({2, 3})};
  const std::vector<int64_t> y{2, 1};
  const auto terms = obj.compute(s, t, mask(), torch::tensor(y), 0.0);

  const double out = kl_ref(s.logits, t.logits, 2.0), hard = ce_ref(s.logits, y);
  const double hidden = hidden_mse_ref(s.encoder.hidden_states[1], t.encoder.hidden_states[2]) +
                        hidden_mse_ref(s.encoder.hidden_states[2], t.encoder.hidden_states[4]);
  // Student layer i (1-based) against teacher layer map[i]: scores of layers 2 and 4 (indices 1 and 3).
  const double att =
      (attention_score_mse(s.encoder.attention_scores[0], t.encoder.attention_scores[1], mask()) +
       attention_score_mse(s.encoder.attention_scores[1], t.encoder.attention_scores[3], mask()))
          .item<double>();
  EXPECT_NEAR(terms.values.at("loss_output"), out, 1e-10);
  EXPECT_NEAR(terms.values.at("loss_hard"), hard, 1e-10);
  EXPECT_NEAR(terms.values.at("loss_hidden"), hidden, 1e-10);
  EXPECT_NEAR(terms.values.at("loss_attention"), att, 1e-10);
  EXPECT_EQ(terms.values.size(), 4u);  // no embedding or Patient-KD term
  EXPECT_NEAR(terms.total.item<double>(), 0.7 * out + 0.3 * hard + 2.0 * hidden + 0.5 * att, 1e-10);
}

TEST(DistillObjective, ProjectionsMapTheStudentWidthToTheTeachers) {
  LossOptions o;
  o.output_weight = 0;
  o.hidden_weight = 1.0;
  o.embedding_weight = 1.0;
  const auto s_cfg = shape(2, 4, 2), t_cfg = shape(4, 6, 2);
  EXPECT_EQ(DistillObjective(o, s_cfg, t_cfg).projections()->size(), 3u);  // one per mapped layer + embeddings
  LossOptions shared = o;
  shared.projection = Projection::kShared;
  EXPECT_EQ(DistillObjective(shared, s_cfg, t_cfg).projections()->size(), 1u);
  LossOptions logits_only;
  EXPECT_EQ(DistillObjective(logits_only, s_cfg, t_cfg).projections()->size(), 0u);

  torch::manual_seed(3);
  DistillObjective obj(o, s_cfg, t_cfg);
  ModelOutputs s{outputs(2, 4, 2, 4, torch::kFloat32), {}}, t{outputs(4, 6, 2, 5, torch::kFloat32), {}};
  const auto terms = obj.compute(s, t, mask(), {}, 0.0);
  const auto proj = [&](size_t i) { return obj.projections()->ptr(i)->as<torch::nn::LinearImpl>(); };
  double hidden = 0;
  for (size_t i = 0; i < 2; ++i) {
    hidden += hidden_mse_ref(s.encoder.hidden_states[i + 1], t.encoder.hidden_states[2 * (i + 1)], &proj(i)->weight,
                             &proj(i)->bias);
  }
  const double emb = hidden_mse_ref(s.encoder.hidden_states[0], t.encoder.hidden_states[0], &proj(2)->weight,
                                    &proj(2)->bias);
  EXPECT_NEAR(terms.values.at("loss_hidden"), hidden, 1e-5);
  EXPECT_NEAR(terms.values.at("loss_embedding"), emb, 1e-5);
  EXPECT_NEAR(terms.total.item<double>(), hidden + emb, 1e-4);
  // The projections are trained: the loss reaches their weights.
  terms.total.backward();
  EXPECT_GT(proj(0)->weight.grad().abs().sum().item<double>(), 0.0);
}

TEST(DistillObjective, SentenceTermRegressesAStudentVectorOnTheTeachersThroughAProjection) {
  StudentShape bilstm;
  bilstm.architecture = "bilstm";
  bilstm.sentence_width = 4;
  const auto t_cfg = shape(2, 6, 2);
  LossOptions o;
  o.output_weight = 0;
  o.sentence_weight = 2.0;
  torch::manual_seed(7);
  DistillObjective obj(o, bilstm, t_cfg);
  ASSERT_EQ(obj.projections()->size(), 1u);
  EXPECT_TRUE(obj.needs_teacher_sentence());
  EXPECT_FALSE(obj.needs_teacher_internals());  // cacheable with the logits
  const auto w = obj.projections()->ptr(0)->as<torch::nn::LinearImpl>()->weight.to(torch::kDouble);
  const auto b = obj.projections()->ptr(0)->as<torch::nn::LinearImpl>()->bias.to(torch::kDouble);
  ModelOutputs s, t;
  s.sentence = torch::randn({2, 4});
  t.encoder.pooled = torch::randn({2, 6});
  t.encoder.last_hidden = torch::randn({2, 3, 6});
  // Projected student rows, then the mean squared difference, in float64 loops.
  const auto reference = [&](const torch::Tensor& target, bool cosine) {
    double total = 0;
    for (int64_t i = 0; i < 2; ++i) {
      double dot = 0, ns = 0, nt = 0, sq = 0;
      for (int64_t h = 0; h < 6; ++h) {
        double x = b[h].item<double>();
        for (int64_t k = 0; k < 4; ++k) x += w[h][k].item<double>() * s.sentence[i][k].item<double>();
        const double y = target[i][h].item<double>();
        sq += (x - y) * (x - y), dot += x * y, ns += x * x, nt += y * y;
      }
      total += cosine ? 1 - dot / std::sqrt(ns * nt) : sq / 6;
    }
    return total / 2;
  };
  auto terms = obj.compute(s, t, mask(), {}, 0.0);
  EXPECT_NEAR(terms.values.at("loss_sentence"), reference(t.encoder.pooled, false), 1e-5);
  EXPECT_NEAR(terms.total.item<double>(), 2.0 * reference(t.encoder.pooled, false), 1e-4);
  terms.total.backward();  // the projection is trained
  EXPECT_GT(obj.projections()->ptr(0)->as<torch::nn::LinearImpl>()->weight.grad().abs().sum().item<double>(), 0.0);

  // Cosine against the teacher's [CLS] state; a cached target (t.sentence) wins over the encoder's.
  LossOptions cls = o;
  cls.sentence = HiddenLoss::kCosine;
  cls.sentence_target = SentenceTarget::kCls;
  torch::manual_seed(7);
  DistillObjective cos_obj(cls, bilstm, t_cfg);
  EXPECT_NEAR(cos_obj.compute(s, t, mask(), {}, 0.0).values.at("loss_sentence"),
              reference(t.encoder.last_hidden.select(1, 0), true), 1e-5);
  ModelOutputs cached;
  cached.sentence = t.encoder.pooled;
  EXPECT_NEAR(obj.compute(s, cached, mask(), {}, 0.0).values.at("loss_sentence"),
              reference(t.encoder.pooled, false), 1e-5);

  // A transformer student of the teacher's width shares its space: no projection, its pooled output is used.
  ModelOutputs bert;
  bert.encoder.pooled = t.encoder.pooled + 1.0;
  DistillObjective same(o, shape(1, 6, 2), t_cfg);
  EXPECT_EQ(same.projections()->size(), 0u);
  EXPECT_NEAR(same.compute(bert, t, mask(), {}, 0.0).values.at("loss_sentence"), 1.0, 1e-6);
}

TEST(DistillObjective, LayerTermsAreRefusedByNameForStudentsWithoutLayers) {
  StudentShape cnn;
  cnn.architecture = "cnn";
  cnn.sentence_width = 8;
  for (const auto& [key, field] : std::vector<std::pair<std::string, double LossOptions::*>>{
           {"hidden_weight", &LossOptions::hidden_weight},
           {"attention_weight", &LossOptions::attention_weight},
           {"embedding_weight", &LossOptions::embedding_weight},
           {"pkd_weight", &LossOptions::pkd_weight}}) {
    LossOptions o;
    o.*field = 1.0;
    try {
      DistillObjective obj(o, cnn, shape(2, 6, 2));
      ADD_FAILURE() << key << " was accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("loss." + key + ": a cnn student has no transformer layers"),
                std::string::npos) << e.what();
    }
  }
  LossOptions output_only;  // the output term alone is fine
  EXPECT_NO_THROW(DistillObjective(output_only, cnn, shape(2, 6, 2)));
}

TEST(DistillObjective, ScheduledWeightsAndTemperature) {
  LossOptions o;
  o.output_weight = 1.0;
  o.output_weight_end = 0.0;
  o.hard_weight = 0.0;
  o.hard_weight_end = 1.0;
  o.temperature = 4.0;
  o.temperature_end = 1.0;
  DistillObjective obj(o, shape(2, 4, 2), shape(2, 4, 2));
  EXPECT_DOUBLE_EQ(obj.temperature(0.0), 4.0);
  EXPECT_DOUBLE_EQ(obj.temperature(0.5), 2.5);
  EXPECT_DOUBLE_EQ(obj.output_weight(0.25), 0.75);
  EXPECT_DOUBLE_EQ(obj.hard_weight(0.25), 0.25);
  EXPECT_FALSE(obj.needs_teacher_internals());
  EXPECT_TRUE(obj.layer_map().empty());

  auto s_logits = torch::tensor({0.5, -0.5, 1.0, 0.0}, torch::kFloat64).view({2, 2}).requires_grad_();
  ModelOutputs s{{}, s_logits}, t{{}, torch::tensor({1.0, 0.0, 0.0, 1.0}, torch::kFloat64).view({2, 2})};
  const auto start = obj.compute(s, t, mask(), torch::tensor(std::vector<int64_t>{0, 1}), 0.0);
  EXPECT_EQ(start.values.count("loss_hard"), 0u);  // weight 0 at the start: not computed
  EXPECT_NEAR(start.total.item<double>(), kl_ref(s_logits.detach(), t.logits, 4.0), 1e-10);
  const auto end = obj.compute(s, t, mask(), torch::tensor(std::vector<int64_t>{0, 1}), 1.0);
  EXPECT_EQ(end.values.count("loss_output"), 0u);
  EXPECT_NEAR(end.total.item<double>(), ce_ref(s_logits.detach(), {0, 1}), 1e-10);

  // Every weight 0 at this point: a zero loss that still reaches the student.
  LossOptions fading;
  fading.output_weight = 1.0;
  fading.output_weight_end = 0.0;
  const auto zero = DistillObjective(fading, shape(2, 4, 2), shape(2, 4, 2)).compute(s, t, mask(), {}, 1.0);
  ASSERT_TRUE(zero.total.defined());
  EXPECT_EQ(zero.total.item<double>(), 0.0);
  EXPECT_TRUE(zero.total.requires_grad());
}

TEST(DistillObjective, LayerMapKinds) {
  const auto map = [](LayerMap kind, std::vector<int64_t> list = {}) {
    LossOptions o;
    o.hidden_weight = 1.0;
    o.layer_map = kind;
    o.layer_list = std::move(list);
    return DistillObjective(o, shape(2, 4, 2), shape(6, 4, 2)).layer_map();
  };
  EXPECT_EQ(map(LayerMap::kUniform), (std::vector<int64_t>{3, 6}));
  EXPECT_EQ(map(LayerMap::kLast), (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(map(LayerMap::kSkip), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(map(LayerMap::kList, {1, 5}), (std::vector<int64_t>{1, 5}));
  EXPECT_THROW(map(LayerMap::kList, {1, 7}), ConfigError);
  // An output-only objective never uses the mapping, so an unusable one is no error.
  LossOptions o;
  o.layer_map = LayerMap::kList;
  o.layer_list = {9};
  EXPECT_TRUE(DistillObjective(o, shape(2, 4, 2), shape(6, 4, 2)).layer_map().empty());
}

TEST(DistillObjective, OptionsAreParsedOnceAndErrorsNameTheKey) {
  const auto error = [](const Json& j) {
    try {
      loss_options_from_json(JsonFields(j, "loss"));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error({{"output", "foo"}}), "loss.output: expected kl, soft_ce or mse, got 'foo'");
  EXPECT_EQ(error({{"layer_map", "diagonal"}}), "loss.layer_map: expected uniform, spread, last, skip or list, got 'diagonal'");
  EXPECT_EQ(error({{"hidden_weight", -1.0}}), "loss.hidden_weight: must be >= 0, got -1");
  EXPECT_EQ(error({{"output_weight", 0.0}}), "loss: every term has weight 0");
  const auto o = loss_options_from_json(
      JsonFields(Json{{"output", "soft_ce"}, {"attention", "probs_kl"}, {"projection", "shared"}}, "loss"));
  EXPECT_EQ(o.output, OutputLoss::kSoftCe);
  EXPECT_EQ(o.attention, AttentionLoss::kProbsKl);
  EXPECT_EQ(o.projection, Projection::kShared);
  EXPECT_EQ(to_json(o)["output"], "soft_ce");
  EXPECT_EQ(loss_options_from_json(JsonFields(to_json(o), "loss")).output, OutputLoss::kSoftCe);  // round trip
}
