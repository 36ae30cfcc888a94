// Stage 4: build a student checkpoint from a teacher and a student spec.
#pragma once

#include <string>

#include "kdtext/cli/runtime.h"
#include "kdtext/model/student.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::stages {

struct BuildStudentConfig {
  std::string teacher;         // fine-tuned teacher checkpoint
  std::string output;          // student checkpoint directory
  bool overwrite = false;
  int64_t flops_tokens = 64;   // sentence length at which student and teacher FLOPs are compared
  model::StudentSpec student;
  cli::RuntimeOptions run;
};
const FieldTable<BuildStudentConfig>& build_student_fields();
Json to_json(const BuildStudentConfig& c);
BuildStudentConfig build_student_config_from_json(const Json& j);
// Writes the initial student checkpoint; returns its summary (sizes, mapping,
// inference FLOPs per sentence of student and teacher and their ratio).
Json run_build_student(const BuildStudentConfig& c);

}  // namespace kdtext::stages
