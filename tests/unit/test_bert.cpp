// BERT encoder checks against an independent float64 re-implementation and
// invariances (padding, fused vs explicit attention).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <set>

#include "kdtext/model/bert.h"
#include "kdtext/error.h"

using namespace kdtext::model;

namespace {

BertConfig tiny_config() {
  BertConfig c;
  c.vocab_size = 50;
  c.hidden_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 24;
  c.max_position_embeddings = 32;
  c.hidden_dropout_prob = 0.0;
  c.attention_probs_dropout_prob = 0.0;
  c.layer_norm_eps = 1e-12;
  return c;
}

Bert make_model(Heads heads = Heads::kMaskedLM, BertConfig c = tiny_config()) {
  torch::manual_seed(3);
  Bert m(c, heads);
  // Give biases and LayerNorm non-trivial values so the reference sees them.
  torch::NoGradGuard g;
  for (auto& p : m->named_parameters()) {
    if (p.key().find("LayerNorm") != std::string::npos || p.key().find("bias") != std::string::npos) {
      p.value().add_(torch::randn_like(p.value()) * 0.1);
    }
  }
  m->eval();
  return m;
}

// Independent float64 reference: the BERT equations written out with plain
// tensor algebra from the named weights.
struct Reference {
  std::map<std::string, torch::Tensor> w;
  BertConfig c;
  explicit Reference(const Bert& m) : c(m->config) {
    for (const auto& p : m->named_parameters()) w[p.key()] = p.value().detach().to(torch::kFloat64).clone();
  }
  torch::Tensor lin(const torch::Tensor& x, const std::string& name) const {
    return x.matmul(w.at(name + ".weight").t()) + w.at(name + ".bias");
  }
  torch::Tensor ln(const torch::Tensor& x, const std::string& name) const {
    auto mu = x.mean(-1, true);
    auto var = (x - mu).pow(2).mean(-1, true);
    return (x - mu) / (var + c.layer_norm_eps).sqrt() * w.at(name + ".weight") + w.at(name + ".bias");
  }
  static torch::Tensor gelu(const torch::Tensor& x) { return 0.5 * x * (1.0 + torch::erf(x / std::sqrt(2.0))); }
  torch::Tensor embeddings(const torch::Tensor& ids) const {
    const int64_t t = ids.size(1);
    auto x = w.at("bert.embeddings.word_embeddings.weight").index_select(0, ids.reshape({-1})).view({ids.size(0), t, -1});
    x = x + w.at("bert.embeddings.position_embeddings.weight").slice(0, 0, t).unsqueeze(0);
    x = x + w.at("bert.embeddings.token_type_embeddings.weight")[0];
    return ln(x, "bert.embeddings.LayerNorm");
  }
  torch::Tensor layer(const torch::Tensor& x, int i, const torch::Tensor& mask) const {
    const std::string p = "bert.encoder.layer." + std::to_string(i) + ".";
    const int64_t b = x.size(0), t = x.size(1), h = c.num_attention_heads, d = c.head_dim();
    auto q = lin(x, p + "attention.self.query").view({b, t, h, d}).permute({0, 2, 1, 3});
    auto k = lin(x, p + "attention.self.key").view({b, t, h, d}).permute({0, 2, 1, 3});
    auto v = lin(x, p + "attention.self.value").view({b, t, h, d}).permute({0, 2, 1, 3});
    auto s = q.matmul(k.transpose(-1, -2)) / std::sqrt(static_cast<double>(d));
    if (mask.defined()) s = s.masked_fill(mask.view({b, 1, 1, t}).logical_not(), -1e300);
    auto e = (s - std::get<0>(s.max(-1, true))).exp();
    auto probs = e / e.sum(-1, true);
    auto ctx = probs.matmul(v).permute({0, 2, 1, 3}).reshape({b, t, h * d});
    auto a = ln(lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm");
    auto f = lin(gelu(lin(a, p + "intermediate.dense")), p + "output.dense");
    return ln(f + a, p + "output.LayerNorm");
  }
};

double max_abs(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

}  // namespace

TEST(Bert, ParameterNamesFollowHuggingFace) {
  auto m = make_model(Heads::kMaskedLM);
  std::set<std::string> names;
  for (const auto& [k, v] : m->named_state()) names.insert(k);
  for (const char* k :
       {"bert.embeddings.word_embeddings.weight", "bert.embeddings.position_embeddings.weight",
        "bert.embeddings.token_type_embeddings.weight", "bert.embeddings.LayerNorm.weight",
        "bert.encoder.layer.0.attention.self.query.weight", "bert.encoder.layer.0.attention.self.key.bias",
        "bert.encoder.layer.1.attention.self.value.weight", "bert.encoder.layer.1.attention.output.dense.weight",
        "bert.encoder.layer.1.attention.output.LayerNorm.bias", "bert.encoder.layer.0.intermediate.dense.weight",
        "bert.encoder.layer.0.output.dense.bias", "bert.encoder.layer.0.output.LayerNorm.weight",
        "bert.pooler.dense.weight", "cls.predictions.transform.dense.weight",
        "cls.predictions.transform.LayerNorm.bias", "cls.predictions.bias"}) {
    EXPECT_TRUE(names.count(k)) << k;
  }
  // 5 embedding tensors + 16 per layer + 2 pooler + 5 MLM head (decoder tied, not listed).
  EXPECT_EQ(names.size(), 5u + 16u * 2u + 2u + 5u);

  BertConfig c = tiny_config();
  c.labels = {"a", "b", "c"};
  auto clf = make_model(Heads::kClassifier, c);
  std::set<std::string> cn;
  for (const auto& [k, v] : clf->named_state()) cn.insert(k);
  EXPECT_TRUE(cn.count("classifier.weight"));
  EXPECT_EQ(clf->classifier->weight.size(0), 3);
  EXPECT_FALSE(cn.count("cls.predictions.bias"));
}

TEST(Bert, MatchesFloat64ReferenceImplementation) {
  auto m = make_model();
  Reference ref(m);
  auto ids = torch::randint(5, 50, {2, 7}, torch::kLong);
  auto mask = torch::ones({2, 7}, torch::kLong);
  mask[1].slice(0, 5, 7).fill_(0);
  const auto mask_bool = mask.to(torch::kBool);

  // Reference forward of the whole encoder.
  auto h = ref.embeddings(ids);
  auto out_ref_0 = ref.layer(h, 0, mask_bool);
  auto out_ref = ref.layer(out_ref_0, 1, mask_bool);

  // The model in float32: within 1e-5.
  ForwardOptions fo;
  fo.hidden_states = true;
  auto out = m->encode(ids, mask, {}, fo);
  EXPECT_LT(max_abs(out.hidden_states[0], h), 1e-5);
  EXPECT_LT(max_abs(out.hidden_states[1], out_ref_0), 1e-5);
  EXPECT_LT(max_abs(out.last_hidden, out_ref), 1e-5);

  // The same model in float64: agrees to rounding.
  m->to(torch::kFloat64);
  auto out64 = m->encode(ids, mask, {}, fo);
  EXPECT_LT(max_abs(out64.last_hidden, out_ref), 1e-10);

  // Pooler and MLM head by hand.
  auto pooled = torch::tanh(ref.lin(out_ref.select(1, 0), "bert.pooler.dense"));
  EXPECT_LT(max_abs(out64.pooled, pooled), 1e-10);
  auto t = ref.ln(Reference::gelu(ref.lin(out_ref, "cls.predictions.transform.dense")),
                  "cls.predictions.transform.LayerNorm");
  auto logits = t.matmul(ref.w.at("bert.embeddings.word_embeddings.weight").t()) + ref.w.at("cls.predictions.bias");
  EXPECT_LT(max_abs(m->mlm_logits(out64.last_hidden), logits), 1e-9);
}

TEST(Bert, FusedAttentionEqualsExplicitAttention) {
  auto m = make_model();
  auto ids = torch::randint(5, 50, {3, 9}, torch::kLong);
  auto mask = torch::ones({3, 9}, torch::kLong);
  mask[0].slice(0, 4, 9).fill_(0);
  mask[2].slice(0, 8, 9).fill_(0);
  ForwardOptions explicit_path;
  explicit_path.attentions = true;
  auto fused = m->encode(ids, mask);
  auto expl = m->encode(ids, mask, {}, explicit_path);
  EXPECT_LE(max_abs(fused.last_hidden, expl.last_hidden), 1e-5);
  ASSERT_EQ(expl.attention_probs.size(), 2u);
  EXPECT_EQ(expl.attention_scores[0].sizes(), (std::vector<int64_t>{3, 4, 9, 9}));
  // Probabilities: rows sum to 1, zero on padded keys.
  EXPECT_LT((expl.attention_probs[1].sum(-1) - 1).abs().max().item<double>(), 1e-5);
  EXPECT_EQ(expl.attention_probs[0][0].slice(-1, 4, 9).abs().max().item<double>(), 0.0);
}

TEST(Bert, PaddingDoesNotChangeRealPositions) {
  auto m = make_model();
  auto ids = torch::randint(5, 50, {1, 6}, torch::kLong);
  auto padded = torch::cat({ids, torch::zeros({1, 4}, torch::kLong)}, 1);
  auto mask = torch::cat({torch::ones({1, 6}, torch::kLong), torch::zeros({1, 4}, torch::kLong)}, 1);
  for (bool attn : {false, true}) {
    ForwardOptions fo;
    fo.attentions = attn;
    auto a = m->encode(ids, {}, {}, fo);
    auto b = m->encode(padded, mask, {}, fo);
    EXPECT_LT(max_abs(a.last_hidden, b.last_hidden.slice(1, 0, 6)), 1e-5) << "attentions=" << attn;
    EXPECT_LT(max_abs(a.pooled, b.pooled), 1e-5);
  }
}

TEST(Bert, DecoderIsTiedToWordEmbeddings) {
  auto m = make_model();
  auto h = torch::randn({2, 16});
  auto before = m->mlm_logits(h);
  {
    torch::NoGradGuard g;
    m->bert->embeddings->word_embeddings->weight[7].add_(1.0);
  }
  auto after = m->mlm_logits(h);
  EXPECT_GT((after.select(1, 7) - before.select(1, 7)).abs().max().item<double>(), 1e-3);
  EXPECT_LT((after.select(1, 8) - before.select(1, 8)).abs().max().item<double>(), 1e-7);
}

TEST(Bert, InitialisationFollowsHuggingFace) {
  BertConfig c = tiny_config();
  c.vocab_size = 2000;
  c.hidden_size = 64;
  c.num_attention_heads = 4;
  Bert m(c, Heads::kMaskedLM);
  auto w = m->bert->embeddings->word_embeddings->weight;
  EXPECT_NEAR(w.slice(0, 1).std().item<double>(), 0.02, 0.002);
  EXPECT_EQ(w[0].abs().max().item<double>(), 0.0);  // padding row
  EXPECT_EQ(m->bert->encoder->layers[0]->attention->self->query->bias.abs().max().item<double>(), 0.0);
  EXPECT_EQ(m->bert->embeddings->LayerNorm->weight.min().item<double>(), 1.0);
}

TEST(Bert, ConfigValidationNamesKeys) {
  BertConfig c = tiny_config();
  c.hidden_size = 30;  // not divisible by 4 heads
  try {
    c.validate("cfg.json");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("hidden_size"), std::string::npos) << e.what();
  }
  kdtext::Json j = to_json(tiny_config());
  j["model_type"] = "roberta";
  EXPECT_THROW(bert_config_from_json(j, "x"), std::invalid_argument);
  j = to_json(tiny_config());
  j["num_hidden_layers"] = "two";
  EXPECT_THROW(bert_config_from_json(j, "x"), std::invalid_argument);
  BertConfig labelled = tiny_config();
  labelled.labels = {"neg", "pos"};
  EXPECT_EQ(bert_config_from_json(to_json(labelled), "x").labels, labelled.labels);
}

TEST(Bert, OverfitsOneMaskedLmBatch) {
  BertConfig c = tiny_config();
  c.hidden_size = 32;
  torch::manual_seed(1);
  Bert m(c, Heads::kMaskedLM);
  m->train();
  auto ids = torch::randint(5, 50, {4, 12}, torch::kLong);
  auto labels = ids.clone();
  auto masked = ids.clone();
  masked.select(1, 3).fill_(4);  // [MASK]
  masked.select(1, 7).fill_(4);
  auto rows = torch::tensor(std::vector<int64_t>{3, 7, 15, 19, 27, 31, 39, 43});
  auto target = labels.reshape({-1}).index_select(0, rows);
  torch::optim::Adam opt(m->parameters(), torch::optim::AdamOptions(3e-3));
  double loss_value = 0;
  for (int step = 0; step < 300; ++step) {
    opt.zero_grad();
    auto h = m->encode(masked).last_hidden.reshape({-1, c.hidden_size}).index_select(0, rows);
    auto loss = torch::nn::functional::cross_entropy(m->mlm_logits(h), target);
    loss.backward();
    opt.step();
    loss_value = loss.item<double>();
  }
  EXPECT_LT(loss_value, 0.05);
}

// Issue 26: the size estimate that refuses a model before it is allocated
// agrees with the parameters LibTorch actually allocates.
TEST(Bert, ParameterEstimateMatchesTheAllocatedModel) {
  for (const auto heads : {Heads::kNone, Heads::kMaskedLM, Heads::kClassifier}) {
    BertConfig c = tiny_config();
    if (heads == Heads::kClassifier) c.labels = {"a", "b", "c"};
    Bert model(c, heads);
    int64_t allocated = 0;
    for (const auto& p : model->parameters()) allocated += p.numel();
    // The estimate counts every head (pooler, MLM transform and bias, classifier): an upper bound
    // within the heads' size of what one head set allocates.
    const double h = static_cast<double>(c.hidden_size);
    const double heads_size = 2 * h * h + 4 * h + static_cast<double>(c.vocab_size) + 3 * h + 3;
    const double estimate = parameter_estimate(c);
    EXPECT_GE(estimate, static_cast<double>(allocated)) << static_cast<int>(heads);
    EXPECT_LE(estimate - static_cast<double>(allocated), heads_size) << static_cast<int>(heads);
  }
}

TEST(Bert, AModelTooLargeForMemoryIsRefusedNamingItsSizes) {
  BertConfig huge = tiny_config();
  huge.hidden_size = 1000000000;
  huge.num_attention_heads = 1;
  try {
    check_fits_in_memory(huge, "ck/config.json", 4, "train");
    FAIL() << "expected ConfigError";
  } catch (const kdtext::ConfigError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("ck/config.json: hidden_size 1000000000,", 0), 0u) << m;
    EXPECT_NE(m.find("to train, more than the"), std::string::npos) << m;
  }
  EXPECT_THROW(Bert(huge, Heads::kNone), kdtext::ConfigError);  // never reaches the allocator
  // A limit set for the process (KDTEXT_MEMORY_LIMIT_MB) counts: 50 KB cannot train ~10k parameters x 4 copies.
  EXPECT_NO_THROW(check_fits_in_memory(tiny_config(), "tiny", 4, "train"));
  ::setenv("KDTEXT_MEMORY_LIMIT_MB", "0.05", 1);
  EXPECT_THROW(check_fits_in_memory(tiny_config(), "tiny", 4, "train"), kdtext::ConfigError);
  ::unsetenv("KDTEXT_MEMORY_LIMIT_MB");
}
