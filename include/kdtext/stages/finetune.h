// Stage 3: fine-tune a pretrained checkpoint on a labelled classification set.
#pragma once

#include <string>

#include "kdtext/train/supervised.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::stages {

enum class ClassWeights { kNone, kBalanced };
inline constexpr std::pair<const char*, ClassWeights> kClassWeights[] = {{"none", ClassWeights::kNone},
                                                                         {"balanced", ClassWeights::kBalanced}};

struct FinetuneConfig : train::SupervisedRunOptions {
  std::string from;                              // pretrained (or imported) checkpoint directory
  ClassWeights class_weights = ClassWeights::kNone;  // none | balanced (inverse class frequency)
};

FinetuneConfig default_finetune_config();
const FieldTable<FinetuneConfig>& finetune_fields();
Json to_json(const FinetuneConfig& c);
FinetuneConfig finetune_config_from_json(const Json& j);

// Trains, keeps the best checkpoint by `metric` on dev, writes metrics.json
// (dev and test metrics of the best checkpoint). Returns that JSON.
Json run_finetune(const FinetuneConfig& config, torch::Device device);

}  // namespace kdtext::stages
