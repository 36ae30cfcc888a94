// kdtext-finetune and kdtext-classify as a user runs them, on the task in data/.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "kdtext/util/json.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::testing;
namespace fs = std::filesystem;

#include "e2e/pipeline_fixture.h"


TEST(FinetuneCli, ReachesHighAccuracyOnTheDataTask) {
  auto& p = pipeline();
  const Json m = read_json_file(p.ft / "metrics.json");
  EXPECT_GE(m["dev"]["accuracy"].get<double>(), 0.9) << m.dump(2);
  EXPECT_GE(m["test"]["accuracy"].get<double>(), 0.9) << m.dump(2);
  EXPECT_EQ(m["dev"]["labels"], (Json{"computing", "cooking", "sports"}));
  EXPECT_TRUE(fs::exists(p.ft / "best" / "kdtext.json"));
  EXPECT_EQ(read_json_file(p.ft / "best" / "kdtext.json")["labels"], m["dev"]["labels"]);
  EXPECT_NE(p.finetune_output.find("confusion matrix"), std::string::npos);
}

TEST(ClassifyCli, OutputKeepsInputOrderUnderLengthSorting) {
  auto& p = pipeline();
  TempDir dir;
  // Lines of very different lengths, classified in one sorted batch run and one at a time.
  std::string text;
  const char* lines[] = {"The chef baked bread.",
                         "The programmer debugged the source code after the latest software update on a machine "
                         "with sixteen cores while the users were asleep.",
                         "Goal!",
                         "The swimmer won the final of the relay race with a record time."};
  for (const char* l : lines) text += std::string(l) + "\n";
  write_file(dir / "in.txt", text);
  auto batched = run_command(classify("-m " + quote((p.ft / "best").string()) + " " + quote((dir / "in.txt").string()) +
                                      " --format lines --batch-size 8 --all-probs --quiet"));
  ASSERT_EQ(batched.exit_code, 0) << batched.output;
  std::istringstream rows(batched.output);
  std::string header, row;
  std::getline(rows, header);
  EXPECT_EQ(header.rfind("label\tprobability", 0), 0u) << header;
  int i = 0;
  while (std::getline(rows, row)) {
    write_file(dir / "one.txt", std::string(lines[i]) + "\n");
    auto single = run_command(classify("-m " + quote((p.ft / "best").string()) + " " +
                                       quote((dir / "one.txt").string()) + " --format lines --all-probs --quiet"));
    ASSERT_EQ(single.exit_code, 0) << single.output;
    const std::string expected = single.output.substr(single.output.find('\n') + 1);
    // Same label; probabilities agree to the printed precision (padding does not change results).
    EXPECT_EQ(row.substr(0, row.find('\t')), expected.substr(0, expected.find('\t'))) << lines[i];
    ++i;
  }
  EXPECT_EQ(i, 4);
}

TEST(ClassifyCli, EvalStdinJsonlAndTopK) {
  auto& p = pipeline();
  TempDir dir;
  const auto test = source_dir() / "data" / "task" / "test.tsv";
  auto r = run_command(classify("-m " + quote((p.ft / "best").string()) + " " + quote(test.string()) + " --eval -o " +
                                quote((dir / "pred.tsv").string()) + " --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json m = read_json_file(dir / "pred.tsv.metrics.json");
  EXPECT_EQ(m["examples"], 150);
  EXPECT_GE(m["accuracy"].get<double>(), 0.9);
  EXPECT_EQ(m["confusion_matrix"].size(), 3u);
  r = run_command("printf 'The chef baked bread.\\n' | " +
                  classify("-m " + quote((p.ft / "best").string()) + " --output-format jsonl --top-k 2 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json j = Json::parse(r.output);
  EXPECT_EQ(j["label"], "cooking");
  EXPECT_EQ(j["top_k"].size(), 2u);
  EXPECT_GE(j["top_k"][0]["probability"].get<double>(), j["top_k"][1]["probability"].get<double>());
}

TEST(ClassifyCli, BadInputsGiveClearErrors) {
  auto& p = pipeline();
  TempDir dir;
  // A checkpoint without a classification head.
  auto r = run_command(classify("-m " + quote((p.mlm / "final").string()) + " " +
                                quote((source_dir() / "data" / "task" / "dev.tsv").string())));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no classification head"), std::string::npos) << r.output;
  // An unknown gold label names file and line.
  write_file(dir / "dev.tsv", "label\ttext\nsports\tGoal!\nweather\tIt rained.\n");
  r = run_command(classify("-m " + quote((p.ft / "best").string()) + " " + quote((dir / "dev.tsv").string()) +
                           " --eval -o " + quote((dir / "o.tsv").string())));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("dev.tsv:3: unknown label 'weather'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "o.tsv"));
  // A malformed line in fine-tuning data.
  write_file(dir / "train.tsv", "label\ttext\nsports\tGoal!\nno tab here\ncooking\tSoup.\n");
  r = run_command(bin("kdtext-finetune") + " --from " + quote((p.mlm / "final").string()) + " --train " +
                  quote((dir / "train.tsv").string()) + " --dev " + quote((dir / "train.tsv").string()) + " -o " +
                  quote((dir / "ft").string()));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("train.tsv:3: expected 2 fields, found 1"), std::string::npos) << r.output;
}

// A batch job split with --stop-at-step before the first evaluation: the stop succeeds and
// leaves a resumable checkpoint but no metrics.json (which marks a finished run), no best/ and
// no final/; --resume finishes it exactly like a straight run. Fine-tuning and task distillation.
TEST(FinetuneCli, StopBeforeTheFirstEvaluationThenResume) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  const std::string files = " --train " + quote((data / "train.tsv").string()) + " --dev " +
                            quote((data / "dev.tsv").string()) + " --max-steps 6 --batch-size 16 --max-len 48" +
                            " --threads 1 --quiet";
  const std::string finetune = bin("kdtext-finetune") + " --from " + quote((p.mlm / "final").string()) + files;
  const std::string distill = bin("kdtext-distill") + " --teacher " + quote((p.ft / "best").string()) +
                              " --student " + quote((p.ft / "best").string()) + files;
  for (const auto& [name, cmd] : {std::pair<std::string, std::string>{"ft", finetune}, {"kd", distill}}) {
    auto r = run_command(cmd + " -o " + quote((dir / (name + "-straight")).string()));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const fs::path split = dir / (name + "-split");
    r = run_command(cmd + " -o " + quote(split.string()) + " --stop-at-step 3");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_FALSE(fs::exists(split / "metrics.json")) << name;
    EXPECT_FALSE(fs::exists(split / "best")) << name;
    EXPECT_FALSE(fs::exists(split / "final")) << name;
    EXPECT_TRUE(fs::exists(split / "checkpoints" / "step-00000003")) << name;
    r = run_command(cmd + " -o " + quote(split.string()) + " --resume");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_TRUE(fs::exists(split / "metrics.json")) << name;
    EXPECT_EQ(read_file(split / "final" / "model.safetensors"),
              read_file(dir / (name + "-straight") / "final" / "model.safetensors"))
        << name;
  }
}
