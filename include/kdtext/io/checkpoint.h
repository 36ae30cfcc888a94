// Self-describing checkpoint directories:
//   config.json        architecture (Hugging Face keys, labels as id2label)
//   model.safetensors  weights by Hugging Face name
//   tokenizer/         the tokenizer the model was trained with
//   kdtext.json        format version, stage, heads, tokenizer identity, provenance
//   training_state/    (optional) what an exact resume needs; see train/trainer.h
#pragma once

#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "kdtext/io/checkpoint_meta.h"
#include "kdtext/io/safetensors.h"
#include "kdtext/model/bert.h"
#include "kdtext/text/tokenizer.h"
#include "kdtext/util/json.h"

namespace kdtext::io {


struct CheckpointInfo {
  std::string stage;        // which stage wrote it (pretrain, finetune, ...)
  Json provenance = Json::object();  // free-form: data, steps, metrics, parent checkpoint
};

// Writes the checkpoint files into `dir` (an existing, normally staged,
// directory). Use save_checkpoint for an atomic standalone write.
void write_checkpoint_files(const std::filesystem::path& dir, const model::BertImpl& model,
                            const text::Tokenizer& tokenizer, const CheckpointInfo& info);
// Atomically (re)places the checkpoint directory `dir`.
void save_checkpoint(const std::filesystem::path& dir, const model::BertImpl& model,
                     const text::Tokenizer& tokenizer, const CheckpointInfo& info);

struct Checkpoint {
  std::filesystem::path dir;
  model::BertConfig config;
  model::Heads heads = model::Heads::kNone;
  Json meta;
  std::unique_ptr<text::Tokenizer> tokenizer;
  TensorMap weights;
};

// Reads and validates a checkpoint directory: refuses a newer format version,
// a tokenizer that does not match the recorded fingerprint, or a config whose
// vocabulary differs from the tokenizer's. Throws InputError naming the file.
Checkpoint read_checkpoint(const std::filesystem::path& dir);

// Copies weights into the model by name (io::load_tensors over the model's
// named_state; the stale position_ids buffer of old transformers exports and
// the tied decoder are ignored). A missing or unexpected key, or a shape
// mismatch, is an InputError naming the key (and `origin`).
void load_weights(model::BertImpl& model, const TensorMap& weights, const std::string& origin,
                  const LoadRules& rules = {});

}  // namespace kdtext::io
