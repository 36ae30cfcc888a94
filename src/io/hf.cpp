#include "kdtext/io/hf.h"

#include <algorithm>
#include <set>

#include "kdtext/error.h"

namespace kdtext::io {
namespace fs = std::filesystem;

namespace {
bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
}  // namespace

// transformers architectures kdtext reads, and the head each carries.
model::Heads heads_of_weights(const TensorMap& w) {
  if (w.count("classifier.weight")) return model::Heads::kClassifier;
  if (w.count("cls.predictions.bias") || w.count("cls.predictions.transform.dense.weight")) {
    return model::Heads::kMaskedLM;
  }
  return model::Heads::kNone;
}

// config.json of a transformers BERT directory: the architecture (refused by
// name unless kdtext reads it) and the model configuration.
std::pair<model::BertConfig, std::string> read_hf_config(const fs::path& src, const std::string& origin) {
  if (!fs::is_directory(src)) throw InputError(origin + ": no such directory");
  const fs::path config_path = src / "config.json";
  if (!fs::exists(config_path)) throw InputError(origin + ": no config.json (not a Hugging Face model directory)");
  const Json hf = read_json_file(config_path);
  if (!hf.is_object()) throw InputError(config_path.string() + ": not a JSON object (a model configuration is one)");
  if (hf.contains("model_type") && !hf["model_type"].is_string()) {
    throw InputError(config_path.string() + ": model_type is " + hf["model_type"].dump().substr(0, 40) +
                     ", not a string such as \"bert\"");
  }
  // Refuse other architectures by name before reading their weights.
  const std::string model_type = hf.value("model_type", std::string("bert"));
  if (model_type != "bert") {
    throw InputError(config_path.string() + ": model_type '" + model_type +
                     "' is not supported; kdtext imports BERT (BertModel, BertForMaskedLM, "
                     "BertForSequenceClassification)");
  }
  std::string architecture = "BertModel";
  if (auto it = hf.find("architectures"); it != hf.end() && it->is_array() && !it->empty()) {
    if (!it->at(0).is_string()) throw InputError(config_path.string() + ": architectures[0] is not a string");
    architecture = it->at(0).get<std::string>();
    static const std::set<std::string> known = {"BertModel", "BertForMaskedLM", "BertForSequenceClassification",
                                                "BertForPreTraining"};
    if (!known.count(architecture)) {
      throw InputError(config_path.string() + ": architecture " + architecture +
                       " is not supported (BertModel, BertForMaskedLM, BertForSequenceClassification, "
                       "BertForPreTraining are)");
    }
  }
  try {
    return {model::bert_config_from_json(hf, config_path.string()), architecture};
  } catch (const ConfigError& e) {
    throw InputError(e.what());
  }
}

namespace {
// kdtext's name for a transformers weight; "" for the weights it drops (listed in `dropped` when worth saying).
std::string kdtext_name(const std::string& name, std::vector<std::string>* dropped) {
  std::string key = name;
  if (starts_with(key, "embeddings.") || starts_with(key, "encoder.") || starts_with(key, "pooler.")) {
    key = "bert." + key;
  }
  if (key == "bert.embeddings.position_ids") return "";  // a stale buffer some versions saved
  if (starts_with(key, "cls.seq_relationship.")) {      // BertForPreTraining's next-sentence head
    if (dropped) dropped->push_back(key);
    return "";
  }
  return key;
}

// The most elements any one weight of a BERT of config `c` holds (with its heads).
int64_t largest_weight(const model::BertConfig& c) {
  const int64_t h = c.hidden_size;
  return std::max({c.vocab_size * h, c.max_position_embeddings * h, c.type_vocab_size * h, c.intermediate_size * h,
                   h * h, static_cast<int64_t>(c.labels.size()) * h});
}
}  // namespace

// model.safetensors (or pytorch_model.bin) with names normalised to kdtext's (BertModel stores
// "embeddings.*", "encoder.*", "pooler.*" without the "bert." prefix the task
// models use); `dropped` lists weights kdtext has no place for.
TensorMap read_hf_weights(const fs::path& src, const model::BertConfig& config, const std::string& origin,
                          std::vector<std::string>& dropped) {
  const fs::path weights_path = src / "model.safetensors", bin_path = src / "pytorch_model.bin";
  TensorMap stored;
  fs::path file;
  if (fs::exists(weights_path)) {
    file = weights_path;
    stored = load_safetensors(weights_path).tensors;
  } else if (fs::exists(bin_path)) {
    // Only the weights kdtext keeps are read, and none larger than this model's largest.
    file = bin_path;
    stored = read_torch_state_dict(
        bin_path, [&](const std::string& name) { return !kdtext_name(name, &dropped).empty(); }, largest_weight(config));
  } else {
    throw InputError(origin + ": no model.safetensors and no pytorch_model.bin");
  }
  TensorMap weights;
  for (auto& [name, t] : stored) {
    const std::string key = kdtext_name(name, file == bin_path ? nullptr : &dropped);
    if (key.empty()) continue;
    if (!t.is_floating_point()) {
      throw InputError(file.string() + ": '" + name + "' holds " + std::string(c10::toString(t.scalar_type())) +
                       " values; a weight is floating point (float32, float16, bfloat16, float64)");
    }
    weights[key] = t.to(torch::kFloat32);
  }
  return weights;
}

}  // namespace kdtext::io
