// kdtext-distill: distil a teacher into a student, on a labelled task (mode
// task) or on the unlabelled token shards (mode general).
#include "kdtext/cli/app.h"
#include "kdtext/stages/distill.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::keep_freed_memory_for_training();
  cli::StageApp app("distill",
                    "Distil a teacher into a student with a weighted sum of output terms (KL, soft CE or "
                    "logit MSE with temperature; hard labels) and intermediate terms (hidden states, attention, "
                    "embeddings, Patient-KD). --mode task (default) trains on a labelled set with a fine-tuned "
                    "teacher; --mode general on the token shards of kdtext-preprocess (intermediate terms, optional "
                    "masked-LM). Presets in configs/distill/.",
                    "kdtext-distill --config configs/distill/distilbert.json --teacher runs/teacher/best "
                    "--student runs/student-init --train train.tsv --dev dev.tsv --output runs/student",
                    schema_of(distill::distill_fields(), distill::default_distill_config()));
  app.allow_data_parallel();
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_distill(distill::distill_config_from_json(ctx.config), ctx.device);
  });
}
