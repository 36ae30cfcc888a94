// kdtext-recipe: one command from a labelled set to a deployable student
// (TinyBERT's route), composed of the other stages' run_* functions:
//
//   teacher (--teacher, or fine-tuned here from --base)
//   -> a student of --preset, started from the teacher's weights (weight selection: evenly
//      spaced hidden dims and neurons, whole heads) when no wider than it, randomly otherwise
//   -> general distillation on --corpus, kept in --store under a key of (teacher, student,
//      corpus, budget, settings) and reused by every later task with the same base
//   -> augmented copies of the training set (augment)
//   -> intermediate-layer distillation on them, then prediction-layer distillation with the
//      teacher's logits computed once and cached
//   -> a student of the same shape trained on labels only, for comparison
//   -> OUT/student (the deployable checkpoint) and OUT/report.md + OUT/report.json.
//
// OUT is a run directory (train/run_directory.h): locked while the recipe
// runs; recipe.json records what it was made from (settings and the content of
// its inputs), and the same command continues in it: each stage is asked where
// it stands (finished: kept; resumable: resumed; started: begun again). Other
// settings are refused unless --overwrite, which keeps the old run aside until
// the new one has its report and puts it back if the new one fails.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "kdtext/cli/runtime.h"
#include "kdtext/text/labelled.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::stages {

struct RecipeConfig {
  std::string train, dev, test;      // labelled sets (dev selects checkpoints; test is only reported)
  text::LabelledFormat data;         // their format, as every stage reads it
  std::string teacher;               // a fine-tuned classifier ("" = fine-tune one from base)
  std::string base;                  // a pretrained encoder: the teacher's start and the student's source
  std::string preset = "3l-256";     // student shape (build-student presets)
  std::string peers;                 // frontier: a JSON array of other models' figures to plot beside ("" = none)
  std::string student = "transformer";  // transformer (the --preset student), bilstm, cnn, bag, or frontier (all
                                        // three: the accuracy-against-speed front; recipe_sentence.cpp)
  double budget = 20;                // minutes for the student's training stages in all
  double general_minutes = -1;       // -1: half the budget with a corpus, else 0
  double task_minutes = -1;          // -1: the budget less the general share
  std::vector<std::string> corpus;   // unlabelled text (files or directories) for general distillation
  std::string store;                 // general distillations ("" = $KDTEXT_CACHE/general or ~/.cache/kdtext/general)
  std::optional<int64_t> copies;     // augmented copies per example (none: auto; JSON "auto")
  std::string output;                // the run directory
  bool overwrite = false;
  int64_t max_len = 128;
  int64_t batch_size = 32;
  std::optional<uint64_t> task_seed;  // augmentation and the task stages (none: run.seed; JSON -1)
  cli::RuntimeOptions run;

  // What the student is built from and generally distilled from.
  const std::string& encoder() const { return base.empty() ? teacher : base; }
  uint64_t resolved_task_seed() const { return task_seed ? *task_seed : run.seed; }
};

RecipeConfig default_recipe_config();
const FieldTable<RecipeConfig>& recipe_fields();
Json to_json(const RecipeConfig& c);
// Reads and checks everything that can be checked before a file is written:
// files, checkpoints, numbers, --max-len against the models' positions.
RecipeConfig recipe_config_from_json(const Json& j);

// The models of a --peers file, each with "kind": "peer"; ConfigError naming
// the file and the model that lacks a figure.
std::vector<Json> recipe_peers(const std::string& path);

// Runs (or continues) the recipe; returns report.json's content.
Json run_recipe(const RecipeConfig& c, torch::Device device);

}  // namespace kdtext::stages
