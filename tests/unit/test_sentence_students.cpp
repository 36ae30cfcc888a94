// The non-transformer students (model/sentence.h) against references written
// here in float64 loops: the LSTM's gates and directions, the convolution
// windows, the bag's hashed n-grams; padding invariance; parameter and FLOP
// counts worked out by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "kdtext/error.h"
#include "kdtext/model/sentence.h"
#include "kdtext/train/sparse_rows.h"

using namespace kdtext::model;

namespace {

SentenceConfig small(SentenceArch arch) {
  SentenceConfig c;
  c.arch = arch;
  c.vocab_size = 20;
  c.embedding = 4;
  c.hidden = 3;
  c.widths = {1, 3};
  c.dropout = 0;
  c.num_labels = 2;
  return c;
}

// Two sentences: 5 tokens, and 2 tokens padded to 5 (pad id 0).
torch::Tensor ids() { return torch::tensor({{3, 7, 1, 12, 5}, {9, 4, 0, 0, 0}}, torch::kLong); }
torch::Tensor mask() { return torch::tensor({{1, 1, 1, 1, 1}, {1, 1, 0, 0, 0}}, torch::kLong); }

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
using Vec = std::vector<double>;

// One direction of an LSTM layer over `xs` (gate order i, f, g, o as in PyTorch).
std::vector<Vec> lstm_direction(const std::vector<Vec>& xs, const torch::Tensor& w_ih, const torch::Tensor& w_hh,
                                const torch::Tensor& b_ih, const torch::Tensor& b_hh, bool reverse) {
  const int64_t h = w_hh.size(1);
  const auto wi = w_ih.to(torch::kDouble), wh = w_hh.to(torch::kDouble);
  const auto bi = b_ih.to(torch::kDouble), bh = b_hh.to(torch::kDouble);
  Vec hs(h, 0.0), cs(h, 0.0);
  std::vector<Vec> out(xs.size());
  for (size_t step = 0; step < xs.size(); ++step) {
    const size_t t = reverse ? xs.size() - 1 - step : step;
    Vec gates(4 * h);
    for (int64_t g = 0; g < 4 * h; ++g) {
      double s = bi[g].item<double>() + bh[g].item<double>();
      for (size_t k = 0; k < xs[t].size(); ++k) s += wi[g][k].item<double>() * xs[t][k];
      for (int64_t k = 0; k < h; ++k) s += wh[g][k].item<double>() * hs[k];
      gates[g] = s;
    }
    for (int64_t k = 0; k < h; ++k) {
      const double i = sigmoid(gates[k]), f = sigmoid(gates[h + k]), g = std::tanh(gates[2 * h + k]),
                   o = sigmoid(gates[3 * h + k]);
      cs[k] = f * cs[k] + i * g;
      hs[k] = o * std::tanh(cs[k]);
    }
    out[t] = hs;
  }
  return out;
}

std::vector<Vec> embed(SentenceClassifierImpl& m, const std::vector<int64_t>& tokens) {
  std::vector<Vec> xs;
  for (int64_t id : tokens) {
    const auto row = m.embeddings->weight[id].to(torch::kDouble);
    xs.emplace_back(row.data_ptr<double>(), row.data_ptr<double>() + row.numel());
  }
  return xs;
}

void expect_near(const torch::Tensor& got, const Vec& want, double tol) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  const auto g = got.to(torch::kDouble).contiguous();
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(g[i].item<double>(), want[i], tol) << "element " << i;
}

std::vector<int64_t> ints(const torch::Tensor& t) {
  const auto c = t.to(torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

}  // namespace

TEST(SentenceStudents, TwoLayerBiLstmMatchesAFloat64ReferenceWithMaxAndMeanPooling) {
  torch::manual_seed(1);
  auto c = small(SentenceArch::kBiLstm);
  c.layers = 2;
  c.pooling = Pooling::kMaxMean;
  SentenceClassifier m(c);
  m->eval();
  torch::NoGradGuard ng;
  const auto got = m->encode(ids(), mask());
  const std::vector<std::vector<int64_t>> sentences{{3, 7, 1, 12, 5}, {9, 4}};
  for (size_t b = 0; b < sentences.size(); ++b) {
    auto xs = embed(*m, sentences[b]);
    for (int64_t l = 0; l < 2; ++l) {
      const auto p = m->lstm->named_parameters();
      const std::string s = std::to_string(l);
      const auto fwd = lstm_direction(xs, p["weight_ih_l" + s], p["weight_hh_l" + s], p["bias_ih_l" + s],
                                      p["bias_hh_l" + s], false);
      const auto bwd = lstm_direction(xs, p["weight_ih_l" + s + "_reverse"], p["weight_hh_l" + s + "_reverse"],
                                      p["bias_ih_l" + s + "_reverse"], p["bias_hh_l" + s + "_reverse"], true);
      for (size_t t = 0; t < xs.size(); ++t) {
        xs[t] = fwd[t];
        xs[t].insert(xs[t].end(), bwd[t].begin(), bwd[t].end());
      }
    }
    Vec max(6, -1e300), mean(6, 0.0);
    for (const auto& x : xs) {
      for (size_t k = 0; k < 6; ++k) {
        max[k] = std::max(max[k], x[k]);
        mean[k] += x[k] / static_cast<double>(xs.size());
      }
    }
    max.insert(max.end(), mean.begin(), mean.end());
    expect_near(got[b], max, 1e-5);
  }
}

TEST(SentenceStudents, CnnMatchesAFloat64ReferenceAndZeroPadsSentencesShorterThanAWindow) {
  torch::manual_seed(2);
  SentenceClassifier m(small(SentenceArch::kCnn));  // widths 1 and 3, 3 filters each
  m->eval();
  torch::NoGradGuard ng;
  const auto got = m->encode(ids(), mask());
  const std::vector<std::vector<int64_t>> sentences{{3, 7, 1, 12, 5}, {9, 4}};
  for (size_t b = 0; b < sentences.size(); ++b) {
    auto xs = embed(*m, sentences[b]);
    while (xs.size() < 3) xs.push_back(Vec(4, 0.0));  // the widest window: Kim's zero padding
    Vec want;
    for (size_t i = 0; i < 2; ++i) {
      auto conv = m->convs[i]->as<torch::nn::Conv1d>();
      const auto w = conv->weight.to(torch::kDouble);  // [F, E, width]
      const auto bias = conv->bias.to(torch::kDouble);
      const int64_t width = w.size(2);
      for (int64_t f = 0; f < 3; ++f) {
        double best = -1e300;
        for (size_t start = 0; start + width <= xs.size(); ++start) {
          double s = bias[f].item<double>();
          for (int64_t k = 0; k < width; ++k) {
            for (int64_t e = 0; e < 4; ++e) s += w[f][e][k].item<double>() * xs[start + k][e];
          }
          best = std::max(best, std::max(s, 0.0));
        }
        want.push_back(best);
      }
    }
    expect_near(got[b], want, 1e-5);
  }
}

TEST(SentenceStudents, BagHashesTokenNgramsAsDocumentedAndAveragesEveryVector) {
  // 1000003 mod 11 = 4: bigram (5,7) -> (5*4+7) mod 11 = 5, (7,9) -> 37 mod 11 = 4,
  // trigram (5,7,9) -> (5*4+9) mod 11 = 7 (from the bigram's 5).
  const auto b = ngram_buckets(torch::tensor({{5, 7, 9, 0}}, torch::kLong), torch::tensor({{1, 1, 1, 0}}), 3, 11);
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{1, 4, 2}));
  EXPECT_EQ(ints(b[0].select(1, 0)), (std::vector<int64_t>{5, 4, -1, -1}));
  EXPECT_EQ(ints(b[0].select(1, 1)), (std::vector<int64_t>{7, -1, -1, -1}));

  torch::manual_seed(3);
  auto c = small(SentenceArch::kBag);
  c.hidden = 0;
  c.ngram_buckets = 11;
  c.ngram_order = 3;
  SentenceClassifier m(c);
  m->eval();
  torch::NoGradGuard ng;
  const auto got = m->encode(torch::tensor({{5, 7, 9, 0}}, torch::kLong), torch::tensor({{1, 1, 1, 0}}));
  const auto e = m->embeddings->weight.to(torch::kDouble), n = m->ngram_embeddings->weight.to(torch::kDouble);
  const auto want = ((e[5] + e[7] + e[9] + n[5] + n[4] + n[7]) / 6.0).contiguous();
  expect_near(got[0], Vec(want.data_ptr<double>(), want.data_ptr<double>() + 4), 1e-6);
}

TEST(SentenceStudents, PaddingNeverChangesASentencesLogits) {
  for (auto arch : {SentenceArch::kBiLstm, SentenceArch::kCnn, SentenceArch::kBag}) {
    torch::manual_seed(4);
    auto c = small(arch);
    c.ngram_buckets = arch == SentenceArch::kBag ? 50 : 0;
    SentenceClassifier m(c);
    m->eval();
    torch::NoGradGuard ng;
    const auto batch = m->forward(ids(), mask()).logits[1];
    const auto alone = m->forward(torch::tensor({{9, 4}}, torch::kLong), torch::tensor({{1, 1}})).logits[0];
    EXPECT_TRUE(torch::allclose(batch, alone, 1e-5, 1e-6)) << "arch " << static_cast<int>(arch) << batch << alone;
  }
}

TEST(SentenceStudents, ParameterCountsMatchTheModulesAndHandCountedValues) {
  for (auto arch : {SentenceArch::kBiLstm, SentenceArch::kCnn, SentenceArch::kBag}) {
    auto c = small(arch);
    c.layers = arch == SentenceArch::kBiLstm ? 2 : 1;
    c.ngram_buckets = arch == SentenceArch::kBag ? 30 : 0;
    SentenceClassifier m(c);
    int64_t n = 0;
    for (const auto& p : m->parameters()) n += p.numel();
    EXPECT_EQ(parameter_count(c), n);
    EXPECT_DOUBLE_EQ(parameter_estimate(c), static_cast<double>(n));
    c.pooling = Pooling::kMaxMean;
    EXPECT_DOUBLE_EQ(parameter_estimate(c), static_cast<double>(parameter_count(c)));
  }
  // Sizes no machine holds are refused before any allocation, naming the keys (the estimate does not overflow).
  auto huge = small(SentenceArch::kBag);
  huge.ngram_buckets = int64_t{1} << 40;
  huge.embedding = int64_t{1} << 30;
  EXPECT_GT(parameter_estimate(huge), 1e21);
  try {
    SentenceClassifier m(huge);
    FAIL() << "a 10^21-parameter bag was built";
  } catch (const kdtext::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("ngram_buckets 1099511627776 make a bag model of about"), std::string::npos)
        << e.what();
  }
  ::setenv("KDTEXT_MEMORY_LIMIT_MB", "0.001", 1);  // 1 KB: not even the small one's copies for training
  EXPECT_THROW(check_fits_in_memory(small(SentenceArch::kCnn), "small", 4, "train"), kdtext::ConfigError);
  for (const char* bad : {"-5", "abc", "", "1e400", "5MB"}) {
    ::setenv("KDTEXT_MEMORY_LIMIT_MB", bad, 1);
    try {
      check_fits_in_memory(small(SentenceArch::kCnn), "small", 1, "hold");
      ADD_FAILURE() << "KDTEXT_MEMORY_LIMIT_MB='" << bad << "' was taken";
    } catch (const kdtext::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("KDTEXT_MEMORY_LIMIT_MB: '" + std::string(bad) + "'"), std::string::npos)
          << e.what();
    }
  }
  ::unsetenv("KDTEXT_MEMORY_LIMIT_MB");
  // bilstm, 1 layer: embeddings 20*4 = 80; per direction 4*3*(4+3) + 2*12 = 108, two: 216;
  // classifier (2*3 -> 2) 6*2 + 2 = 14.
  auto c = small(SentenceArch::kBiLstm);
  EXPECT_EQ(parameter_count(c), 80 + 216 + 14);
  // 5 tokens: 2 directions * 5 tokens * 4*3*(4+3) MACs = 840, classifier 12: 2 * 852.
  EXPECT_EQ(inference_flops(c, 5), 1704);
  // cnn, widths 1 and 3, 3 filters, 5 tokens: 5*3*4*1 + 3*3*4*3 = 60 + 108 MACs, classifier 6*2.
  EXPECT_EQ(inference_flops(small(SentenceArch::kCnn), 5), 2 * (60 + 108 + 12));
  // bag, bigrams, no hidden layer, 5 tokens: (5 + 4 vectors) * 4 additions, classifier 4*2 MACs.
  auto bag = small(SentenceArch::kBag);
  bag.hidden = 0;
  bag.ngram_buckets = 100;
  EXPECT_EQ(inference_flops(bag, 5), 36 + 16);
}

TEST(SentenceStudents, ImpossibleConfigurationsNameTheField) {
  const auto error = [](SentenceConfig c) {
    try {
      c.check();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  auto c = small(SentenceArch::kBiLstm);
  c.layers = 3;
  EXPECT_EQ(error(c), "layers: must be 1 or 2 for bilstm, got 3");
  c = small(SentenceArch::kCnn);
  c.widths = {};
  EXPECT_EQ(error(c), "widths: at least one window width for cnn");
  c = small(SentenceArch::kBag);
  c.ngram_buckets = 10;
  c.ngram_order = 1;
  EXPECT_EQ(error(c), "ngram_order: must be >= 2 with n-gram buckets");
  c = small(SentenceArch::kBag);
  c.pad_token_id = 20;
  EXPECT_EQ(error(c), "pad_token_id: must be a token id below vocab_size");
}

TEST(SentenceStudents, EachArchitectureLearnsASeparableToyTask) {
  // Label 1 when token 2 occurs: a few Adam steps must fit it.
  const auto x = torch::tensor({{2, 5, 6, 7}, {5, 6, 7, 8}, {9, 2, 0, 0}, {9, 8, 0, 0}}, torch::kLong);
  const auto m = torch::tensor({{1, 1, 1, 1}, {1, 1, 1, 1}, {1, 1, 0, 0}, {1, 1, 0, 0}}, torch::kLong);
  const auto y = torch::tensor({1, 0, 1, 0}, torch::kLong);
  for (auto arch : {SentenceArch::kBiLstm, SentenceArch::kCnn, SentenceArch::kBag}) {
    torch::manual_seed(5);
    auto c = small(arch);
    c.ngram_buckets = arch == SentenceArch::kBag ? 16 : 0;
    SentenceClassifier model(c);
    torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(0.05).weight_decay(0));
    double first = 0, last = 0;
    for (int step = 0; step < 60; ++step) {
      opt.zero_grad();
      const auto loss = torch::nn::functional::cross_entropy(model->forward(x, m).logits, y);
      loss.backward();
      EXPECT_TRUE(model->embeddings->weight.grad().is_sparse());
      kdtext::train::step_sparse_rows(opt);  // as the trainer does
      opt.step();
      (step == 0 ? first : last) = loss.item<double>();
    }
    EXPECT_LT(last, 0.1 * first) << "arch " << static_cast<int>(arch) << ": " << first << " -> " << last;
  }
}

TEST(SentenceStudents, ConfigurationRoundTripsThroughJsonAndErrorsNameTheKey) {
  auto c = small(SentenceArch::kCnn);
  c.widths = {2, 5};
  const kdtext::Json j = sentence_fields().to_json(c);
  EXPECT_EQ(j["arch"], "cnn");
  EXPECT_EQ(j["widths"], kdtext::Json::array({2, 5}));
  const auto back = sentence_fields().from_json(j);
  EXPECT_EQ(back.arch, SentenceArch::kCnn);
  EXPECT_EQ(back.widths, (std::vector<int64_t>{2, 5}));
  EXPECT_EQ(sentence_fields().to_json(back), j);
  const auto error = [&](const kdtext::Json& patch) {
    kdtext::Json k = j;
    k.update(patch);
    try {
      sentence_fields().from_json(kdtext::JsonFields(k, "student"));
    } catch (const kdtext::ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error({{"arch", "rnn"}}), "student.arch: expected bilstm, cnn or bag, got 'rnn'");
  EXPECT_EQ(error({{"layers", 3}}), "student.layers: must be in [1, 2], got 3");
  EXPECT_EQ(error({{"widths", kdtext::Json::array()}}), "student.widths: at least one window width for cnn");
}

TEST(SentenceStudents, TeacherEmbeddingsReducedByPcaMatchAnEigenDecompositionOfTheCovariance) {
  // Rows with most of their variance in 2 directions of 6.
  torch::manual_seed(7);
  const auto basis = torch::randn({2, 6}, torch::kDouble);
  const auto x = (torch::randn({40, 2}, torch::kDouble) * torch::tensor({5.0, 2.0}, torch::kDouble)).matmul(basis) +
                 0.05 * torch::randn({40, 6}, torch::kDouble) + 3.0;
  const auto got = reduce_embeddings(x.to(torch::kFloat), 2).to(torch::kDouble);
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{40, 2}));
  // Reference: eigenvectors of the covariance (another algorithm), largest first.
  const auto c = x - x.mean(0, true);
  const auto [values, vectors] = torch::linalg_eigh(c.t().matmul(c), "L");  // ascending
  for (int64_t k = 0; k < 2; ++k) {
    auto want = c.matmul(vectors.select(1, 5 - k));
    const auto largest = want.abs().argmax();
    if (want[largest].item<double>() < 0) want = -want;
    EXPECT_TRUE(torch::allclose(got.select(1, k), want, 1e-4, 1e-4)) << "component " << k;
    // The variance a component keeps is its eigenvalue.
    EXPECT_NEAR(got.select(1, k).pow(2).sum().item<double>(), values[5 - k].item<double>(),
                1e-4 * values[5 - k].item<double>());
  }
  EXPECT_THROW(reduce_embeddings(x, 7), std::invalid_argument);
  EXPECT_THROW(reduce_embeddings(x, 0), std::invalid_argument);
}
