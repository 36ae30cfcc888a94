// kdtext-tokenize: token ids (or pieces) of each input line.
#include "kdtext/cli/app.h"
#include "kdtext/stages/interop.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::StageApp app("tokenize",
                    "Print the token ids (or pieces) of every input line with a kdtext tokenizer, the tokenizer of "
                    "a checkpoint, or a Hugging Face WordPiece directory (vocab.txt).",
                    "echo 'Hello, world!' | kdtext-tokenize --tokenizer runs/minilm --pieces",
                    schema_of(stages::tokenize_fields()));
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_tokenize(stages::tokenize_config_from_json(ctx.config));
  });
}
