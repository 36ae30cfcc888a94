// The C++ API (kdtext/classifier.h): the labels and probabilities of
// kdtext-classify, logits on request, pairs, model facts, typed errors, and
// one instance shared by threads.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

#include "kdtext/classifier.h"
#include "kdtext/error.h"
#include "kdtext/util/json.h"
#include "pipeline_fixture.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::testing;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> dev_texts() {
  std::ifstream in(source_dir() / "data" / "task" / "dev.tsv");
  std::string line;
  std::getline(in, line);  // header
  std::vector<std::string> texts;
  while (std::getline(in, line)) texts.push_back(line.substr(line.find('\t') + 1));
  return texts;
}

std::string model_dir() { return (pipeline().ft / "best").string(); }

}  // namespace

TEST(ClassifierApi, GivesKdtextClassifysLabelsAndProbabilities) {
  const auto texts = dev_texts();
  ASSERT_GT(texts.size(), 50u);
  TempDir dir;
  std::string lines;
  for (const auto& t : texts) lines += t + "\n";
  write_file(dir / "texts.txt", lines);
  const auto r = run_command(bin("kdtext-classify") + " -m " + quote(model_dir()) + " --format lines " +
                             quote((dir / "texts.txt").string()) + " --threads 1 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream cli(r.output);
  std::string row;
  std::getline(cli, row);
  EXPECT_EQ(row, "label\tprobability");

  ClassifierOptions o;
  o.threads = 1;
  const Classifier model(model_dir(), o);
  const auto predictions = model.classify(texts);
  ASSERT_EQ(predictions.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_TRUE(std::getline(cli, row)) << "row " << i;
    const std::string label = row.substr(0, row.find('\t'));
    const double probability = std::stod(row.substr(row.find('\t') + 1));
    EXPECT_EQ(predictions[i].label, label) << texts[i];
    EXPECT_NEAR(predictions[i].probability, probability, 1e-6) << texts[i];  // the CLI prints 6 decimals
    EXPECT_EQ(model.labels()[static_cast<size_t>(predictions[i].label_id)], predictions[i].label);
  }
}

TEST(ClassifierApi, LogitsPairsAndFacts) {
  const Classifier model(model_dir());
  const auto config = read_json_file(pipeline().ft / "best" / "config.json");
  const auto& f = model.facts();
  EXPECT_EQ(f.layers, config["num_hidden_layers"].get<int64_t>());
  EXPECT_EQ(f.hidden_size, config["hidden_size"].get<int64_t>());
  EXPECT_EQ(f.max_len, config["max_position_embeddings"].get<int64_t>());
  EXPECT_EQ(f.precision, "fp32");
  EXPECT_EQ(f.device, "cpu");
  EXPECT_GT(f.parameters, 0);
  ASSERT_EQ(model.labels().size(), 3u);

  const auto p = model.classify({"The striker scored twice in the final.", ""}, /*with_logits=*/true);
  ASSERT_EQ(p.size(), 2u);
  for (const auto& x : p) {  // probabilities are the softmax of the logits; the label is their argmax
    ASSERT_EQ(x.logits.size(), 3u);
    double z = 0;
    for (float l : x.logits) z += std::exp(static_cast<double>(l));
    for (size_t k = 0; k < 3; ++k) EXPECT_NEAR(x.probabilities[k], std::exp(double(x.logits[k])) / z, 1e-6);
    EXPECT_EQ(x.probability, x.probabilities[static_cast<size_t>(x.label_id)]);
    for (float q : x.probabilities) EXPECT_LE(q, x.probability);
  }
  EXPECT_TRUE(model.classify({"x"}).front().logits.empty());  // only on request
  // Pairs run (this model was trained on single texts; the second segment just changes the input).
  const auto pairs = model.classify_pairs({{"The chef roasted it.", "In the oven."}});
  ASSERT_EQ(pairs.size(), 1u);
  EXPECT_NEAR(pairs[0].probabilities[0] + pairs[0].probabilities[1] + pairs[0].probabilities[2], 1.0, 1e-5);
  EXPECT_TRUE(model.classify({}).empty());
}

// One instance, four threads classifying at once: each gets exactly what a
// single thread gets.
TEST(ClassifierApi, OneInstanceSharedByThreads) {
  ClassifierOptions o;
  o.threads = 1;
  o.adaptive_threads = true;  // its updates are shared too
  const Classifier model(model_dir(), o);
  const auto texts = dev_texts();
  const auto expected = model.classify(texts);
  std::vector<std::vector<Prediction>> got(4);
  std::vector<std::thread> pool;
  for (size_t t = 0; t < got.size(); ++t) {
    pool.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) got[t] = model.classify(texts);
    });
  }
  for (auto& th : pool) th.join();
  for (const auto& g : got) {
    ASSERT_EQ(g.size(), expected.size());
    for (size_t i = 0; i < g.size(); ++i) {
      EXPECT_EQ(g[i].label_id, expected[i].label_id);
      EXPECT_EQ(g[i].probabilities, expected[i].probabilities);
    }
  }
}

TEST(ClassifierApi, ErrorsAreTypedAndNameTheCulprit) {
  const auto message = [](auto&& f) -> std::string {
    try {
      f();
    } catch (const std::exception& e) {
      return e.what();
    }
    return "no error";
  };
  TempDir dir;
  EXPECT_THROW(Classifier((dir / "nowhere").string()), InputError);
  EXPECT_NE(message([&] { Classifier c((dir / "nowhere").string()); }).find("nowhere"), std::string::npos);
  // A checkpoint without a classification head (the pretrained one).
  EXPECT_THROW(Classifier((pipeline().mlm / "final").string()), InputError);
  ClassifierOptions bad;
  bad.precision = "fp64";
  EXPECT_THROW(Classifier(model_dir(), bad), ConfigError);
  EXPECT_NE(message([&] { Classifier c(model_dir(), bad); }).find("ClassifierOptions.precision"), std::string::npos);
  bad = ClassifierOptions{};
  bad.batch_size = 0;
  EXPECT_THROW(Classifier(model_dir(), bad), ConfigError);
  bad = ClassifierOptions{};
  bad.max_len = 100000;
  EXPECT_NE(message([&] { Classifier c(model_dir(), bad); }).find("ClassifierOptions.max_len"), std::string::npos);
  bad = ClassifierOptions{};
  bad.device = "tpu";
  EXPECT_THROW(Classifier(model_dir(), bad), ConfigError);
}
