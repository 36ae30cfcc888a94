// kdtext-build-student: construct a small student from a fine-tuned teacher.
#include "kdtext/cli/app.h"
#include "kdtext/stages/build_student.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::StageApp app("build-student",
                    "Build a student classification checkpoint from a fine-tuned teacher: fewer/narrower layers, the "
                    "teacher's tokenizer and labels, random or teacher-layer initialisation.",
                    "kdtext-build-student --teacher runs/teacher/best --preset tinybert-4l-312 --output runs/student-init",
                    schema_of(stages::build_student_fields()));
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_build_student(stages::build_student_config_from_json(ctx.config));
  });
}
