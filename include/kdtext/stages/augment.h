// kdtext-augment: augmented copies of a labelled set for task distillation.
#pragma once

#include <string>

#include "kdtext/augment/augment.h"
#include "kdtext/cli/runtime.h"
#include "kdtext/text/labelled.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::stages {

struct AugmentConfig {
  std::string input;            // labelled file (tsv, csv or jsonl)
  std::string teacher;          // checkpoint whose tokenizer and input embeddings find neighbours
  std::string mlm;              // masked-LM for in-context candidates: "" = the teacher when it has a
                                // masked-LM head, "none" = embedding neighbours only, or a checkpoint
  std::string output;           // JSON lines: text (pair), label, source = "<input>:<line>#<copy>"
  bool overwrite = false;
  text::LabelledFormat data;
  augment::AugmentOptions augment;
  cli::RuntimeOptions run;
};

const FieldTable<AugmentConfig>& augment_config_fields();
Json to_json(const AugmentConfig& c);
AugmentConfig augment_config_from_json(const Json& j);
// Writes the original examples and their copies; returns counts. The
// masked-LM, when one is used, runs on `device`.
Json run_augment(const AugmentConfig& c, c10::Device device);

}  // namespace kdtext::stages
