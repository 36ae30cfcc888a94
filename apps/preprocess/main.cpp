// kdtext-preprocess: clean a corpus, train or reuse a tokenizer, write token shards.
#include "kdtext/cli/app.h"
#include "kdtext/stages/preprocess.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::StageApp app("preprocess",
                    "Clean and de-duplicate an unlabelled corpus, train a sentencepiece tokenizer "
                    "(or reuse one) and write token-id shards for pretraining.",
                    "kdtext-preprocess data/corpus --output runs/prep --vocab-size 2000",
                    schema_of(stages::preprocess_fields()));
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_preprocess(stages::preprocess_config_from_json(ctx.config));
  });
}
