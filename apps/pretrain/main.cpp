// kdtext-pretrain: masked-LM pretraining of a BERT teacher on preprocessed shards.
#include "kdtext/cli/app.h"
#include "kdtext/stages/pretrain.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::keep_freed_memory_for_training();
  cli::StageApp app("pretrain",
                    "Pretrain a BERT-style teacher with masked-LM on the token shards written by kdtext-preprocess.",
                    "kdtext-pretrain runs/prep --output runs/teacher --model bert-small --max-steps 2000",
                    schema_of(stages::pretrain_fields()));
  app.allow_data_parallel();
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_pretrain(stages::pretrain_config_from_json(ctx.config), ctx.device);
  });
}
