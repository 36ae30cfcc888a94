// BERT architecture configuration, stored with Hugging Face `config.json`
// keys so checkpoints can be exchanged with transformers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kdtext/util/json.h"

namespace kdtext::model {

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t intermediate_size = 3072;
  std::string hidden_act = "gelu";           // exact (erf) GELU; the only activation supported
  double hidden_dropout_prob = 0.1;
  double attention_probs_dropout_prob = 0.1;
  int64_t max_position_embeddings = 512;
  int64_t type_vocab_size = 2;
  double initializer_range = 0.02;
  double layer_norm_eps = 1e-12;
  int64_t pad_token_id = 0;
  // Classification head (empty when the model has none): label names by id.
  std::vector<std::string> labels;
  double classifier_dropout = -1;            // < 0: use hidden_dropout_prob (as transformers does)

  int64_t head_dim() const { return hidden_size / num_attention_heads; }
  // Throws ConfigError naming the key (prefixed by `origin`, e.g. a file name).
  void validate(const std::string& origin) const;
};

// Parameters of the model `c` describes (all heads), as a double: configs
// with absurd sizes must not overflow before they are refused.
double parameter_estimate(const BertConfig& c);

// Before a model is allocated: `copies` fp32 copies of its parameters (1 to
// hold it; 4 to train it: weights, gradients, two Adam moments) must fit in
// available_memory() (util/memory.h). Otherwise ConfigError naming `origin`,
// the size keys with their values, the need and the limit.
void check_fits_in_memory(const BertConfig& c, const std::string& origin, double copies, const std::string& purpose);

// Hugging Face style JSON: model_type "bert", architectures, id2label/label2id.
Json to_json(const BertConfig& c);
// Reads a Hugging Face or kdtext config.json object. Unknown keys are ignored
// (transformers writes many); wrong types and invalid values are errors
// naming `origin` and the key.
BertConfig bert_config_from_json(const Json& j, const std::string& origin);

// A classifier's labels as Hugging Face writes them: id2label, label2id and
// num_labels (also used by the non-transformer students' config.json).
void add_labels_json(Json& j, const std::vector<std::string>& labels);
// id2label's names in id order (empty when absent); label2id and num_labels,
// where present, must agree. ConfigError naming `origin` otherwise.
std::vector<std::string> labels_from_json(const Json& j, const std::string& origin);
// Loads configs/<preset>.json by name or a path to a JSON file.
BertConfig load_bert_config(const std::string& preset_or_path);

// Parameter counts: all, and without the embedding tables.
struct ParamCount {
  int64_t total = 0;
  int64_t non_embedding = 0;
};

// Inference FLOPs (2 per multiply-add) of one sequence of `tokens` tokens:
// per layer and token the Q/K/V/output projections (4h^2) and the FFN (2hi),
// per layer the attention products (2T^2h), and the pooler and classifier
// when the config has labels. Embedding lookups, LayerNorm, softmax and GELU
// are not counted (bench/common.py's forward_flops counts the same way).
int64_t inference_flops(const BertConfig& c, int64_t tokens);

}  // namespace kdtext::model
