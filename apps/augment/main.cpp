// kdtext-augment: augmented copies of a labelled set for task distillation.
#include "kdtext/cli/app.h"
#include "kdtext/stages/augment.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::StageApp app("augment",
                    "Write augmented copies of a labelled set for task distillation (TinyBERT/Tang et al.): whole "
                    "words replaced by a masked-LM's predictions in context (single-piece words, when a model "
                    "with a masked-LM head is given) or their nearest neighbours in the teacher's input "
                    "embeddings, words masked, "
                    "n-gram sampling. Deterministic by --seed. Output: JSON lines with text, label and source "
                    "(<input>:<line>#<copy>, copy 0 = the original).",
                    "kdtext-augment data/task/train.tsv --teacher runs/teacher/best -o runs/train.aug.jsonl --copies 20",
                    schema_of(stages::augment_config_fields()));
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_augment(stages::augment_config_from_json(ctx.config), ctx.device);
  });
}
