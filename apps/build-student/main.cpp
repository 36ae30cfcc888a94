// kdtext-build-student: construct a small student from a fine-tuned teacher.
#include "kdtext/cli/app.h"
#include "kdtext/stages/build_student.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::StageApp app("build-student",
                    "Build a student classification checkpoint from a fine-tuned teacher: fewer/narrower layers, the "
                    "teacher's tokenizer and labels, random or teacher-layer initialisation.",
                    "kdtext-build-student --teacher runs/teacher/best --preset tinybert-4l-312 --output runs/student-init",
                    stages::to_json(stages::BuildStudentConfig{}));
  app.option("--teacher", "teacher", "Fine-tuned teacher checkpoint", true);
  app.option("-o,--output", "output", "Student checkpoint directory", true);
  app.flag("overwrite", "overwrite", "Replace an existing output directory");
  app.option("--preset", "student.preset", "tinybert-4l-312, 4l-256, 3l-256, 4l-192, 2l-128 or 6l-768");
  app.option("--layers", "student.layers", "Transformer layers");
  app.option("--flops-tokens", "flops_tokens", "Sentence length at which FLOPs are compared with the teacher's");
  app.option("--hidden", "student.hidden", "Hidden size");
  app.option("--heads", "student.heads", "Attention heads");
  app.option("--intermediate", "student.intermediate", "Feed-forward size");
  app.option("--max-len", "student.max_len", "Max positions (0: the teacher's)");
  app.option("--init", "student.init", "random or teacher-layers");
  app.option("--layer-selection", "student.layer_selection", "uniform, spread, every-k, last or list");
  app.option("--every-k", "student.every_k", "k for every-k");
  app.option("--layer-list", "student.layer_list", "Teacher layers (1-based), one per student layer");
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_build_student(stages::build_student_config_from_json(ctx.config));
  });
}
