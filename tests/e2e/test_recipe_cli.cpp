// scripts/distill-recipe.sh end to end on the tiny task in data/: every stage,
// the report, reuse of finished stages and of the general distillation.
#include <gtest/gtest.h>

#include "e2e/pipeline_fixture.h"
#include "kdtext/util/json.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::testing;
namespace fs = std::filesystem;

namespace {

std::string recipe(const fs::path& out, const fs::path& store, const std::string& extra) {
  const auto& p = pipeline();
  const auto data = source_dir() / "data";
  return "KDTEXT_BIN=" + quote(fs::path(bin("kdtext-distill")).parent_path().string()) + " " +
         quote((source_dir() / "scripts" / "distill-recipe.sh").string()) + " --train " +
         quote((data / "task" / "train.tsv").string()) + " --dev " + quote((data / "task" / "dev.tsv").string()) +
         " --test " + quote((data / "task" / "test.tsv").string()) + " --teacher " +
         quote((p.ft / "best").string()) + " --base " + quote((p.mlm / "final").string()) +
         " --preset 2l-128 --corpus " + quote((data / "corpus").string()) + " --store " + quote(store.string()) +
         " --general-minutes 0.05 --task-minutes 5 --max-len 48 --threads 1 -o " + quote(out.string()) + extra;
}

}  // namespace

TEST(DistillRecipe, OneCommandFromALabelledSetToAStudentAndAReportThenReusesItsWork) {
  TempDir dir;
  auto r = run_command(recipe(dir / "run", dir / "store", " --copies 1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The base carries a masked-LM head: it proposes the single-piece replacements.
  EXPECT_NE(r.output.find("(masked-LM candidates from " + fs::absolute(pipeline().mlm / "final").string() + ")"),
            std::string::npos) << r.output;
  // 2l-128 is wider than this teacher (64 wide): it starts at random, and the log says why. (A student no wider
  // starts from the teacher's weights: test_student.cpp.)
  EXPECT_NE(r.output.find("(at random: it is wider than the teacher"), std::string::npos) << r.output;
  EXPECT_EQ(read_json_file(dir / "run" / "student-init" / "kdtext.json")["provenance"]["init"], "random");
  const Json rep = read_json_file(dir / "run" / "report.json");
  EXPECT_TRUE(fs::exists(dir / "run" / "report.md"));
  EXPECT_EQ(rep["copies"], 1);
  EXPECT_EQ(rep["training_rows"], 600);
  ASSERT_TRUE(rep["general_distillation"].is_string()) << rep.dump(2);
  EXPECT_EQ(fs::path(rep["general_distillation"].get<std::string>()).parent_path(), fs::absolute(dir / "store"));
  // The report's figures are the models' own: classify the dev set independently.
  for (const auto& [key, ck] : {std::pair<std::string, fs::path>{"student", dir / "run" / "student" / "best"},
                                {"labels_only", dir / "run" / "labels-only" / "best"}}) {
    r = run_command(bin("kdtext-classify") + " -m " + quote(ck.string()) + " " +
                    quote((source_dir() / "data" / "task" / "dev.tsv").string()) + " --eval --max-len 48 -o " +
                    quote((dir / (key + ".tsv")).string()) + " --quiet");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_DOUBLE_EQ(read_json_file(dir / (key + ".tsv.metrics.json"))["accuracy"].get<double>(),
                     rep[key]["dev"]["accuracy"].get<double>())
        << key;
    EXPECT_GT(rep[key]["sentences_per_s"].get<double>(), 0) << key;
  }
  EXPECT_GE(rep["student"]["dev"]["accuracy"].get<double>(), 0.6);  // chance: 0.37
  const double ratio = rep["student"]["flops_per_sentence"].get<double>() / rep["teacher"]["flops_per_sentence"].get<double>();
  EXPECT_NEAR(rep["student_vs_teacher"]["flops"].get<double>(), ratio, 1e-9);
  EXPECT_NEAR(rep["student_vs_teacher"]["dev_accuracy"].get<double>(),
              rep["student"]["dev"]["accuracy"].get<double>() / rep["teacher"]["dev"]["accuracy"].get<double>(), 1e-9);

  // The same command again: every stage is kept, nothing trains again.
  const std::string trained = read_file(dir / "run" / "student" / "metrics.jsonl");
  r = run_command(recipe(dir / "run", dir / "store", " --copies 1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(dir / "run" / "student" / "metrics.jsonl"), trained);
  EXPECT_NE(r.output.find("prediction-layer distillation (2 min): done before, kept"), std::string::npos) << r.output;
  // Another task run with the same base, student and corpus reuses the general distillation.
  r = run_command(recipe(dir / "run2", dir / "store", " --copies 0 --task-minutes 0.05"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("reusing the general distillation in " + rep["general_distillation"].get<std::string>()),
            std::string::npos)
      << r.output;

  // Other settings in the same run directory, and missing inputs, are refused before anything runs.
  r = run_command(recipe(dir / "run", dir / "store", " --copies 3"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("was made by another recipe"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(dir / "run" / "student" / "metrics.jsonl"), trained);
  // --overwrite sets the old run aside and puts it back when the new one fails.
  r = run_command(recipe(dir / "run", dir / "store", " --copies 1 --overwrite --preset no-such-preset"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("student.preset: unknown 'no-such-preset'"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(dir / "run" / "student" / "metrics.jsonl"), trained);
  EXPECT_EQ(read_json_file(dir / "run" / "recipe.json")["preset"], "2l-128");
  r = run_command(recipe(dir / "x", dir / "store", " --copies 1 --train " + quote((dir / "nope.tsv").string())));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("nope.tsv: no such file"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "x"));
}

// Issue 26, item 13: settings the stages would refuse are refused before the
// recipe writes anything, so the corrected command is not taken for "another
// recipe".
TEST(DistillRecipe, BadSettingsAreRefusedBeforeAnythingIsWritten) {
  TempDir dir;
  const auto out = dir / "out";
  for (const std::string bad : {" --preset nope", " --threads abc", " --device tpu", " --max-len 4096"}) {
    SCOPED_TRACE(bad);
    const auto r = run_command(recipe(out, dir / "store", bad));
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_FALSE(fs::exists(out)) << r.output;
  }
  const auto r = run_command(recipe(out, dir / "store", " --preset nope"));
  EXPECT_NE(r.output.find("unknown 'nope'"), std::string::npos) << r.output;  // the stage's own message
  EXPECT_NE(r.output.find("nothing was written to " + out.string()), std::string::npos) << r.output;
  const auto m = run_command(recipe(out, dir / "store", " --max-len 4096"));
  EXPECT_NE(m.output.find("--max-len 4096 exceeds the max_position_embeddings"), std::string::npos) << m.output;
}

// Issue 27: recipe.json records the content of the inputs, so a training file
// edited in place makes another recipe (refused, naming it), not a silent
// continuation on stale converted data; the same content continues.
TEST(DistillRecipe, ATrainingFileChangedInPlaceIsAnotherRecipe) {
  TempDir dir;
  const auto train = dir / "train.tsv";
  write_file(train, read_file(source_dir() / "data" / "task" / "train.tsv"));
  const std::string fast = " --copies 0 --general-minutes 0 --task-minutes 0.05 --train " + quote(train.string());
  auto r = run_command(recipe(dir / "run", dir / "store", fast));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json identity = read_json_file(dir / "run" / "recipe.json");
  EXPECT_TRUE(identity["inputs_fingerprint"].contains("train")) << identity.dump(2);
  write_file(train, read_file(train) + "cooking\tA line added after the run: bread rose in the oven.\n");
  r = run_command(recipe(dir / "run", dir / "store", fast));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("was made by another recipe (differs in: train (its content);"), std::string::npos)
      << r.output;
  EXPECT_EQ(read_json_file(dir / "run" / "recipe.json"), identity);  // the run is untouched
}
