// kdtext-classify: label text with a classification checkpoint, optionally evaluate.
#include "kdtext/cli/app.h"
#include "kdtext/stages/classify.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::StageApp app("classify",
                    "Classify text with a kdtext classification checkpoint (teacher or student). Reads files or "
                    "standard input; writes TSV or JSON lines in input order; --eval scores against gold labels.",
                    "echo 'the striker scored twice' | kdtext-classify --model runs/teacher/best",
                    schema_of(stages::classify_fields(), stages::default_classify_config()));
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_classify(stages::classify_config_from_json(ctx.config), ctx.device);
  });
}
