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
                    stages::to_json(stages::AugmentConfig{}));
  app.positional("input", "input", "Labelled file (tsv, csv or jsonl)", true);
  app.option("--teacher", "teacher", "Checkpoint whose tokenizer and input embeddings find the neighbours", true);
  app.option("--mlm", "mlm",
             "Checkpoint with a masked-LM head whose predictions in context replace single-piece words "
             "(default: the teacher when it has one; none: embedding neighbours only)");
  app.option("-o,--output", "output", "Output file (JSON lines)", true);
  app.flag("overwrite", "overwrite", "Replace an existing output file");
  cli::add_data_format_flags(app);
  app.option("--copies", "augment.copies", "Augmented copies per example (0: the originals only, as JSON lines)");
  app.option("--replace-prob", "augment.replace_prob", "Per word: replaced by a nearest neighbour");
  app.option("--neighbours", "augment.neighbours", "Candidates per word");
  app.option("--mask-prob", "augment.mask_prob", "Per word: replaced by the mask token");
  app.option("--ngram-prob", "augment.ngram_prob", "Per copy: keep only a random n-gram");
  app.option("--ngram-max", "augment.ngram_max", "Longest n-gram kept");
  app.option("--vocabulary", "augment.vocabulary", "Candidate words: the most frequent of the input");
  app.option("--max-len", "augment.max_len", "Tokens the masked-LM reads a text with");
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_augment(stages::augment_config_from_json(ctx.config), ctx.device);
  });
}
