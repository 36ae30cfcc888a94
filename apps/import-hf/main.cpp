// kdtext-import-hf: a Hugging Face BERT directory -> a kdtext checkpoint.
#include "kdtext/cli/app.h"
#include "kdtext/stages/interop.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::StageApp app("import-hf",
                    "Import a Hugging Face BERT directory (config.json, model.safetensors, vocab.txt, "
                    "tokenizer_config.json; BertModel, BertForMaskedLM or BertForSequenceClassification, with or "
                    "without the bert. prefix) as a kdtext checkpoint that every stage reads.",
                    "kdtext-import-hf ~/models/all-MiniLM-L6-v2 runs/minilm",
                    schema_of(stages::import_hf_fields()));
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_import_hf(stages::import_hf_config_from_json(ctx.config));
  });
}
