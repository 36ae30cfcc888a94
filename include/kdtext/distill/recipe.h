// The arithmetic and the report of kdtext-recipe (stages/recipe.h), kept
// apart from the stages it runs so it can be tested on its own: how the time
// budget is split between the training stages, how many augmented copies a
// training set gets, and the report built from the stages' results.
#pragma once

#include <cstdint>
#include <string>

#include "kdtext/util/json.h"

namespace kdtext::distill {

// Minutes for each training stage of the recipe.
struct RecipeBudget {
  double general = 0;       // general distillation on the corpus
  double task = 0;          // the task's share: intermediate + prediction
  double intermediate = 0;  // 60% of the task's share
  double prediction = 0;    // 40% (the label-only student gets as much)
};
// `total` minutes in all; `general` / `task` below 0 are derived: with a
// corpus half the total goes to general distillation (without one none), the
// task gets the rest. Every share is rounded to 4 significant digits (the
// figures the stages are given and the log shows). ConfigError when no time is
// left for the task or general minutes are asked for without a corpus.
RecipeBudget split_budget(double total, double general, double task, bool has_corpus);
// A number of minutes as the log and the stages see it: 4 significant digits.
std::string minutes_text(double minutes);

// Augmented copies per training example when the user leaves it to the
// recipe: about 60,000 rows in all, at most 20 copies (TinyBERT's setting for
// small sets), none for sets of more than 30,000 rows.
int64_t auto_copies(int64_t training_rows);

// One model's figures as the report lists them: "model", "checkpoint",
// "sentences_per_s", "dev" {accuracy, macro_f1}, "test" (the same, or null).
// What the recipe knows when it writes the report.
struct RecipeResults {
  Json recipe;            // the run's recipe.json
  int64_t training_rows = 0;
  int64_t copies = 0;
  std::string general_distillation;  // the store entry used ("" = none)
  Json provenance;        // the initial student's kdtext.json "provenance" (parameters, FLOPs)
  Json teacher, student, labels_only;  // figures (above)
  double general_seconds = 0, intermediate_seconds = 0, prediction_seconds = 0, labels_only_seconds = 0;
  Json stages = Json::object();  // each stage's returned result, by name
};
// report.json: the three models with parameters and FLOPs, the student's
// ratios to the teacher and its gain over the label-only student.
Json recipe_report(const RecipeResults& r);
// report.md: the same as a table and three sentences.
std::string recipe_report_markdown(const Json& report);

}  // namespace kdtext::distill
