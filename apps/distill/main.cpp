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
                    stages::to_json(stages::default_distill_config()));
  app.option("--mode", "mode", "task (labelled set) or general (token shards)");
  app.option("--teacher", "teacher", "Teacher checkpoint (fine-tuned for --mode task)", true);
  app.option("--student", "student", "Initial student checkpoint (kdtext-build-student or a general distillation)", true);
  cli::add_labelled_training_flags(app, /*files_required=*/false);
  app.option("--shards", "shards", "kdtext-preprocess output directory (general)");
  app.option("--teacher-logits", "teacher_logits",
             "File caching the teacher's logits on --train across runs (output/hard terms only)");
  app.option("--store", "store",
             "General: keep the run under DIR/general-<key of teacher, student init, corpus, budget and settings>, "
             "reuse a finished one (--overwrite: train it again), resume an unfinished one; prints the run directory "
             "(instead of --output)");
  app.option("--validation-every", "validation_every", "Hold out every N-th document (general)");
  cli::add_training_flags(app, /*output_required=*/false);  // --store chooses it for general distillation
  app.option("--temperature", "loss.temperature", "Softmax temperature for output terms");
  app.option("--output-loss", "loss.output", "kl, soft_ce or mse");
  app.option("--output-weight", "loss.output_weight", "Weight of the output term");
  app.option("--hard-weight", "loss.hard_weight", "Weight of the gold-label cross-entropy");
  app.option("--hidden-weight", "loss.hidden_weight", "Weight of the hidden-state term");
  app.option("--attention-weight", "loss.attention_weight", "Weight of the attention term");
  app.option("--embedding-weight", "loss.embedding_weight", "Weight of the embedding-output term");
  app.option("--mlm-weight", "loss.mlm_weight", "Weight of the student's masked-LM loss (general)");
  app.option("--layer-map", "loss.layer_map", "uniform, spread, last, skip or list");
  app.option("--layer-list", "loss.layer_list", "Teacher layer (1-based) per student layer, for --layer-map list");
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_distill(stages::distill_config_from_json(ctx.config), ctx.device);
  });
}
