#include "kdtext/model/config.h"

#include <cstdio>
#include <filesystem>

#include "kdtext/error.h"
#include "kdtext/util/memory.h"
#include "kdtext/util/paths.h"

namespace kdtext::model {

void BertConfig::validate(const std::string& origin) const {
  const auto bad = [&](const std::string& key, const std::string& why) {
    return ConfigError(origin + ": " + key + " " + why);
  };
  if (vocab_size < 8) throw bad("vocab_size", "must be >= 8, got " + std::to_string(vocab_size));
  if (hidden_size < 1) throw bad("hidden_size", "must be >= 1");
  if (num_hidden_layers < 1) throw bad("num_hidden_layers", "must be >= 1");
  if (num_attention_heads < 1) throw bad("num_attention_heads", "must be >= 1");
  if (hidden_size % num_attention_heads != 0) {
    throw bad("hidden_size", "(" + std::to_string(hidden_size) + ") is not divisible by num_attention_heads (" +
                                 std::to_string(num_attention_heads) + ")");
  }
  if (intermediate_size < 1) throw bad("intermediate_size", "must be >= 1");
  if (hidden_act != "gelu") {
    throw bad("hidden_act", "'" + hidden_act + "' is not supported (only exact 'gelu')");
  }
  if (max_position_embeddings < 2) throw bad("max_position_embeddings", "must be >= 2");
  if (type_vocab_size < 1) throw bad("type_vocab_size", "must be >= 1");
  if (!(hidden_dropout_prob >= 0 && hidden_dropout_prob < 1)) throw bad("hidden_dropout_prob", "must be in [0, 1)");
  if (!(attention_probs_dropout_prob >= 0 && attention_probs_dropout_prob < 1)) {
    throw bad("attention_probs_dropout_prob", "must be in [0, 1)");
  }
  if (!(layer_norm_eps > 0)) throw bad("layer_norm_eps", "must be > 0");
  if (pad_token_id < 0 || pad_token_id >= vocab_size) throw bad("pad_token_id", "must be a valid token id");
  if (labels.size() == 1) throw bad("id2label", "a classifier needs at least 2 labels");
}

double parameter_estimate(const BertConfig& c) {
  const double h = static_cast<double>(c.hidden_size), i = static_cast<double>(c.intermediate_size);
  const double v = static_cast<double>(c.vocab_size), labels = static_cast<double>(c.labels.size());
  const double embeddings = (v + static_cast<double>(c.max_position_embeddings + c.type_vocab_size)) * h + 2 * h;
  const double layer = 4 * h * h + 4 * h + 2 * h * i + i + h + 4 * h;
  const double heads = (h * h + h) + (h * h + 3 * h + v) + h * labels + labels;  // pooler, MLM head, classifier
  return embeddings + static_cast<double>(c.num_hidden_layers) * layer + heads;
}

void check_fits_in_memory(const BertConfig& c, const std::string& origin, double copies, const std::string& purpose) {
  const double need = parameter_estimate(c) * 4.0 * copies;
  const MemoryBudget have = available_memory();
  if (need <= have.bytes) return;
  char params[32];
  std::snprintf(params, sizeof params, "%.3g", parameter_estimate(c));
  throw ConfigError(origin + ": hidden_size " + std::to_string(c.hidden_size) + ", intermediate_size " +
                    std::to_string(c.intermediate_size) + ", num_hidden_layers " + std::to_string(c.num_hidden_layers) +
                    ", vocab_size " + std::to_string(c.vocab_size) + " make a model of about " + params +
                    " parameters needing " + human_bytes(need) + " to " + purpose + ", more than the " +
                    human_bytes(have.bytes) + " available (" + have.limit + "); lower these sizes");
}

Json to_json(const BertConfig& c) {
  Json j{{"model_type", "bert"},
         {"architectures", Json{c.labels.empty() ? "BertForMaskedLM" : "BertForSequenceClassification"}},
         {"vocab_size", c.vocab_size},
         {"hidden_size", c.hidden_size},
         {"num_hidden_layers", c.num_hidden_layers},
         {"num_attention_heads", c.num_attention_heads},
         {"intermediate_size", c.intermediate_size},
         {"hidden_act", c.hidden_act},
         {"hidden_dropout_prob", c.hidden_dropout_prob},
         {"attention_probs_dropout_prob", c.attention_probs_dropout_prob},
         {"max_position_embeddings", c.max_position_embeddings},
         {"type_vocab_size", c.type_vocab_size},
         {"initializer_range", c.initializer_range},
         {"layer_norm_eps", c.layer_norm_eps},
         {"pad_token_id", c.pad_token_id},
         {"position_embedding_type", "absolute"}};
  if (c.classifier_dropout >= 0) j["classifier_dropout"] = c.classifier_dropout;
  if (!c.labels.empty()) add_labels_json(j, c.labels);
  return j;
}

void add_labels_json(Json& j, const std::vector<std::string>& labels) {
  Json id2label = Json::object(), label2id = Json::object();
  for (size_t i = 0; i < labels.size(); ++i) {
    id2label[std::to_string(i)] = labels[i];
    label2id[labels[i]] = i;
  }
  j["id2label"] = id2label;
  j["label2id"] = label2id;
  j["num_labels"] = labels.size();
}

std::vector<std::string> labels_from_json(const Json& j, const std::string& origin) {
  std::vector<std::string> labels;
  if (j.contains("id2label") && j["id2label"].is_object() && !j["id2label"].empty()) {
    const auto& m = j["id2label"];
    labels.resize(m.size());
    for (size_t i = 0; i < m.size(); ++i) {
      const auto it = m.find(std::to_string(i));
      if (it == m.end() || !it->is_string()) {
        throw ConfigError(origin + ": id2label must map \"0\".." + std::to_string(m.size() - 1) +
                          " to label names; missing \"" + std::to_string(i) + "\"");
      }
      labels[i] = it->get<std::string>();
    }
    // label2id and num_labels, where present, must say the same as id2label.
    if (j.contains("label2id") && !j["label2id"].is_null()) {
      const auto& l2i = j["label2id"];
      bool same = l2i.is_object() && l2i.size() == labels.size();
      for (size_t i = 0; same && i < labels.size(); ++i) {
        const auto it = l2i.find(labels[i]);
        same = it != l2i.end() && it->is_number_integer() && it->get<int64_t>() == static_cast<int64_t>(i);
      }
      if (!same) throw ConfigError(origin + ": label2id " + l2i.dump() + " does not match id2label " + m.dump());
    }
    if (j.contains("num_labels") && !j["num_labels"].is_null() &&
        !(j["num_labels"].is_number_integer() && j["num_labels"].get<int64_t>() == static_cast<int64_t>(labels.size()))) {
      throw ConfigError(origin + ": num_labels " + j["num_labels"].dump() + " does not match the " +
                        std::to_string(labels.size()) + " labels of id2label");
    }
  }
  return labels;
}

BertConfig bert_config_from_json(const Json& j, const std::string& origin) {
  BertConfig c;
  try {
    JsonFields f(j, "");
    f.get("vocab_size", c.vocab_size);
    f.get("hidden_size", c.hidden_size);
    f.get("num_hidden_layers", c.num_hidden_layers);
    f.get("num_attention_heads", c.num_attention_heads);
    f.get("intermediate_size", c.intermediate_size);
    f.get("hidden_act", c.hidden_act);
    f.get("hidden_dropout_prob", c.hidden_dropout_prob);
    f.get("attention_probs_dropout_prob", c.attention_probs_dropout_prob);
    f.get("max_position_embeddings", c.max_position_embeddings);
    f.get("type_vocab_size", c.type_vocab_size);
    f.get("initializer_range", c.initializer_range);
    f.get("layer_norm_eps", c.layer_norm_eps);
    if (j.contains("pad_token_id") && !j["pad_token_id"].is_null()) f.get("pad_token_id", c.pad_token_id);
    if (j.contains("classifier_dropout") && !j["classifier_dropout"].is_null()) {
      f.get("classifier_dropout", c.classifier_dropout);
    }
    std::string pos = "absolute";
    f.get("position_embedding_type", pos);
    if (pos != "absolute") throw ConfigError("position_embedding_type '" + pos + "' is not supported (only absolute)");
    std::string type = "bert";
    f.get("model_type", type);
    if (type != "bert") {
      throw ConfigError("model_type '" + type + "' is not supported (kdtext reads BERT models only)");
    }
  } catch (const ConfigError& e) {
    throw ConfigError(origin + ": " + e.what());
  }
  c.labels = labels_from_json(j, origin);
  c.validate(origin);
  return c;
}

BertConfig load_bert_config(const std::string& preset_or_path) {
  namespace fs = std::filesystem;
  fs::path path(preset_or_path);
  if (!fs::exists(path)) {
    // A preset name: <presets>/model/<name>.json beside the installed (or built) executables.
    const fs::path dir = presets_directory() / "model";
    path = dir / (preset_or_path + ".json");
    if (!fs::exists(path)) {
      throw ConfigError("model config '" + preset_or_path + "': no such file or preset (presets live in " +
                        dir.string() + ")");
    }
  }
  return bert_config_from_json(read_json_file(path), path.string());
}

int64_t inference_flops(const BertConfig& c, int64_t tokens) {
  const int64_t h = c.hidden_size, t = tokens;
  int64_t macs = c.num_hidden_layers * (t * (4 * h * h + 2 * h * c.intermediate_size) + 2 * t * t * h);
  if (!c.labels.empty()) macs += h * h + h * static_cast<int64_t>(c.labels.size());
  return 2 * macs;
}

}  // namespace kdtext::model
