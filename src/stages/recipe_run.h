// kdtext-recipe's run, step by step (private to the stage; see stages/recipe.h).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "kdtext/distill/recipe.h"
#include "kdtext/stages/recipe.h"

namespace kdtext::stages {

// The sentence students --student names: bilstm, cnn or bag, or all three for frontier.
std::vector<std::string> recipe_sentence_archs(const std::string& student);

// The transformer student's build-student section: the preset, started from the
// teacher's weights where it is no wider (`how` says which way it starts).
Json recipe_student_spec(const RecipeConfig& c, std::string* how = nullptr);

class RecipeRun {
 public:
  // `c` with every path absolute and the store resolved; `out` the locked run directory.
  RecipeRun(const RecipeConfig& c, torch::Device device, std::filesystem::path out, distill::RecipeBudget budget);
  // Every step (each kept when it finished before), then the report. `probe`:
  // a student built while checking the settings ("" = none), moved into place.
  Json run(const std::filesystem::path& probe);

  // The preset's JSON under configs/distill/ ("" = none) and `settings`
  // merged over a stage's defaults, with the recipe's run options and `seed`:
  // what the stage's command line would resolve to.
  Json stage_config(Json defaults, const std::string& preset, const Json& settings, uint64_t seed, bool quiet) const;
  // Runs `body` as stage `stage` (its name in the log, the recipe's threads
  // and `seed` applied as the executable would), then returns to the recipe's log.
  Json in_stage(const std::string& stage, uint64_t seed, bool quiet, const std::function<Json()>& body) const;
  void say(const std::string& message) const;

 private:
  // recipe_steps.cpp
  void convert_splits();
  std::string fine_tuned_teacher();
  std::filesystem::path student_init(const std::filesystem::path& probe);
  std::filesystem::path general_distillation(const std::filesystem::path& init);
  void augment(const std::string& teacher);
  void task_stages(const std::string& teacher, const std::filesystem::path& start);
  // A training stage in `dir`: kept when finished, resumed when resumable,
  // begun again when started; returns its metrics.
  Json train_stage(const std::string& what, const std::string& key, const std::filesystem::path& dir, Json config,
                   const std::function<Json(const Json&)>& run);
  Json task_settings(const std::string& train) const;
  // recipe_sentence.cpp: --student bilstm, cnn, bag or frontier
  Json run_sentence_students();
  std::filesystem::path sentence_init(const std::string& arch, const std::string& teacher,
                                      const std::filesystem::path& dir);
  void sentence_stages(const std::string& arch, const std::string& teacher, const std::filesystem::path& dir,
                       double minutes);
  // recipe_report.cpp
  Json measure(const std::string& name, const std::string& checkpoint);
  Json write_report(const std::string& teacher);

  const RecipeConfig& c_;
  torch::Device device_;
  std::filesystem::path out_;
  distill::RecipeBudget budget_;
  std::string log_file_;
  std::string general_dir_;
  int64_t rows_ = 0, copies_ = 0;
  Json stages_ = Json::object();
};

}  // namespace kdtext::stages
