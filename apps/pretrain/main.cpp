// kdtext-pretrain: masked-LM pretraining of a BERT teacher on preprocessed shards.
#include "kdtext/cli/app.h"
#include "kdtext/stages/pretrain.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::StageApp app("pretrain",
                    "Pretrain a BERT-style teacher with masked-LM on the token shards written by kdtext-preprocess.",
                    "kdtext-pretrain runs/prep --output runs/teacher --model bert-small --max-steps 2000",
                    stages::to_json(stages::PretrainConfig{}));
  app.positional("data", "data", "kdtext-preprocess output directory", true);
  app.option("-o,--output", "output", "Run directory", true);
  app.option("--model", "model", "Model preset (bert-tiny, bert-small, bert-base) or config.json path");
  app.flag("overwrite", "overwrite", "Start over in a non-empty output directory");
  app.flag("resume", "resume", "Continue from the newest checkpoint in the output directory");
  app.option("--max-len", "max_len", "Packed sequence length");
  app.option("--batch-size", "batch_size", "Sequences per micro-batch");
  app.option("--mask-prob", "masking.mask_prob", "Fraction of tokens to predict");
  app.flag("whole-word-mask", "masking.whole_word", "Mask whole words");
  app.option("--max-steps", "trainer.max_steps", "Optimiser steps");
  app.option("--lr", "trainer.lr", "Peak learning rate");
  app.option("--warmup-steps", "trainer.warmup_steps", "Warm-up steps (-1: warmup_ratio)");
  app.option("--schedule", "trainer.schedule", "linear, cosine or constant");
  app.option("--grad-accum", "trainer.grad_accum", "Micro-batches per step");
  app.flag("bf16", "trainer.bf16", "bf16 autocast");
  app.option("--eval-every", "trainer.eval_every", "Evaluate every N steps");
  app.option("--save-every", "trainer.save_every", "Resumable checkpoint every N steps");
  app.option("--log-every", "trainer.log_every", "Progress every N steps");
  app.option("--max-minutes", "trainer.max_minutes", "Wall-clock budget in minutes (0: none)");
  app.option("--stop-at-step", "trainer.stop_at_step", "Save and stop at this step (resume later)");
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_pretrain(stages::pretrain_config_from_json(ctx.config), ctx.device);
  });
}
