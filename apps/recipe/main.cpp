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
                    stages::to_json(stages::default_recipe_config()));
  app.option("--train", "train", "Labelled training file (tsv, csv or jsonl)", true);
  app.option("--dev", "dev", "Labelled development file (selects checkpoints)", true);
  app.option("--test", "test", "Labelled test file (reported only)");
  cli::add_data_format_flags(app);
  app.option("--teacher", "teacher", "A fine-tuned classifier (kdtext-finetune best/)");
  app.option("--base", "base",
             "A pretrained encoder (kdtext-pretrain final/, kdtext-import-hf): the teacher is fine-tuned from it when "
             "--teacher is not given, and the student is built and generally distilled from it");
  app.option("--preset", "preset", "Student shape (kdtext-build-student --preset)");
  app.option("--budget", "budget",
             "Minutes for the student's training stages in all; with a corpus half goes to general distillation; of "
             "the task's share 60% to the intermediate and 40% to the prediction stage (each also stops at its epochs)");
  app.option("--general-minutes", "general_minutes", "Minutes of general distillation (-1: from --budget)");
  app.option("--task-minutes", "task_minutes", "Minutes of the task stages (-1: --budget less the general share)");
  app.option("--corpus", "corpus", "Unlabelled text (file or directory; repeat the flag) for general distillation");
  app.option("--store", "store", "Where general distillations are kept ($KDTEXT_CACHE/general or ~/.cache/kdtext/general)");
  app.option("--copies", "copies", "Augmented copies per training example (auto: up to 20, ~60k rows in all)");
  app.option("-o,--output", "output", "Run directory", true);
  app.flag("overwrite", "overwrite", "Start over (the old run is kept aside, and put back if the new run fails)");
  app.option("--max-len", "max_len", "Tokens per example");
  app.option("--batch-size", "batch_size", "Examples per micro-batch");
  app.option("--task-seed", "task_seed",
             "Seed of augmentation and the task stages (-1: --seed); repeat with other task seeds to measure the "
             "spread (the general distillation is reused from the store)");
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_recipe(stages::recipe_config_from_json(ctx.config), ctx.device);
  });
}
