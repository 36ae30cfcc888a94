#include <gtest/gtest.h>

#include "kdtext/io/checkpoint.h"
#include "kdtext/io/sentence_checkpoint.h"
#include "kdtext/error.h"
#include "test_util.h"

using namespace kdtext;
using kdtext::testing::TempDir;
using kdtext::testing::write_file;

namespace {
std::unique_ptr<text::Tokenizer> tiny_tokenizer() {
  std::vector<std::string> sample;
  for (int i = 0; i < 200; ++i) sample.push_back("alpha beta gamma delta epsilon " + std::to_string(i % 10));
  text::SentencePieceTrainOptions o;
  o.vocab_size = 30;
  o.character_coverage = 1.0;
  return text::SentencePieceTokenizer::train(sample, o, {}, 1, 1);
}

model::BertConfig config_for(const text::Tokenizer& tok) {
  model::BertConfig c;
  c.vocab_size = tok.vocab_size();
  c.hidden_size = 16;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = 32;
  c.max_position_embeddings = 16;
  return c;
}

std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Checkpoint, RoundTripRebuildsTheModelFromTheDirectoryAlone) {
  TempDir dir;
  auto tok = tiny_tokenizer();
  auto cfg = config_for(*tok);
  cfg.labels = {"neg", "pos"};
  model::Bert m(cfg, model::Heads::kClassifier);
  io::save_checkpoint(dir / "ck", *m, *tok, {"finetune", Json{{"note", "test"}}});

  auto ck = io::read_checkpoint(dir / "ck");
  EXPECT_EQ(ck.heads, model::Heads::kClassifier);
  EXPECT_EQ(ck.config.labels, cfg.labels);
  EXPECT_EQ(ck.meta["stage"], "finetune");
  EXPECT_EQ(ck.meta["provenance"]["note"], "test");
  EXPECT_EQ(ck.tokenizer->fingerprint(), tok->fingerprint());
  model::Bert copy(ck.config, ck.heads);
  io::load_weights(*copy, ck.weights, "ck");
  for (const auto& [name, t] : m->named_state()) {
    bool found = false;
    for (const auto& [n2, t2] : copy->named_state()) {
      if (n2 == name) {
        EXPECT_TRUE(torch::equal(t, t2)) << name;
        found = true;
      }
    }
    EXPECT_TRUE(found) << name;
  }
}

TEST(Checkpoint, MismatchedKeysAndShapesNameTheKey) {
  TempDir dir;
  auto tok = tiny_tokenizer();
  auto cfg = config_for(*tok);
  model::Bert m(cfg, model::Heads::kMaskedLM);
  io::save_checkpoint(dir / "ck", *m, *tok, {"pretrain", {}});
  auto ck = io::read_checkpoint(dir / "ck");

  // Wider model: shape mismatch names the key.
  auto wide = cfg;
  wide.intermediate_size = 48;
  model::Bert other(wide, model::Heads::kMaskedLM);
  std::string msg = input_error([&] { io::load_weights(*other, ck.weights, "ck"); });
  EXPECT_NE(msg.find("intermediate.dense.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[48, 16]"), std::string::npos) << msg;

  // A missing key.
  auto weights = ck.weights;
  weights.erase("bert.pooler.dense.bias");
  model::Bert same(cfg, model::Heads::kMaskedLM);
  msg = input_error([&] { io::load_weights(*same, weights, "ck"); });
  EXPECT_NE(msg.find("missing weight 'bert.pooler.dense.bias'"), std::string::npos) << msg;

  // Loading an MLM checkpoint into a classifier: cls.* unexpected unless allowed, classifier.* missing unless allowed.
  auto labelled = cfg;
  labelled.labels = {"a", "b"};
  model::Bert clf(labelled, model::Heads::kClassifier);
  msg = input_error([&] { io::load_weights(*clf, ck.weights, "ck", {{"classifier."}, {}}); });
  EXPECT_NE(msg.find("unexpected weight 'cls.predictions"), std::string::npos) << msg;
  EXPECT_NO_THROW(io::load_weights(*clf, ck.weights, "ck", {{"classifier."}, {"cls."}}));
}

TEST(Checkpoint, RefusesNewerFormatsAndInconsistentDirectories) {
  TempDir dir;
  auto tok = tiny_tokenizer();
  model::Bert m(config_for(*tok), model::Heads::kMaskedLM);
  io::save_checkpoint(dir / "ck", *m, *tok, {"pretrain", {}});

  Json meta = read_json_file(dir / "ck" / "kdtext.json");
  meta["format_version"] = 7;
  write_file(dir / "ck" / "kdtext.json", meta.dump());
  std::string msg = input_error([&] { io::read_checkpoint(dir / "ck"); });
  EXPECT_NE(msg.find("newer kdtext"), std::string::npos) << msg;
  meta["format_version"] = 1;
  write_file(dir / "ck" / "kdtext.json", meta.dump());

  Json config = read_json_file(dir / "ck" / "config.json");
  config["vocab_size"] = 999;
  write_file(dir / "ck" / "config.json", config.dump());
  msg = input_error([&] { io::read_checkpoint(dir / "ck"); });
  EXPECT_NE(msg.find("vocab_size 999 does not match"), std::string::npos) << msg;

  msg = input_error([&] { io::read_checkpoint(dir / "nope"); });
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

TEST(Checkpoint, SentenceStudentsRoundTripAndAreToldApartFromBert) {
  TempDir dir;
  auto tok = tiny_tokenizer();
  for (auto arch : {model::SentenceArch::kBiLstm, model::SentenceArch::kCnn, model::SentenceArch::kBag}) {
    model::SentenceConfig c;
    c.arch = arch;
    c.vocab_size = tok->vocab_size();
    c.embedding = 8;
    c.hidden = 4;
    c.layers = 2;
    c.ngram_buckets = arch == model::SentenceArch::kBag ? 32 : 0;
    c.num_labels = 3;
    model::SentenceClassifier m(c);
    const auto out = dir / choice_name(arch, model::kSentenceArchs);
    io::save_sentence_checkpoint(out, *m, {"a", "b", "c"}, *tok, {"build-student", Json::object()});
    const auto ck = io::read_sentence_checkpoint(out);
    EXPECT_EQ(ck.labels, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_EQ(model::sentence_fields().to_json(ck.config), model::sentence_fields().to_json(c));
    EXPECT_EQ(io::checkpoint_architecture(ck.meta), choice_name(arch, model::kSentenceArchs));
    auto copy = io::load_sentence_classifier(ck);
    m->eval();
    copy->eval();
    const auto ids = torch::tensor({{2, 3, 4, 5}}, torch::kLong), mask = torch::ones({1, 4}, torch::kLong);
    EXPECT_TRUE(torch::equal(m->forward(ids, mask).logits, copy->forward(ids, mask).logits));
    // A BERT reader refuses it by name, and the reverse.
    EXPECT_NE(input_error([&] { io::read_checkpoint(out); }).find("student"), std::string::npos);
  }
  auto cfg = config_for(*tok);
  cfg.labels = {"neg", "pos"};
  model::Bert bert(cfg, model::Heads::kClassifier);
  io::save_checkpoint(dir / "bert", *bert, *tok, {"finetune", Json::object()});
  EXPECT_NE(input_error([&] { io::read_sentence_checkpoint(dir / "bert"); }).find("a BERT checkpoint"),
            std::string::npos);
  // A config.json edited to another architecture than kdtext.json records.
  const auto bag = dir / "bag" / "config.json";
  Json j = read_json_file(bag);
  j["kdtext_architecture"] = "cnn";
  write_file(bag, j.dump());
  EXPECT_NE(input_error([&] { io::read_sentence_checkpoint(dir / "bag"); }).find("kdtext_architecture"),
            std::string::npos);
}
