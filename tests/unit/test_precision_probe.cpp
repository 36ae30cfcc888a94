// Measuring precisions at load (infer/precision_probe.h): the precisions
// offered are exactly those the engines build, the probe rows are ordinary
// tokens of the asked lengths, and resolve_precision measures once, caches,
// and builds what it chose. Timings here are real but never asserted on.
#include <gtest/gtest.h>
#include <stdlib.h>

#include "kdtext/error.h"
#include "kdtext/infer/precision_probe.h"
#include "kdtext/infer/sentence_engine.h"
#include "kdtext/model/bert.h"
#include "kdtext/model/sentence.h"
#include "kdtext/text/wordpiece.h"
#include "kdtext/util/paths.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::infer;

namespace precision_probe_test {

std::vector<std::string> vocab() {
  std::vector<std::string> v = {"[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int i = 0; v.size() < 40; ++i) v.push_back("w" + std::to_string(i));
  return v;
}

model::Bert bert() {
  model::BertConfig c;
  c.vocab_size = 40;
  c.hidden_size = 16;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.intermediate_size = 24;
  c.max_position_embeddings = 32;
  c.labels = {"a", "b"};
  torch::manual_seed(3);
  model::Bert m(c, model::Heads::kClassifier);
  m->eval();
  return m;
}

EngineFactory bert_factory(const model::Bert& m) {
  return [&m](Precision p) { return std::make_shared<const Engine>(*m, p, torch::kCPU); };
}

bool builds(const std::function<void()>& f) {
  try {
    f();
    return true;
  } catch (const ConfigError&) {
    return false;
  }
}

TEST(PrecisionProbe, OffersExactlyWhatTheEnginesBuild) {
  const auto m = bert();
  const std::vector<Precision> all = {Precision::kFloat32, Precision::kBFloat16, Precision::kInt8};
  const auto offered = [](const std::string& arch, Precision p) {
    const auto o = offered_precisions(arch, torch::kCPU);
    return std::find(o.begin(), o.end(), p) != o.end();
  };
  for (const auto p : all) {
    EXPECT_EQ(builds([&] { Engine e(*m, p, torch::kCPU); }), offered("bert", p)) << precision_name(p);
  }
  for (const auto arch : {model::SentenceArch::kBiLstm, model::SentenceArch::kCnn, model::SentenceArch::kBag}) {
    model::SentenceConfig c;
    c.arch = arch;
    c.vocab_size = 40;
    c.embedding = 6;
    c.hidden = 5;
    c.widths = {2};
    c.num_labels = 2;
    c.ngram_buckets = arch == model::SentenceArch::kBag ? 7 : 0;
    torch::manual_seed(1);
    model::SentenceClassifier module(c);
    io::TensorMap w;
    for (const auto& p : module->named_parameters()) w[p.key()] = p.value().detach().clone();
    const auto name = choice_name(arch, model::kSentenceArchs);
    for (const auto p : all) {
      EXPECT_EQ(builds([&] { SentenceEngine e(c, w, p, torch::kCPU, "test"); }), offered(name, p))
          << name << " " << precision_name(p);
    }
  }
  // Off the CPU: no int8 anywhere; auto is never an engine's precision.
  for (const std::string arch : {"bert", "bilstm", "cnn", "bag"}) {
    const auto o = offered_precisions(arch, torch::Device(torch::kCUDA, 0));
    EXPECT_EQ(std::count(o.begin(), o.end(), Precision::kInt8), 0) << arch;
    EXPECT_EQ(o.front(), Precision::kFloat32);
  }
  EXPECT_THROW(Engine(*m, Precision::kAuto, torch::kCPU), ConfigError);
}

TEST(PrecisionProbe, RowsAreOrdinaryTokensOfTheAskedLengths) {
  text::WordPieceTokenizer tok(vocab(), {}, "test");
  const auto rows = probe_rows(tok, 50, 8, 12, 1);
  ASSERT_EQ(rows.size(), 50u);
  std::set<size_t> lengths;
  for (const auto& r : rows) {
    lengths.insert(r.ids.size());
    ASSERT_GE(r.ids.size(), 8u);
    ASSERT_LE(r.ids.size(), 12u);
    EXPECT_EQ(r.ids.front(), 3);  // [CLS]
    EXPECT_EQ(r.ids.back(), 4);   // [SEP]
    for (size_t i = 1; i + 1 < r.ids.size(); ++i) EXPECT_GE(r.ids[i], 6) << "a special or placeholder token inside";
    EXPECT_EQ(r.segments, std::vector<int64_t>(r.ids.size(), 0));
  }
  EXPECT_GT(lengths.size(), 1u);  // lengths vary
  EXPECT_EQ(probe_rows(tok, 50, 8, 12, 1)[7].ids, rows[7].ids);  // reproducible
  EXPECT_NE(probe_rows(tok, 50, 8, 12, 2)[7].ids, rows[7].ids);
  for (const auto& r : probe_rows(tok, 3, 20, 20, 1)) EXPECT_EQ(r.ids.size(), 20u);
}

TEST(PrecisionProbe, MeasuresEveryCandidateAgainstFp32) {
  const auto m = bert();
  text::WordPieceTokenizer tok(vocab(), {}, "test");
  const auto cand = offered_precisions("bert", torch::kCPU);
  const auto r = measure_precisions(bert_factory(m), cand, tok, {4, 16});
  ASSERT_EQ(r.figures.size(), cand.size());
  EXPECT_EQ(r.timed_batches, kTimedRowsPerRound / 4);
  for (size_t i = 0; i < cand.size(); ++i) {
    EXPECT_EQ(r.figures[i].precision, cand[i]);
    EXPECT_GT(r.figures[i].seconds, 0);
    EXPECT_GE(r.figures[i].agreement, 0);
    EXPECT_LE(r.figures[i].agreement, 1);
    EXPECT_EQ(r.engines.at(cand[i])->precision(), cand[i]);
  }
  EXPECT_EQ(r.figures[0].agreement, 1.0);  // fp32 against itself
  // With the run's own text, labels are compared on it: 3 rows, so agreement is a multiple of 1/3.
  const auto sample = probe_rows(tok, 3, 5, 9, 4);
  const auto s = measure_precisions(bert_factory(m), cand, tok, {4, 16, &sample});
  EXPECT_EQ(s.timed_batches, 1);  // timed on the sample's own rows: 3 of them, one batch of 4
  for (const auto& f : s.figures) {
    const double thirds = f.agreement * 3;
    EXPECT_NEAR(thirds, std::round(thirds), 1e-9) << precision_name(f.precision) << " " << f.agreement;
  }
  EXPECT_THROW(measure_precisions(bert_factory(m), {Precision::kInt8}, tok, {4, 16}), ConfigError);
}

TEST(PrecisionProbe, ResolvesOnceThenReadsTheCache) {
  kdtext::testing::TempDir tmp;
  const char* old = std::getenv("KDTEXT_CACHE");
  const std::string saved = old ? old : "";
  ::setenv("KDTEXT_CACHE", (tmp / "cache").c_str(), 1);
  kdtext::testing::write_file(tmp / "ckpt" / "config.json", "{}");
  kdtext::testing::write_file(tmp / "ckpt" / "kdtext.json", R"({"created": "now"})");
  const auto m = bert();
  text::WordPieceTokenizer tok(vocab(), {}, "test");
  int built = 0;
  const EngineFactory counting = [&](Precision p) {
    ++built;
    return bert_factory(m)(p);
  };
  const auto first = resolve_precision(Precision::kAuto, counting, "bert", torch::kCPU, tok, tmp / "ckpt", {8, 16});
  EXPECT_FALSE(first.from_cache);
  EXPECT_EQ(first.measured.size(), 3u);
  EXPECT_EQ(first.engine->precision(), first.precision);
  EXPECT_NE(first.precision, Precision::kAuto);
  EXPECT_FALSE(first.reason.empty());
  EXPECT_EQ(built, 3);  // the chosen engine is the measured one, not built again
  ASSERT_TRUE(std::filesystem::exists(tmp / "cache" / "precision"));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(tmp / "cache" / "precision"), {}), 1);

  const auto second = resolve_precision(Precision::kAuto, counting, "bert", torch::kCPU, tok, tmp / "ckpt", {8, 16});
  EXPECT_TRUE(second.from_cache);
  EXPECT_EQ(second.precision, first.precision);
  EXPECT_EQ(built, 4);  // only the chosen one
  // Another batch size is another measurement.
  EXPECT_FALSE(resolve_precision(Precision::kAuto, counting, "bert", torch::kCPU, tok, tmp / "ckpt", {1, 16}).from_cache);
  // fp32 is built as asked, unmeasured; an explicit int8 is built as asked and measured (here: cached).
  const auto fp32 = resolve_precision(Precision::kFloat32, counting, "bert", torch::kCPU, tok, tmp / "ckpt", {8, 16});
  EXPECT_TRUE(fp32.measured.empty());
  EXPECT_EQ(fp32.engine->precision(), Precision::kFloat32);
  const auto int8 = resolve_precision(Precision::kInt8, counting, "bert", torch::kCPU, tok, tmp / "ckpt", {8, 16});
  EXPECT_EQ(int8.precision, Precision::kInt8);
  EXPECT_EQ(int8.engine->precision(), Precision::kInt8);
  EXPECT_TRUE(int8.from_cache);
  EXPECT_EQ(int8.measured.size(), 3u);
  if (old) ::setenv("KDTEXT_CACHE", saved.c_str(), 1); else ::unsetenv("KDTEXT_CACHE");
}

}  // namespace precision_probe_test
