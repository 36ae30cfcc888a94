// Stage 3: fine-tune a pretrained checkpoint on a labelled classification set.
#pragma once

#include <string>

#include "kdtext/cli/runtime.h"
#include "kdtext/text/labelled.h"
#include "kdtext/train/trainer.h"
#include "kdtext/util/json.h"

namespace kdtext::stages {

struct FinetuneConfig {
  std::string train;                 // labelled training file
  std::string dev;                   // labelled development file (model selection)
  std::string test;                  // optional labelled test file (reported, never used to select)
  std::string from;                  // pretrained (or imported) checkpoint directory
  std::string output;                // run directory
  bool overwrite = false;
  bool resume = false;
  text::LabelledFormat data;         // columns, format, header, bad lines
  int64_t max_len = 128;             // tokens per example, [CLS]/[SEP] included
  int64_t batch_size = 32;
  int64_t epochs = 3;                // used when trainer.max_steps is 0
  int64_t evals_per_epoch = 1;       // used when trainer.eval_every is 0
  std::string metric = "accuracy";   // accuracy | macro_f1: selects the best checkpoint
  std::string class_weights = "none";  // none | balanced (inverse class frequency)
  train::TrainerOptions trainer;
  cli::RuntimeOptions run;
};

FinetuneConfig default_finetune_config();
Json to_json(const FinetuneConfig& c);
FinetuneConfig finetune_config_from_json(const Json& j);

// Trains, keeps the best checkpoint by `metric` on dev, writes metrics.json
// (dev and test metrics of the best checkpoint). Returns that JSON.
Json run_finetune(const FinetuneConfig& config, torch::Device device);

}  // namespace kdtext::stages
