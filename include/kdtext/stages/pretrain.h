// Stage 2: pretrain a BERT teacher with masked-LM on preprocessed shards.
#pragma once

#include <string>

#include "kdtext/cli/runtime.h"
#include "kdtext/feed/mlm_data.h"
#include "kdtext/train/trainer.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::stages {

struct PretrainConfig {
  std::string data;                  // a kdtext-preprocess output directory (tokenizer/ + shards/)
  std::string output;                // run directory (checkpoints/, best/, final/, metrics.jsonl)
  std::string model = "bert-small";  // preset name (configs/model/<name>.json) or config file path
  bool overwrite = false;            // start over in a non-empty output directory
  bool resume = false;               // continue from the newest checkpoint in `output`
  int64_t max_len = 128;             // packed sequence length
  int64_t batch_size = 32;           // sequences per micro-batch
  feed::MaskingOptions masking;      // 15%, 80/10/10, optional whole-word masking
  int64_t validation_every = 50;     // every N-th document is held out for validation
  int64_t eval_sequences = 256;      // held-out sequences evaluated (fixed masks)
  train::TrainerOptions trainer;
  cli::RuntimeOptions run;
};

const FieldTable<PretrainConfig>& pretrain_fields();
Json to_json(const PretrainConfig& c);
PretrainConfig pretrain_config_from_json(const Json& j);

// Returns the final metrics (validation loss and perplexity).
Json run_pretrain(const PretrainConfig& config, torch::Device device);

}  // namespace kdtext::stages
