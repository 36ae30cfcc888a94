// kdtext-finetune: fine-tune a pretrained checkpoint on a labelled classification set.
#include "kdtext/cli/app.h"
#include "kdtext/stages/finetune.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::StageApp app("finetune",
                    "Fine-tune a pretrained (or imported) BERT checkpoint on a labelled classification set; keeps the "
                    "best checkpoint on the dev set and writes metrics.json.",
                    "kdtext-finetune --from runs/teacher-mlm/final --train data/task/train.tsv --dev data/task/dev.tsv "
                    "--output runs/teacher",
                    stages::to_json(stages::default_finetune_config()));
  app.option("--from", "from", "Pretrained checkpoint directory", true);
  app.option("--train", "train", "Labelled training file (tsv, csv or jsonl)", true);
  app.option("--dev", "dev", "Labelled development file", true);
  app.option("--test", "test", "Labelled test file (reported only)");
  app.option("-o,--output", "output", "Run directory", true);
  app.flag("overwrite", "overwrite", "Start over in a non-empty output directory");
  app.flag("resume", "resume", "Continue from the newest checkpoint in the output directory");
  app.option("--format", "data.format", "auto, tsv, csv or jsonl");
  app.option("--text-column", "data.text_column", "Text column (name or 0-based index)");
  app.option("--pair-column", "data.pair_column", "Second text column for pairs");
  app.option("--label-column", "data.label_column", "Label column (name or index)");
  app.option("--header", "data.header", "auto, yes or no");
  app.option("--bad-lines", "data.bad_lines", "error or skip");
  app.option("--max-len", "max_len", "Tokens per example");
  app.option("--batch-size", "batch_size", "Examples per batch");
  app.option("--epochs", "epochs", "Epochs (when --max-steps is 0)");
  app.option("--evals-per-epoch", "evals_per_epoch", "Evaluations per epoch (when --eval-every is 0)");
  app.option("--metric", "metric", "accuracy or macro_f1 (selects the best checkpoint)");
  app.option("--class-weights", "class_weights", "none or balanced");
  app.option("--max-steps", "trainer.max_steps", "Optimiser steps (0: from --epochs)");
  app.option("--lr", "trainer.lr", "Peak learning rate");
  app.option("--warmup-ratio", "trainer.warmup_ratio", "Warm-up fraction of the steps");
  app.option("--eval-every", "trainer.eval_every", "Evaluate every N steps (0: per epoch)");
  app.option("--early-stopping", "trainer.early_stopping_patience", "Evaluations without improvement before stopping");
  app.option("--log-every", "trainer.log_every", "Progress every N steps");
  app.option("--save-every", "trainer.save_every", "Resumable checkpoint every N steps");
  app.option("--max-minutes", "trainer.max_minutes", "Wall-clock budget in minutes (0: none)");
  app.option("--stop-at-step", "trainer.stop_at_step", "Save and stop at this step (resume later)");
  app.flag("bf16", "trainer.bf16", "bf16 autocast");
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_finetune(stages::finetune_config_from_json(ctx.config), ctx.device);
  });
}
