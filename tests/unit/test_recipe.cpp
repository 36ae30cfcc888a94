// kdtext-recipe's library parts: the budget split, the automatic copy count,
// the report (distill/recipe.h), and where a training run stands
// (train::run_state), against values worked out by hand.
#include <gtest/gtest.h>

#include "kdtext/distill/recipe.h"
#include "kdtext/train/run_directory.h"
#include "kdtext/error.h"
#include "test_util.h"

using namespace kdtext;
using kdtext::testing::TempDir;
namespace fs = std::filesystem;

TEST(RecipeBudget, HalfToGeneralDistillationWithACorpusThenSixtyFortyForTheTask) {
  auto b = distill::split_budget(20, -1, -1, true);
  EXPECT_DOUBLE_EQ(b.general, 10);
  EXPECT_DOUBLE_EQ(b.task, 10);
  EXPECT_DOUBLE_EQ(b.intermediate, 6);
  EXPECT_DOUBLE_EQ(b.prediction, 4);
  b = distill::split_budget(20, -1, -1, false);  // no corpus: everything to the task
  EXPECT_DOUBLE_EQ(b.general, 0);
  EXPECT_DOUBLE_EQ(b.task, 20);
  EXPECT_DOUBLE_EQ(b.intermediate, 12);
  EXPECT_DOUBLE_EQ(b.prediction, 8);
  b = distill::split_budget(20, 0.05, 5, true);  // both shares given: the total is not used
  EXPECT_DOUBLE_EQ(b.general, 0.05);
  EXPECT_DOUBLE_EQ(b.intermediate, 3);
  EXPECT_DOUBLE_EQ(b.prediction, 2);
  b = distill::split_budget(10, -1, 0.7, true);
  EXPECT_DOUBLE_EQ(b.general, 5);
  EXPECT_DOUBLE_EQ(b.intermediate, 0.42);
  EXPECT_DOUBLE_EQ(b.prediction, 0.28);
}

TEST(RecipeBudget, SharesAreRoundedToFourSignificantDigitsAsTheStagesAreGivenThem) {
  // 10.123456 / 2 = 5.061728 -> 5.062; the task gets 10.123456 - 5.062 = 5.061456 -> 5.061.
  const auto b = distill::split_budget(10.123456, -1, -1, true);
  EXPECT_DOUBLE_EQ(b.general, 5.062);
  EXPECT_DOUBLE_EQ(b.task, 5.061);
  EXPECT_DOUBLE_EQ(b.intermediate, 3.037);  // 3.0366
  EXPECT_DOUBLE_EQ(b.prediction, 2.024);    // 2.0244
  EXPECT_EQ(distill::minutes_text(2.0), "2");
  EXPECT_EQ(distill::minutes_text(0.05), "0.05");
  EXPECT_EQ(distill::minutes_text(3.00004), "3");
  EXPECT_EQ(distill::minutes_text(1.0 / 3), "0.3333");
}

TEST(RecipeBudget, RefusesABudgetThatLeavesTheTaskNothingOrGeneralMinutesWithoutACorpus) {
  const auto message = [](double total, double general, double task, bool corpus) {
    try {
      distill::split_budget(total, general, task, corpus);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(10, 10, -1, true).find("no time left for the task stages (--budget 10, general 10 min)"),
            std::string::npos);
  EXPECT_NE(message(10, 2, -1, false).find("--general-minutes 2 needs --corpus"), std::string::npos);
  EXPECT_NE(message(0, -1, -1, true).find("budget"), std::string::npos);
  EXPECT_NE(message(10, -1, 0, true).find("no time left"), std::string::npos);
}

TEST(RecipeCopies, AboutSixtyThousandRowsAtMostTwentyCopies) {
  EXPECT_EQ(distill::auto_copies(600), 20);     // 60000 / 600 - 1 = 99, capped
  EXPECT_EQ(distill::auto_copies(5000), 11);    // 12 - 1
  EXPECT_EQ(distill::auto_copies(30000), 1);    // 2 - 1
  EXPECT_EQ(distill::auto_copies(40000), 0);    // 1 - 1
  EXPECT_EQ(distill::auto_copies(70000), 0);    // 0 - 1, not negative
  EXPECT_THROW(distill::auto_copies(0), InputError);
}

namespace {
Json figures(double dev_acc, double dev_f1, const Json& test, double sps) {
  return Json{{"model", "m"}, {"checkpoint", "/ck"}, {"sentences_per_s", sps},
              {"dev", {{"accuracy", dev_acc}, {"macro_f1", dev_f1}}}, {"test", test}};
}
distill::RecipeResults results(bool with_test) {
  distill::RecipeResults r;
  r.recipe = Json{{"preset", "3l-256"}, {"base", "/base"}, {"teacher", ""}};
  r.training_rows = 600;
  r.copies = 20;
  r.provenance = Json{{"parameters", 1000}, {"teacher_parameters", 10000},
                      {"flops_per_sentence", {{"tokens", 64}, {"teacher", 2e8}, {"student", 1e7}, {"ratio", 0.05}}}};
  const auto test = [&](double acc, double f1) { return with_test ? Json{{"accuracy", acc}, {"macro_f1", f1}} : Json(); };
  r.teacher = figures(0.9, 0.85, test(0.8, 0.75), 100);
  r.student = figures(0.81, 0.8, test(0.72, 0.7), 400);
  r.labels_only = figures(0.72, 0.7, test(0.6, 0.55), 400);
  r.general_seconds = 60;
  r.intermediate_seconds = 36.4;
  r.prediction_seconds = 24.6;
  r.labels_only_seconds = 25;
  return r;
}
}  // namespace

TEST(RecipeReport, RatiosToTheTeacherAndTheGainOverLabelsOnly) {
  const Json rep = distill::recipe_report(results(true));
  EXPECT_DOUBLE_EQ(rep["student_vs_teacher"]["dev_accuracy"].get<double>(), 0.9);   // 0.81 / 0.9
  EXPECT_DOUBLE_EQ(rep["student_vs_teacher"]["test_accuracy"].get<double>(), 0.9);  // 0.72 / 0.8
  EXPECT_DOUBLE_EQ(rep["student_vs_teacher"]["flops"].get<double>(), 0.05);
  EXPECT_DOUBLE_EQ(rep["student_vs_teacher"]["speedup"].get<double>(), 4);
  EXPECT_NEAR(rep["student_minus_labels_only_dev"].get<double>(), 0.09, 1e-12);
  EXPECT_EQ(rep["student"]["parameters"], 1000);
  EXPECT_EQ(rep["teacher"]["parameters"], 10000);
  EXPECT_DOUBLE_EQ(rep["teacher"]["flops_per_sentence"].get<double>(), 2e8);
  EXPECT_DOUBLE_EQ(rep["student"]["train_seconds"]["intermediate"].get<double>(), 36.4);
  EXPECT_TRUE(rep["general_distillation"].is_null());

  const std::string md = distill::recipe_report_markdown(rep);
  EXPECT_NE(md.find("| teacher | 90 | 85 | 80 | 75 | 10000 | 200 | 100 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| student (distilled) | 81 | 80 | 72 | 70 | 1000 | 10 | 400 |"), std::string::npos) << md;
  EXPECT_NE(md.find("The student keeps 90% of the teacher's dev accuracy (90% on test) at 0.05x its FLOPs and 4x "
                    "its speed;"), std::string::npos) << md;
  EXPECT_NE(md.find("distillation adds 9 dev points over labels only."), std::string::npos) << md;
  EXPECT_NE(md.find("general distillation 60 s (none), intermediate 36 s, prediction 25 s; labels only 25 s."),
            std::string::npos) << md;
  EXPECT_NE(md.find("Student `3l-256` from `/base`"), std::string::npos) << md;
}

TEST(RecipeReport, WithoutATestSetTheTestColumnsAreDashes) {
  auto r = results(false);
  r.general_distillation = "/store/general-abc";
  const Json rep = distill::recipe_report(r);
  EXPECT_TRUE(rep["student_vs_teacher"]["test_accuracy"].is_null());
  const std::string md = distill::recipe_report_markdown(rep);
  EXPECT_NE(md.find("| student (labels only) | 72 | 70 | - | - | 1000 | 10 | 400 |"), std::string::npos) << md;
  EXPECT_EQ(md.find("on test"), std::string::npos) << md;
  EXPECT_NE(md.find("general distillation 60 s (/store/general-abc)"), std::string::npos) << md;
}

TEST(RunState, FinishedResumableUnfinishedOrAbsentAsTheStageSeesIt) {
  TempDir dir;
  const fs::path run = dir / "run";
  EXPECT_EQ(train::run_state(run), train::RunState::kAbsent);
  fs::create_directories(run);
  EXPECT_EQ(train::run_state(run), train::RunState::kAbsent);  // empty
  kdtext::testing::write_file(run / "config.json", "{}\n");
  EXPECT_EQ(train::run_state(run), train::RunState::kUnfinished);
  // A checkpoint is resumable only when complete (weights and training state).
  const fs::path ck = run / "checkpoints" / "step-00000010";
  fs::create_directories(ck / "training_state");
  kdtext::testing::write_file(ck / "model.safetensors", "x");
  kdtext::testing::write_file(ck / "training_state" / "state.json", "{}");
  EXPECT_EQ(train::run_state(run), train::RunState::kUnfinished);
  kdtext::testing::write_file(ck / "training_state" / "optimizer.pt", "x");
  EXPECT_EQ(train::run_state(run), train::RunState::kResumable);
  kdtext::testing::write_file(run / "metrics.json", "{}\n");
  EXPECT_EQ(train::run_state(run), train::RunState::kFinished);
  EXPECT_STREQ(train::run_state_name(train::RunState::kResumable), "resumable");
}
