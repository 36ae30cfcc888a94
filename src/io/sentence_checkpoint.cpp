#include "kdtext/io/sentence_checkpoint.h"

#include "kdtext/error.h"
#include "kdtext/io/checkpoint_meta.h"
#include "kdtext/util/atomic.h"
#include "kdtext/util/hash.h"
#include "kdtext/version.h"

namespace kdtext::io {
namespace fs = std::filesystem;

namespace {
constexpr const char* kArchitectureKey = "kdtext_architecture";

// What the model computes, as config.json states it: every field but the
// training-only dropout. Recorded in kdtext.json, so an edit no weight shape
// would reveal (the bag's ngram_order, the bilstm's pooling) is refused.
std::string config_fingerprint(const model::SentenceConfig& c) {
  Json fields = model::sentence_fields().to_json(c);
  fields.erase("dropout");
  Fnv1a64 h;
  h.add(fields.dump());
  return h.hex();
}
}  // namespace

std::string checkpoint_architecture(const Json& meta) {
  const auto it = meta.find("architecture");
  return it != meta.end() && it->is_string() ? it->get<std::string>() : "bert";
}

std::string architecture_at(const fs::path& dir) {
  const fs::path meta = dir / kCheckpointMetaFile;
  std::error_code ec;
  if (!fs::is_regular_file(meta, ec)) return "bert";
  try {
    return checkpoint_architecture(read_json_file(meta));
  } catch (const std::exception&) {
    return "bert";
  }
}

void write_sentence_checkpoint_files(const fs::path& dir, const model::SentenceClassifierImpl& model,
                                     const std::vector<std::string>& labels, const text::Tokenizer& tokenizer,
                                     const CheckpointInfo& info) {
  const auto& c = model.config();
  if (static_cast<int64_t>(labels.size()) != c.num_labels) {
    throw std::invalid_argument("save_sentence_checkpoint: " + std::to_string(labels.size()) + " labels for " +
                                std::to_string(c.num_labels) + " classes");
  }
  const std::string arch = choice_name(c.arch, model::kSentenceArchs);
  Json config = model::sentence_fields().to_json(c);
  config[kArchitectureKey] = arch;
  model::add_labels_json(config, labels);  // num_labels: the same value as the sentence field
  const NamedTensors tensors = module_tensors(model);
  write_file_atomic(dir / "config.json", config.dump(2) + "\n");
  save_safetensors(dir / "model.safetensors", tensors, {{"format", "pt"}});
  tokenizer.save(dir / "tokenizer");
  Json meta{{"format_version", kCheckpointFormatVersion},
            {"stage", info.stage},
            {"architecture", arch},
            {"heads", "classifier"},
            {"labels", labels},
            {"tokenizer", {{"type", tokenizer.type()}, {"fingerprint", tokenizer.fingerprint()}}},
            {"config_fingerprint", config_fingerprint(c)},
            {"kdtext_version", KDTEXT_VERSION},
            {"provenance", info.provenance}};
  write_file_atomic(dir / kCheckpointMetaFile, meta.dump(2) + "\n");
}

void save_sentence_checkpoint(const fs::path& dir, const model::SentenceClassifierImpl& model,
                              const std::vector<std::string>& labels, const text::Tokenizer& tokenizer,
                              const CheckpointInfo& info) {
  StagedDirectory staged(dir, /*overwrite=*/true, /*lock=*/false);
  write_sentence_checkpoint_files(staged.path(), model, labels, tokenizer, info);
  staged.commit();
}

SentenceCheckpoint read_sentence_checkpoint(const fs::path& dir) {
  const fs::path meta_path = dir / kCheckpointMetaFile, config_path = dir / "config.json";
  if (!fs::is_directory(dir)) throw InputError(dir.string() + ": checkpoint directory does not exist");
  if (!fs::exists(meta_path)) throw InputError(dir.string() + ": not a kdtext checkpoint (no kdtext.json)");
  SentenceCheckpoint ck;
  ck.dir = dir;
  ck.meta = read_json_file(meta_path);
  const CheckpointMeta meta = parse_checkpoint_meta(ck.meta, meta_path.string());
  const std::string arch = checkpoint_architecture(ck.meta);
  if (arch == "bert") {
    throw InputError(meta_path.string() + ": a BERT checkpoint; a bilstm, cnn or bag student was expected");
  }
  const Json config = read_json_file(config_path);
  if (!config.is_object() || config.value(kArchitectureKey, "") != arch) {
    throw InputError(config_path.string() + ": " + kArchitectureKey + " does not match kdtext.json's architecture '" +
                     arch + "'");
  }
  Json fields = config;
  for (const char* k : {kArchitectureKey, "id2label", "label2id"}) fields.erase(k);
  try {
    ck.config = model::sentence_fields().from_json(JsonFields(fields, ""));
  } catch (const ConfigError& e) {
    throw InputError(config_path.string() + ": " + e.what());
  }
  try {
    ck.labels = model::labels_from_json(config, config_path.string());  // its messages name the file
  } catch (const ConfigError& e) {
    throw InputError(e.what());
  }
  if (auto it = ck.meta.find("config_fingerprint"); it != ck.meta.end() && *it != config_fingerprint(ck.config)) {
    throw InputError(config_path.string() + ": its settings are not the ones the weights were written with "
                     "(kdtext.json's config_fingerprint " + it->dump().substr(0, 60) + " != " +
                     config_fingerprint(ck.config) + "); put back the config.json saved with the weights");
  }
  if (static_cast<int64_t>(ck.labels.size()) != ck.config.num_labels) {
    throw InputError(config_path.string() + ": id2label: " + std::to_string(ck.labels.size()) + " labels for num_labels " +
                     std::to_string(ck.config.num_labels));
  }
  ck.tokenizer = text::Tokenizer::load(dir / "tokenizer");
  if (!meta.tokenizer_fingerprint.empty() && meta.tokenizer_fingerprint != ck.tokenizer->fingerprint()) {
    throw InputError(meta_path.string() + ": tokenizer fingerprint " + ck.tokenizer->fingerprint() +
                     " does not match the recorded " + meta.tokenizer_fingerprint);
  }
  if (ck.tokenizer->vocab_size() != ck.config.vocab_size) {
    throw InputError(config_path.string() + ": vocab_size " + std::to_string(ck.config.vocab_size) +
                     " does not match the tokenizer's " + std::to_string(ck.tokenizer->vocab_size()));
  }
  // Before any weight is read: the weights read and the model built from them (sizes no shape checks yet).
  model::check_fits_in_memory(ck.config, config_path.string(), 2, "load");
  ck.weights = load_safetensors(dir / "model.safetensors").tensors;
  return ck;
}

model::SentenceClassifier load_sentence_classifier(const SentenceCheckpoint& ck) {
  model::SentenceClassifier m(ck.config);
  load_tensors(module_tensors(*m), ck.weights, (ck.dir / "model.safetensors").string());
  return m;
}

}  // namespace kdtext::io
