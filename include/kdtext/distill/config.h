// kdtext-distill's configuration: distil a teacher into a student on a
// labelled task (mode task) or on the unlabelled token shards of a
// kdtext-preprocess output (mode general).
#pragma once

#include <string>

#include "kdtext/distill/objective.h"
#include "kdtext/train/supervised.h"
#include "kdtext/feed/mlm_data.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::distill {

enum class DistillMode { kTask, kGeneral };
inline constexpr std::pair<const char*, DistillMode> kDistillModes[] = {{"task", DistillMode::kTask},
                                                                        {"general", DistillMode::kGeneral}};

// mode task: a fine-tuned teacher and a labelled set (train/dev/test), every
// loss term, selection by dev accuracy/macro-F1. mode general: any teacher and
// the unlabelled token shards of a kdtext-preprocess output, intermediate terms
// (and optionally the student's masked-LM loss), selection by held-out loss.
struct DistillConfig : train::SupervisedRunOptions {
  DistillMode mode = DistillMode::kTask;
  std::string teacher;               // teacher checkpoint (fine-tuned for task mode)
  std::string student;               // initial student checkpoint (kdtext-build-student or a general distillation)
  std::string shards;                // general: a kdtext-preprocess output directory (shards/ + tokenizer/)
  int64_t validation_every = 50;     // general: every N-th document is held out
  int64_t eval_sequences = 64;       // general: held-out sequences scored at each evaluation
  feed::MaskingOptions masking;      // general with loss.mlm_weight > 0
  bool cache_teacher_logits = true;  // teacher logits computed once, before training (output/hard terms only)
  std::string teacher_logits;        // task: a file caching the teacher's logits on the training set across runs
                                     // (computed once, reused while teacher, data and max_len match)
  std::string transfer;              // task: unlabelled in-domain text, one per line, added to the training set and
                                     // labelled by the teacher (its logits; its most probable class for the hard term)
  std::string store;                 // general: keep the run under <store>/general-<key> and reuse a finished
                                     // one with the same key (teacher, student init, corpus, budget, recipe)
  LossOptions loss;
};
DistillConfig default_distill_config();
const FieldTable<DistillConfig>& distill_fields();
Json to_json(const DistillConfig& c);
DistillConfig distill_config_from_json(const Json& j);

}  // namespace kdtext::distill
