#include "kdtext/io/checkpoint.h"

#include <chrono>
#include <ctime>

#include "kdtext/io/sentence_checkpoint.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"
#include "kdtext/version.h"

namespace kdtext::io {
namespace fs = std::filesystem;

namespace {

const char* heads_name(model::Heads h) {
  switch (h) {
    case model::Heads::kNone: return "none";
    case model::Heads::kMaskedLM: return "masked_lm";
    case model::Heads::kClassifier: return "classifier";
  }
  return "none";
}

model::Heads heads_from_name(const std::string& s, const std::string& origin) {
  if (s == "none") return model::Heads::kNone;
  if (s == "masked_lm") return model::Heads::kMaskedLM;
  if (s == "classifier") return model::Heads::kClassifier;
  throw InputError(origin + ": unknown heads '" + s + "'");
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

void write_checkpoint_files(const fs::path& dir, const model::BertImpl& model, const text::Tokenizer& tokenizer,
                            const CheckpointInfo& info) {
  write_file_atomic(dir / "config.json", to_json(model.config).dump(2) + "\n");
  save_safetensors(dir / "model.safetensors", model.named_state(), {{"format", "pt"}});
  tokenizer.save(dir / "tokenizer");
  tokenizer.write_hf_files(dir);  // vocab.txt etc. beside config.json, for transformers' from_pretrained
  Json meta{{"format_version", kCheckpointFormatVersion},
            {"stage", info.stage},
            {"heads", heads_name(model.heads)},
            {"labels", model.config.labels},
            {"tokenizer", {{"type", tokenizer.type()}, {"fingerprint", tokenizer.fingerprint()}}},
            {"kdtext_version", KDTEXT_VERSION},
            {"created", utc_now()},
            {"provenance", info.provenance}};
  write_file_atomic(dir / kCheckpointMetaFile, meta.dump(2) + "\n");
}

void save_checkpoint(const fs::path& dir, const model::BertImpl& model, const text::Tokenizer& tokenizer,
                     const CheckpointInfo& info) {
  StagedDirectory staged(dir, /*overwrite=*/true, /*lock=*/false);  // inside a locked run
  write_checkpoint_files(staged.path(), model, tokenizer, info);
  staged.commit();
}

Checkpoint read_checkpoint(const fs::path& dir) {
  const fs::path meta_path = dir / kCheckpointMetaFile;
  if (fs::exists(dir) && !fs::is_directory(dir)) {
    throw InputError(dir.string() + ": is a file; a checkpoint is a directory (config.json, model.safetensors, "
                     "kdtext.json, tokenizer/)");
  }
  if (!fs::is_directory(dir)) throw InputError(dir.string() + ": checkpoint directory does not exist");
  if (!fs::exists(meta_path)) {
    throw InputError(dir.string() + ": not a kdtext checkpoint (no " + kCheckpointMetaFile +
                     "); Hugging Face directories need kdtext-import-hf first");
  }
  Checkpoint ck;
  ck.dir = dir;
  ck.meta = read_json_file(meta_path);
  const CheckpointMeta meta = parse_checkpoint_meta(ck.meta, meta_path.string());
  if (const std::string arch = checkpoint_architecture(ck.meta); arch != "bert") {
    throw InputError(dir.string() + ": a " + arch + " student; this takes BERT checkpoints (teachers and transformer "
                     "students) only");
  }
  ck.heads = heads_from_name(meta.heads, meta_path.string());
  try {
    ck.config = model::bert_config_from_json(read_json_file(dir / "config.json"), (dir / "config.json").string());
  } catch (const ConfigError& e) {
    throw InputError(e.what());
  }
  model::check_fits_in_memory(ck.config, (dir / "config.json").string(), 1, "hold");
  if (ck.meta.contains("labels") && ck.meta["labels"].is_array() && ck.meta["labels"] != Json(ck.config.labels)) {
    throw InputError(meta_path.string() + ": labels " + ck.meta["labels"].dump() + " do not match config.json's id2label " +
                     Json(ck.config.labels).dump() + " (one of the two files was edited or replaced)");
  }
  ck.tokenizer = text::Tokenizer::load(dir / "tokenizer");
  const std::string& recorded = meta.tokenizer_fingerprint;
  if (!recorded.empty() && recorded != ck.tokenizer->fingerprint()) {
    throw InputError(meta_path.string() + ": tokenizer fingerprint " + ck.tokenizer->fingerprint() +
                     " does not match the recorded " + recorded + " (tokenizer directory replaced?)");
  }
  if (ck.tokenizer->vocab_size() != ck.config.vocab_size) {
    throw InputError((dir / "config.json").string() + ": vocab_size " + std::to_string(ck.config.vocab_size) +
                     " does not match the tokenizer's " + std::to_string(ck.tokenizer->vocab_size()));
  }
  ck.weights = load_safetensors(dir / "model.safetensors").tensors;
  return ck;
}

void load_weights(model::BertImpl& model, const TensorMap& weights, const std::string& origin,
                  const LoadRules& rules) {
  LoadRules r = rules;
  for (const char* ignored : {"bert.embeddings.position_ids", "embeddings.position_ids",  // stale HF buffer
                              "cls.predictions.decoder.weight", "cls.predictions.decoder.bias"}) {  // tied
    r.allow_unexpected_prefixes.push_back(ignored);
  }
  load_tensors(model.named_state(), weights, origin, r);
}

}  // namespace kdtext::io
