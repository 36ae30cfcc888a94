// kdtext-finetune and kdtext-classify as a user runs them, on the task in data/.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "kdtext/util/json.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::testing;
namespace fs = std::filesystem;

namespace {

// preprocess + a short pretrain + finetune, built once for all tests of this file.
struct Pipeline {
  fs::path root, prep, mlm, ft;
  std::string finetune_output;
  Pipeline() {
    root = shared_fixture("finetune-pipeline", [](const fs::path& dir) {
      const auto data = source_dir() / "data";
      auto r = run_command(bin("kdtext-preprocess") + " " + quote((data / "corpus").string()) + " -o " +
                           quote((dir / "prep").string()) + " --vocab-size 400 --quiet");
      if (r.exit_code != 0) throw std::runtime_error(r.output);
      r = run_command(bin("kdtext-pretrain") + " " + quote((dir / "prep").string()) + " -o " +
                      quote((dir / "mlm").string()) +
                      " --model bert-tiny --max-len 64 --batch-size 16 --max-steps 400 --lr 2e-3 --threads 1 --quiet");
      if (r.exit_code != 0) throw std::runtime_error(r.output);
      r = run_command(bin("kdtext-finetune") + " --from " + quote((dir / "mlm" / "final").string()) + " --train " +
                      quote((data / "task" / "train.tsv").string()) + " --dev " +
                      quote((data / "task" / "dev.tsv").string()) + " --test " +
                      quote((data / "task" / "test.tsv").string()) + " -o " + quote((dir / "ft").string()) +
                      " --epochs 5 --batch-size 16 --lr 1e-3 --max-len 48 --threads 1");
      write_file(dir / "finetune.log", r.output);
      if (r.exit_code != 0) throw std::runtime_error(r.output);
    });
    prep = root / "prep";
    mlm = root / "mlm";
    ft = root / "ft";
    finetune_output = read_file(root / "finetune.log");
  }
};

Pipeline& pipeline() {
  static Pipeline p;
  return p;
}

std::string classify(const std::string& args) { return bin("kdtext-classify") + " " + args; }

}  // namespace

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

TEST(DistillCli, BuildStudentThenDistillKeepsTheTeachersAccuracy) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  auto r = run_command(bin("kdtext-build-student") + " --teacher " + quote((p.ft / "best").string()) +
                       " --layers 1 --hidden 64 --heads 2 --intermediate 256 --init teacher-layers "
                       "--layer-selection last -o " + quote((dir / "init").string()) + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json meta = read_json_file(dir / "init" / "kdtext.json");
  EXPECT_EQ(meta["stage"], "build-student");
  EXPECT_EQ(meta["provenance"]["layer_map"], (Json{2}));
  r = run_command(bin("kdtext-distill") + " --config " + quote((source_dir() / "configs" / "distill" / "distilbert.json").string()) +
                  " --teacher " + quote((p.ft / "best").string()) + " --student " + quote((dir / "init").string()) +
                  " --train " + quote((data / "train.tsv").string()) + " --dev " + quote((data / "dev.tsv").string()) +
                  " -o " + quote((dir / "student").string()) +
                  " --epochs 4 --batch-size 16 --lr 1e-3 --max-len 48 --threads 1 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const double teacher = read_json_file(p.ft / "metrics.json")["dev"]["accuracy"].get<double>();
  const Json m = read_json_file(dir / "student" / "metrics.json");
  EXPECT_GE(m["dev"]["accuracy"].get<double>(), teacher - 0.05) << m.dump(2);
  // Per-term losses are logged separately.
  const std::string log = read_file(dir / "student" / "metrics.jsonl");
  for (const char* term : {"loss_output", "loss_hard", "loss_hidden"}) EXPECT_NE(log.find(term), std::string::npos) << term;
  // The student is a plain classification checkpoint that classify runs.
  r = run_command(bin("kdtext-classify") + " -m " + quote((dir / "student" / "best").string()) + " " +
                  quote((data / "test.tsv").string()) + " --eval -o " + quote((dir / "pred.tsv").string()) + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GE(read_json_file(dir / "pred.tsv.metrics.json")["accuracy"].get<double>(), teacher - 0.1);
  // Validation: a layer that does not exist.
  r = run_command(bin("kdtext-build-student") + " --teacher " + quote((p.ft / "best").string()) +
                  " --layers 2 --hidden 64 --heads 2 --intermediate 256 --init teacher-layers --layer-selection list "
                  "--layer-list 1 --layer-list 7 -o " + quote((dir / "bad").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("teacher layer 7, which does not exist"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "bad"));
}

TEST(DistillCli, AStepChangesTheStudentButNotTheTeacher) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  auto r = run_command(bin("kdtext-build-student") + " --teacher " + quote((p.ft / "best").string()) +
                       " --layers 1 --hidden 32 --heads 2 --intermediate 64 -o " + quote((dir / "init").string()) +
                       " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string teacher_before = read_file(p.ft / "best" / "model.safetensors");
  r = run_command(bin("kdtext-distill") + " --teacher " + quote((p.ft / "best").string()) + " --student " +
                  quote((dir / "init").string()) + " --train " + quote((data / "train.tsv").string()) + " --dev " +
                  quote((data / "dev.tsv").string()) + " -o " + quote((dir / "s").string()) +
                  " --max-steps 1 --hidden-weight 1 --attention-weight 1 --threads 1 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(p.ft / "best" / "model.safetensors"), teacher_before);
  EXPECT_NE(read_file(dir / "s" / "final" / "model.safetensors"), read_file(dir / "init" / "model.safetensors"));
  // Widths differ (32 vs 64): projections were trained, and are kept out of the student checkpoint.
  EXPECT_TRUE(fs::exists(dir / "s" / "final" / "distill_projections.safetensors"));
  const std::string log = read_file(dir / "s" / "metrics.jsonl");
  EXPECT_NE(log.find("loss_attention"), std::string::npos);
}
