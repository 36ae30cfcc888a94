// kdtext-finetune: fine-tune a pretrained checkpoint on a labelled classification set.
#include "kdtext/cli/app.h"
#include "kdtext/stages/finetune.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::keep_freed_memory_for_training();
  cli::StageApp app("finetune",
                    "Fine-tune a pretrained (or imported) BERT checkpoint on a labelled classification set; keeps the "
                    "best checkpoint on the dev set and writes metrics.json.",
                    "kdtext-finetune --from runs/teacher-mlm/final --train data/task/train.tsv --dev data/task/dev.tsv "
                    "--output runs/teacher",
                    schema_of(stages::finetune_fields(), stages::default_finetune_config()));
  app.allow_data_parallel();
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_finetune(stages::finetune_config_from_json(ctx.config), ctx.device);
  });
}
