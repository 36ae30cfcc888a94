// kdtext-distill: distil a fine-tuned teacher into a student on a labelled task.
#include "kdtext/cli/app.h"
#include "kdtext/stages/distill.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::StageApp app("distill",
                    "Distil a fine-tuned teacher into a student with a weighted sum of output terms (KL, soft CE or "
                    "logit MSE with temperature; hard labels) and intermediate terms (hidden states, attention, "
                    "embeddings, Patient-KD). Presets in configs/distill/.",
                    "kdtext-distill --config configs/distill/distilbert.json --teacher runs/teacher/best "
                    "--student runs/student-init --train train.tsv --dev dev.tsv --output runs/student",
                    stages::to_json(stages::default_distill_config()));
  app.option("--teacher", "teacher", "Fine-tuned teacher checkpoint", true);
  app.option("--student", "student", "Initial student checkpoint (kdtext-build-student)", true);
  app.option("--train", "train", "Labelled training file", true);
  app.option("--dev", "dev", "Labelled development file", true);
  app.option("--test", "test", "Labelled test file (reported only)");
  app.option("-o,--output", "output", "Run directory", true);
  app.flag("overwrite", "overwrite", "Start over in a non-empty output directory");
  app.flag("resume", "resume", "Continue from the newest checkpoint");
  app.option("--max-len", "max_len", "Tokens per example");
  app.option("--batch-size", "batch_size", "Examples per batch");
  app.option("--epochs", "epochs", "Epochs (when --max-steps is 0)");
  app.option("--temperature", "loss.temperature", "Softmax temperature for output terms");
  app.option("--output-loss", "loss.output", "kl, soft_ce or mse");
  app.option("--output-weight", "loss.output_weight", "Weight of the output term");
  app.option("--hard-weight", "loss.hard_weight", "Weight of the gold-label cross-entropy");
  app.option("--hidden-weight", "loss.hidden_weight", "Weight of the hidden-state term");
  app.option("--attention-weight", "loss.attention_weight", "Weight of the attention term");
  app.option("--layer-map", "loss.layer_map", "uniform, last, skip or list");
  app.option("--max-steps", "trainer.max_steps", "Optimiser steps (0: from --epochs)");
  app.option("--lr", "trainer.lr", "Peak learning rate");
  app.option("--eval-every", "trainer.eval_every", "Evaluate every N steps (0: per epoch)");
  app.option("--log-every", "trainer.log_every", "Progress every N steps");
  app.flag("bf16", "trainer.bf16", "bf16 autocast");
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_distill(stages::distill_config_from_json(ctx.config), ctx.device);
  });
}
