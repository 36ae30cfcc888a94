// kdtext-recipe: one command from a labelled set to a deployable student and
// a report (TinyBERT's route; see kdtext/stages/recipe.h).
#include "kdtext/cli/app.h"
#include "kdtext/stages/recipe.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::keep_freed_memory_for_training();
  cli::StageApp app("recipe",
                    "One command from a labelled set to a deployable student: the teacher (given, or fine-tuned from "
                    "--base), a --preset student, general distillation on --corpus (kept in --store and reused by "
                    "later tasks), augmentation, intermediate- then prediction-layer distillation, a label-only "
                    "student of the same shape for comparison, and OUT/report.md + OUT/report.json. The same command "
                    "again keeps finished stages and resumes an interrupted one.",
                    "kdtext-recipe --train train.tsv --dev dev.tsv --test test.tsv --base runs/mlm/final "
                    "--corpus corpus.txt --preset 3l-256 --budget 30 -o runs/recipe",
                    schema_of(stages::recipe_fields()));
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_recipe(stages::recipe_config_from_json(ctx.config), ctx.device);
  });
}
