#include <gtest/gtest.h>

#include "kdtext/cli/app.h"
#include "kdtext/model/config.h"
#include "kdtext/stages/preprocess.h"
#include "kdtext/train/trainer.h"
#include "kdtext/error.h"
#include "kdtext/util/json.h"
#include "test_util.h"

using namespace kdtext;
using kdtext::testing::TempDir;
using kdtext::testing::write_file;

namespace {
std::string config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

Json resolve(std::unique_ptr<cli::StageApp>& app, std::vector<std::string> args) {
  args.insert(args.begin(), "kdtext-test");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return app->resolve(static_cast<int>(argv.size()), argv.data());
}

std::unique_ptr<cli::StageApp> make_app() {
  Json defaults{{"output", ""}, {"count", 3}, {"rate", 0.5}, {"inputs", Json::array()},
                {"nested", {{"flag", false}, {"name", "x"}}}};
  std::vector<FlagSpec> flags{{"inputs", "inputs", "inputs"},
                              {"--output", "output", "output", /*required=*/true},
                              {"--count", "count", "count"},
                              {"--rate", "rate", "rate"},
                              {"--name", "nested.name", "name"},
                              {"--flag", "nested.flag", "flag", false, /*is_switch=*/true}};
  return std::make_unique<cli::StageApp>("test", "test app", "kdtext-test in --output out",
                                         ConfigSchema{defaults, flags});
}
}  // namespace

TEST(Config, MergeRejectsUnknownKeysByDottedName) {
  Json base{{"clean", {{"lowercase", false}}}};
  const std::string msg = config_error([&] { merge_config(base, Json{{"clean", {{"lowercas", true}}}}, "cfg.json"); });
  EXPECT_NE(msg.find("cfg.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'clean.lowercas'"), std::string::npos) << msg;
}

TEST(Config, MergeRejectsWrongTypes) {
  Json base{{"vocab_size", 8000}, {"ratio", 0.5}};
  EXPECT_NE(config_error([&] { merge_config(base, Json{{"vocab_size", "big"}}, "c"); }).find("vocab_size"),
            std::string::npos);
  EXPECT_FALSE(config_error([&] { merge_config(base, Json{{"vocab_size", 1.5}}, "c"); }).empty());
  merge_config(base, Json{{"ratio", 1}}, "c");  // an integer is a fine number
  EXPECT_EQ(base["ratio"], 1);
}

TEST(Config, JsonSyntaxErrorNamesFileLineAndColumn) {
  TempDir dir;
  write_file(dir / "bad.json", "{\n  \"a\": 1,\n  \"b\": ]\n}\n");
  try {
    read_json_file(dir / "bad.json");
    FAIL();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("bad.json:3:"), std::string::npos) << msg;
  }
}

TEST(Config, FlagsOverrideFileOverrideDefaults) {
  TempDir dir;
  write_file(dir / "c.json", R"({"count": 7, "rate": 0.25, "nested": {"name": "from-file", "flag": true}})");
  auto app = make_app();
  const Json c = resolve(app, {"a.txt", "b.txt", "--output", "o", "--config", (dir / "c.json").string(), "--count",
                               "9", "--no-flag"});
  EXPECT_EQ(c["count"], 9);                 // flag beats file
  EXPECT_EQ(c["rate"], 0.25);               // file beats default
  EXPECT_EQ(c["nested"]["name"], "from-file");
  EXPECT_EQ(c["nested"]["flag"], false);    // --no-flag beats file's true
  EXPECT_EQ(c["inputs"], (Json{"a.txt", "b.txt"}));
  EXPECT_EQ(c["run"]["device"], "auto");    // runtime defaults are always present
}

TEST(Config, BadFlagValuesNameTheFlag) {
  auto app = make_app();
  const std::string msg = config_error([&] { resolve(app, {"--output", "o", "--count", "many"}); });
  EXPECT_NE(msg.find("--count"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'many'"), std::string::npos) << msg;
  auto app2 = make_app();
  EXPECT_NE(config_error([&] { resolve(app2, {"--output", "o", "--rate", "1.5x"}); }).find("--rate"),
            std::string::npos);
}

TEST(Config, RequiredValuesMayComeFromTheFile) {
  auto app = make_app();
  EXPECT_NE(config_error([&] { resolve(app, {}); }).find("--output is required"), std::string::npos);
  TempDir dir;
  write_file(dir / "c.json", R"({"output": "from-file"})");
  auto app2 = make_app();
  EXPECT_EQ(resolve(app2, {"--config", (dir / "c.json").string()})["output"], "from-file");
}

TEST(Config, PreprocessValidationNamesKeys) {
  Json j = stages::to_json(stages::PreprocessConfig{});
  j["inputs"] = Json{"x"};
  j["output"] = "o";
  j["train"]["vocab_size"] = 3;
  EXPECT_NE(config_error([&] { stages::preprocess_config_from_json(j); }).find("train.vocab_size"),
            std::string::npos);
  j["train"]["vocab_size"] = 1000;
  j["train"]["model_type"] = "wordpiece";
  EXPECT_NE(config_error([&] { stages::preprocess_config_from_json(j); }).find("train.model_type"),
            std::string::npos);
  j["train"]["model_type"] = "bpe";
  j["doc_mode"] = "sentence";
  EXPECT_NE(config_error([&] { stages::preprocess_config_from_json(j); }).find("doc_mode"), std::string::npos);
  j["doc_mode"] = "paragraph";
  const auto c = stages::preprocess_config_from_json(j);
  EXPECT_EQ(c.train.model_type, "bpe");
  EXPECT_EQ(c.doc_mode, "paragraph");
  // to_json and from_json agree.
  EXPECT_EQ(stages::to_json(c), j);
}

TEST(Config, ScalarOptionsTakeOneValueAndPositionalsMayFollow) {
  auto app = make_app();
  const Json c = resolve(app, {"--count", "4", "a.txt", "--output", "o", "b.txt", "--count", "5"});
  EXPECT_EQ(c["count"], 5);  // repeated: the last wins
  EXPECT_EQ(c["inputs"], (Json{"a.txt", "b.txt"}));
  EXPECT_EQ(c["output"], "o");
}

// Issue 26: label2id and num_labels must agree with id2label.
TEST(Config, LabelMapsThatDisagreeAreRefusedNamingTheKey) {
  Json j{{"vocab_size", 100}, {"hidden_size", 16}, {"num_attention_heads", 2}, {"num_hidden_layers", 1},
         {"intermediate_size", 32}, {"id2label", {{"0", "neg"}, {"1", "pos"}}}};
  EXPECT_NO_THROW(model::bert_config_from_json(j, "c.json"));
  j["label2id"] = {{"neg", 0}, {"pos", 1}};
  j["num_labels"] = 2;
  EXPECT_NO_THROW(model::bert_config_from_json(j, "c.json"));
  Json swapped = j;
  swapped["label2id"] = {{"neg", 1}, {"pos", 0}};
  EXPECT_THROW(model::bert_config_from_json(swapped, "c.json"), ConfigError);
  Json count = j;
  count["num_labels"] = 3;
  try {
    model::bert_config_from_json(count, "c.json");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("c.json: num_labels 3", 0), 0u) << e.what();
  }
}

// Issue 26: non-finite numbers are refused at the flag, and trainer settings
// as they are read (before a run directory exists).
TEST(Config, NonFiniteNumbersAndBadTrainerSettingsAreRefusedEarly) {
  Json bad{{"lr", 0.0}};
  EXPECT_THROW(train::trainer_options_from_json(JsonFields(bad, "trainer")), ConfigError);
  Json accum{{"grad_accum", 0}};
  EXPECT_THROW(train::trainer_options_from_json(JsonFields(accum, "trainer")), ConfigError);
  Json steps{{"max_steps", -1}};
  try {
    train::trainer_options_from_json(JsonFields(steps, "trainer"));
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "trainer.max_steps: must be >= 0, got -1");
  }
  Json zero{{"max_steps", 0}};  // "from the epochs": resolved later
  EXPECT_NO_THROW(train::trainer_options_from_json(JsonFields(zero, "trainer")));
}
