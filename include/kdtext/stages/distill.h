// Stage 4 (build-student) and stage 5 (distill).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kdtext/cli/runtime.h"
#include "kdtext/model/student.h"
#include "kdtext/stages/supervised.h"
#include "kdtext/text/labelled.h"
#include "kdtext/text/mlm_data.h"
#include "kdtext/train/trainer.h"
#include "kdtext/util/json.h"

namespace kdtext::stages {

struct BuildStudentConfig {
  std::string teacher;         // fine-tuned teacher checkpoint
  std::string output;          // student checkpoint directory
  bool overwrite = false;
  model::StudentSpec student;
  cli::RuntimeOptions run;
};
Json to_json(const BuildStudentConfig& c);
BuildStudentConfig build_student_config_from_json(const Json& j);
// Writes the initial student checkpoint; returns its summary (sizes, mapping).
Json run_build_student(const BuildStudentConfig& c);

// The weighted loss. Weights of 0 switch a term off.
struct DistillLossOptions {
  std::string output = "kl";          // kl | soft_ce | mse: teacher logits -> student logits
  double output_weight = 1.0;
  double output_weight_end = -1;      // >= 0: linear schedule from output_weight to this over training
  double temperature = 2.0;
  double temperature_end = -1;        // >= 0: linear temperature schedule
  bool t2_scale = true;               // multiply kl/soft_ce by T^2
  double hard_weight = 0.0;           // cross-entropy with gold labels
  double hard_weight_end = -1;
  std::string hidden = "mse";         // mse | cosine: mapped hidden states (through projections if widths differ)
  double hidden_weight = 0.0;
  std::string attention = "scores_mse";  // scores_mse (TinyBERT) | probs_kl (MiniLM)
  double attention_weight = 0.0;
  double embedding_weight = 0.0;      // MSE of embedding outputs (through a projection if widths differ)
  double pkd_weight = 0.0;            // Patient-KD normalised [CLS] MSE over mapped layers
  double mlm_weight = 0.0;            // general mode: the student's masked-LM loss on the (masked) shards
  std::string layer_map = "uniform";  // uniform | last | skip | list
  int64_t skip_k = 2;                 // for skip: teacher layers k, 2k, ...
  std::vector<int64_t> layer_list;    // for list: teacher layer (1-based) per student layer
  std::string projection = "per-layer";  // per-layer | shared
};

// mode task: a fine-tuned teacher and a labelled set (train/dev/test), every
// loss term, selection by dev accuracy/macro-F1. mode general: any teacher and
// the unlabelled token shards of a kdtext-preprocess output, intermediate terms
// (and optionally the student's masked-LM loss), selection by held-out loss.
struct DistillConfig : SupervisedRunOptions {
  std::string mode = "task";         // task | general
  std::string teacher;               // teacher checkpoint (fine-tuned for task mode)
  std::string student;               // initial student checkpoint (kdtext-build-student or a general distillation)
  std::string shards;                // general: a kdtext-preprocess output directory (shards/ + tokenizer/)
  int64_t validation_every = 50;     // general: every N-th document is held out
  int64_t eval_sequences = 64;       // general: held-out sequences scored at each evaluation
  text::MaskingOptions masking;      // general with loss.mlm_weight > 0
  bool cache_teacher_logits = true;  // reuse teacher logits after the first epoch (output/hard terms only)
  DistillLossOptions loss;
};
DistillConfig default_distill_config();
Json to_json(const DistillConfig& c);
DistillConfig distill_config_from_json(const Json& j);
Json run_distill(const DistillConfig& c, torch::Device device);

// For tests: the training task the stage runs (teacher, student, projections).
class DistillTaskHandle {
 public:
  virtual ~DistillTaskHandle() = default;
  virtual train::TrainingTask& task() = 0;
  virtual torch::nn::Module& teacher() = 0;
  virtual torch::nn::Module& student() = 0;
};
std::unique_ptr<DistillTaskHandle> make_distill_task(const DistillConfig& c, torch::Device device);

}  // namespace kdtext::stages
