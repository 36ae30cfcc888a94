// kdtext-pretrain: masked-LM pretraining of a BERT teacher on preprocessed shards.
#include "kdtext/cli/app.h"
#include "kdtext/stages/pretrain.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::keep_freed_memory_for_training();
  cli::StageApp app("pretrain",
                    "Pretrain a BERT-style teacher with masked-LM on the token shards written by kdtext-preprocess.",
                    "kdtext-pretrain runs/prep --output runs/teacher --model bert-small --max-steps 2000",
                    stages::to_json(stages::PretrainConfig{}));
  app.positional("data", "data", "kdtext-preprocess output directory", true);
  app.option("--model", "model", "Model preset (bert-tiny, bert-small, bert-base) or config.json path");
  cli::add_training_flags(app);
  app.option("--mask-prob", "masking.mask_prob", "Fraction of tokens to predict");
  app.flag("whole-word-mask", "masking.whole_word", "Mask whole words");
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_pretrain(stages::pretrain_config_from_json(ctx.config), ctx.device);
  });
}
