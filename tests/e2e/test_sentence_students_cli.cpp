// The non-transformer students (issue 28) as a user runs them: built from the
// pipeline's fine-tuned teacher with kdtext-build-student --arch, distilled
// with kdtext-distill (output, hard-label and sentence terms), run by
// kdtext-classify; and the combinations that cannot work, refused by name.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "e2e/pipeline_fixture.h"
#include "kdtext/classifier.h"
#include "kdtext/util/json.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::testing;
namespace fs = std::filesystem;

namespace sentence_cli_test {
CommandResult build(const std::string& arch, const fs::path& out, const std::string& extra = "") {
  return run_command(bin("kdtext-build-student") + " --teacher " + quote((pipeline().ft / "best").string()) +
                     " --arch " + arch + " --embedding 32 --sentence-hidden 32 " + extra + " -o " +
                     quote(out.string()) + " --quiet");
}
}  // namespace sentence_cli_test

TEST(SentenceStudentsCli, EachArchitectureIsBuiltDistilledAndClassified) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  const double teacher = read_json_file(p.ft / "metrics.json")["dev"]["accuracy"].get<double>();
  for (const std::string arch : {"bilstm", "cnn", "bag"}) {
    const auto init = dir / (arch + "-init"), out = dir / arch;
    auto r = sentence_cli_test::build(arch, init, arch == "bag" ? "--ngram-buckets 1000" : "");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const Json meta = read_json_file(init / "kdtext.json");
    EXPECT_EQ(meta["architecture"], arch);
    EXPECT_EQ(meta["stage"], "build-student");
    EXPECT_LT(meta["provenance"]["flops_per_sentence"]["ratio"].get<double>(), 1.0) << arch;
    EXPECT_EQ(read_json_file(init / "config.json")["kdtext_architecture"], arch);
    r = run_command(distill_command(init, data / "train.tsv", out) +
                    "--epochs 5 --batch-size 16 --lr 3e-3 --hard-weight 0.5 --sentence-weight 1 --max-len 48 "
                    "--threads 1 --quiet --eval-precision auto");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const Json m = read_json_file(out / "metrics.json");
    // The final report ran in the precision auto measured (bilstm offers fp32 alone).
    EXPECT_EQ(m["precision_requested"], "auto");
    EXPECT_EQ(m["precision_measured"].size(), arch == "bilstm" ? 1u : arch == "bag" ? 2u : 3u) << arch;
    if (arch == "bilstm") EXPECT_EQ(m["precision"], "fp32");
    EXPECT_GE(m["dev"]["accuracy"].get<double>(), teacher - 0.1) << arch << m.dump(2);
    const std::string log = read_file(out / "metrics.jsonl");
    for (const char* term : {"loss_output", "loss_hard", "loss_sentence"}) {
      EXPECT_NE(log.find(term), std::string::npos) << arch << " " << term;
    }
    EXPECT_EQ(read_json_file(out / "best" / "kdtext.json")["architecture"], arch);
    EXPECT_TRUE(fs::exists(out / "best" / "distill_projections.safetensors")) << arch;  // the sentence projection
    r = run_command(classify("-m " + quote((out / "best").string()) + " " + quote((data / "test.tsv").string()) +
                             " --eval -o " + quote((dir / (arch + ".tsv")).string()) + " --threads 1 --quiet"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_GE(read_json_file(dir / (arch + ".tsv.metrics.json"))["accuracy"].get<double>(), teacher - 0.15) << arch;
    // The C++ API loads the same student and gives kdtext-classify's labels.
    const kdtext::Classifier api((out / "best").string());
    EXPECT_EQ(api.facts().architecture, arch);
    std::vector<std::string> texts, expected;
    std::istringstream test_rows(read_file(data / "test.tsv")), predicted(read_file(dir / (arch + ".tsv")));
    std::string row, answer;
    std::getline(test_rows, row);
    std::getline(predicted, answer);  // the headers
    while (std::getline(test_rows, row) && std::getline(predicted, answer)) {
      texts.push_back(row.substr(row.find('\t') + 1));
      expected.push_back(answer.substr(0, answer.find('\t')));
    }
    const auto got = api.classify(texts);
    ASSERT_EQ(got.size(), expected.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].label, expected[i]) << arch << " row " << i;
  }
}

TEST(SentenceStudentsCli, StopAndResumeEqualsAStraightRunWithSparseTables) {
  // The bag's token and n-gram tables are trained by lazy AdamW (sparse
  // gradients); their moments must be saved and restored with the rest.
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  ASSERT_EQ(sentence_cli_test::build("bag", dir / "init", "--ngram-buckets 1000").exit_code, 0);
  const auto distill = [&](const fs::path& out, const std::string& extra) {
    return run_command(distill_command(dir / "init", data / "train.tsv", out) +
                       "--max-steps 30 --batch-size 16 --lr 3e-3 --max-len 48 --threads 1 --quiet " + extra);
  };
  auto r = distill(dir / "straight", "");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = distill(dir / "split", "--stop-at-step 13");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = distill(dir / "split", "--resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto a = read_file(dir / "straight" / "final" / "model.safetensors");
  EXPECT_EQ(a, read_file(dir / "split" / "final" / "model.safetensors"));
  EXPECT_NE(a, read_file(dir / "init" / "model.safetensors"));
  // The config.json a run writes, given back as --config, reproduces it.
  r = run_command(bin("kdtext-distill") + " --config " + quote((dir / "straight" / "config.json").string()) +
                  " --output " + quote((dir / "again").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("'inputs_fingerprint' is recorded by a run, not a setting"), std::string::npos) << r.output;
  EXPECT_EQ(a, read_file(dir / "again" / "final" / "model.safetensors"));
}

TEST(SentenceStudentsCli, UnlabelledTransferTextIsLabelledByTheTeacher) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  // Three labelled rows, and the training set's texts without their labels:
  // trained on the hard term alone, the student can only learn the classes
  // from the labels the teacher gives the transfer rows.
  std::string train_text = read_file(data / "train.tsv"), head, lines;
  std::istringstream in(train_text);
  std::string line;
  for (int i = 0; std::getline(in, line); ++i) {
    if (i <= 3) head += line + "\n";
    if (i > 0) lines += line.substr(line.find('\t') + 1) + "\n";
  }
  write_file(dir / "few.tsv", head);
  write_file(dir / "transfer.txt", lines);
  ASSERT_EQ(sentence_cli_test::build("cnn", dir / "init").exit_code, 0);
  const auto r = run_command(distill_command(dir / "init", dir / "few.tsv", dir / "out") + "--transfer " +
                             quote((dir / "transfer.txt").string()) +
                             " --output-weight 0 --hard-weight 1 --epochs 4 --batch-size 16 --lr 3e-3 --max-len 48 "
                             "--threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("transfer set: 600 unlabelled texts"), std::string::npos) << r.output;
  const double teacher = read_json_file(p.ft / "metrics.json")["dev"]["accuracy"].get<double>();
  EXPECT_GE(read_json_file(dir / "out" / "metrics.json")["dev"]["accuracy"].get<double>(), teacher - 0.1);
  // A labelled file as transfer text: its text column (not its header, not its labels), said in the log.
  const auto labelled = run_command(distill_command(dir / "init", dir / "few.tsv", dir / "tsv") + "--transfer " +
                                    quote((data / "train.tsv").string()) +
                                    " --output-weight 0 --hard-weight 1 --max-steps 2 --max-len 48 --threads 1");
  ASSERT_EQ(labelled.exit_code, 0) << labelled.output;
  EXPECT_NE(labelled.output.find("train.tsv is a tsv file: its text column 'text' is read, any labels left aside"),
            std::string::npos) << labelled.output;
  EXPECT_NE(labelled.output.find("transfer set: 600 unlabelled texts"), std::string::npos) << labelled.output;
  // Without transfer rows the hard term alone never reads the teacher: its pass is skipped.
  const auto twin = run_command(distill_command(dir / "init", dir / "few.tsv", dir / "twin") +
                                "--output-weight 0 --hard-weight 1 --epochs 1 --max-len 48 --threads 1");
  ASSERT_EQ(twin.exit_code, 0) << twin.output;
  EXPECT_NE(twin.output.find("no term reads the teacher (hard labels only)"), std::string::npos) << twin.output;
}

TEST(SentenceStudentsCli, CombinationsThatCannotWorkAreRefusedByName) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  // A transformer preset, or embeddings wider than the teacher's 64 to start from.
  auto r = sentence_cli_test::build("bag", dir / "a", "--preset 3l-256");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("student.preset: '3l-256' is a transformer preset"), std::string::npos) << r.output;
  r = run_command(bin("kdtext-build-student") + " --teacher " + quote((p.ft / "best").string()) +
                  " --arch cnn --embedding 100 -o " + quote((dir / "b").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("student.sentence.embedding: 100 is wider than the teacher's 64"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir / "a"));
  EXPECT_FALSE(fs::exists(dir / "b"));

  ASSERT_EQ(sentence_cli_test::build("bilstm", dir / "init").exit_code, 0);
  // Layer-wise terms need layers.
  r = run_command(distill_command(dir / "init", data / "train.tsv", dir / "out") + "--hidden-weight 1 --threads 1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("loss.hidden_weight: a bilstm student has no transformer layers"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir / "out" / "best"));
  // General distillation trains transformers.
  r = run_command(bin("kdtext-distill") + " --mode general --teacher " + quote((p.mlm / "best").string()) +
                  " --student " + quote((dir / "init").string()) + " --shards " + quote(p.prep.string()) +
                  " --output-weight 0 --attention-weight 1 -o " + quote((dir / "general").string()) + " --threads 1");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("general distillation trains transformer students"), std::string::npos) << r.output;
  // Fine-tuning reads BERT checkpoints only, and says what it was given.
  r = run_command(bin("kdtext-finetune") + " --from " + quote((dir / "init").string()) + " --train " +
                  quote((data / "train.tsv").string()) + " --dev " + quote((data / "dev.tsv").string()) + " -o " +
                  quote((dir / "ft").string()) + " --threads 1");
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("a bilstm student; this takes BERT checkpoints"), std::string::npos) << r.output;
  // Precisions not built for these students are refused, not replaced by fp32.
  r = run_command(classify("-m " + quote((dir / "init").string()) + " " + quote((data / "test.tsv").string()) +
                           " --precision int8 -o " + quote((dir / "p.tsv").string())));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--precision int8 is not offered for bilstm students"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "p.tsv"));
}

TEST(SentenceStudentsCli, RecipeFrontierTrainsEveryArchitectureAndWritesTheFront) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  const std::string base = bin("kdtext-recipe") + " --train " + quote((data / "train.tsv").string()) + " --dev " +
                           quote((data / "dev.tsv").string()) + " --test " + quote((data / "test.tsv").string()) +
                           " --teacher " + quote((p.ft / "best").string()) + " --max-len 48 --threads 1 ";
  // A peer measured elsewhere (here a made-up one) is plotted and listed, never picked as the student.
  write_file(dir / "peers.json", R"([{"model": "fastText", "sentences_per_s": 1e9, "dev": {"accuracy": 1.0}}])");
  write_file(dir / "bad-peers.json", R"([{"model": "fastText", "dev": {"accuracy": 0.9}}])");
  auto r = run_command(base + "--student frontier --peers " + quote((dir / "bad-peers.json").string()) + " -o " +
                       quote((dir / "run").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("model 0 needs \"model\", \"sentences_per_s\" (> 0)"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "run"));
  r = run_command(base + "--student frontier --budget 0.3 --copies 0 --peers " + quote((dir / "peers.json").string()) +
                  " -o " + quote((dir / "run").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  Json rep = read_json_file(dir / "run" / "report.json");
  ASSERT_EQ(rep["models"].size(), 8u) << rep.dump(2);  // the teacher, three students, their twins and the peer
  EXPECT_EQ(rep["models"][7]["kind"], "peer");
  EXPECT_TRUE(rep["models"][7]["pareto"].get<bool>());
  EXPECT_NE(read_file(dir / "run" / "frontier.svg").find(">fastText</text>"), std::string::npos);
  for (const char* points : {"1", "2", "3"}) EXPECT_NE(rep["fastest_within"][points], "fastText");
  rep["models"].erase(7);
  std::set<std::string> names;
  for (const auto& m : rep["models"]) {
    names.insert(m["model"].get<std::string>());
    EXPECT_GT(m["sentences_per_s"].get<double>(), 0.0);
    EXPECT_TRUE(m["dev"]["accuracy"].is_number());
    EXPECT_TRUE(m["test"]["accuracy"].is_number());
  }
  for (const char* name : {"teacher", "bilstm", "bilstm-labels-only", "cnn", "cnn-labels-only", "bag",
                           "bag-labels-only"}) {
    EXPECT_TRUE(names.count(name)) << name;
  }
  for (const char* points : {"1", "2", "3"}) EXPECT_TRUE(rep["fastest_within"].contains(points));
  for (const char* arch : {"bilstm", "cnn", "bag"}) {
    EXPECT_EQ(read_json_file(dir / "run" / arch / "student" / "best" / "kdtext.json")["architecture"], arch);
  }
  EXPECT_NE(read_file(dir / "run" / "frontier.svg").find("<svg"), std::string::npos);
  EXPECT_NE(read_file(dir / "run" / "report.md").find("| bag | distilled |"), std::string::npos);
  // General distillation has no part in it: a corpus is refused before anything is written.
  r = run_command(base + "--student bag --corpus " + quote((source_dir() / "data" / "corpus").string()) + " -o " +
                  quote((dir / "bad").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--corpus: general distillation serves the transformer student"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir / "bad"));
  r = run_command(base + "--student lstm -o " + quote((dir / "bad").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--student: transformer, bilstm, cnn, bag or frontier, got 'lstm'"), std::string::npos);
}
