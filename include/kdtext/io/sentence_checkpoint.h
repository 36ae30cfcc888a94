// A non-transformer student's checkpoint (model/sentence.h, issue 28): the
// directory layout of a BERT checkpoint (io/checkpoint.h) with its own config:
//   config.json        {"kdtext_architecture": "bilstm" | "cnn" | "bag", the
//                      model/sentence.h fields, "id2label", "label2id"}
//   model.safetensors  weights by the module's names (embeddings.weight, lstm.*, convs.N.*, ...)
//   tokenizer/         the teacher's tokenizer (one tokenizer serves both)
//   kdtext.json        as for BERT, plus "architecture"
// Hugging Face transformers cannot load these (config.json has no model_type).
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kdtext/io/checkpoint.h"
#include "kdtext/model/sentence.h"

namespace kdtext::io {

// kdtext.json's "architecture": "bert" when absent (every checkpoint written
// before non-transformer students existed).
std::string checkpoint_architecture(const Json& meta);
// The architecture of the checkpoint directory `dir` by its kdtext.json;
// "bert" when that file is absent or unreadable (the BERT reader then says why).
std::string architecture_at(const std::filesystem::path& dir);

struct SentenceCheckpoint {
  std::filesystem::path dir;
  model::SentenceConfig config;
  std::vector<std::string> labels;
  Json meta;
  std::unique_ptr<text::Tokenizer> tokenizer;
  TensorMap weights;
};

// Writes the checkpoint files into `dir` (an existing, normally staged,
// directory). `labels` (one per class, config.num_labels of them) become id2label.
void write_sentence_checkpoint_files(const std::filesystem::path& dir, const model::SentenceClassifierImpl& model,
                                     const std::vector<std::string>& labels, const text::Tokenizer& tokenizer,
                                     const CheckpointInfo& info);
// Atomically (re)places the checkpoint directory `dir`.
void save_sentence_checkpoint(const std::filesystem::path& dir, const model::SentenceClassifierImpl& model,
                              const std::vector<std::string>& labels, const text::Tokenizer& tokenizer,
                              const CheckpointInfo& info);
// Reads and validates it; InputError naming the file and key (a BERT
// checkpoint is refused naming its architecture).
SentenceCheckpoint read_sentence_checkpoint(const std::filesystem::path& dir);
// The model with the checkpoint's weights (a missing, unexpected or
// misshapen tensor is an InputError naming it).
model::SentenceClassifier load_sentence_classifier(const SentenceCheckpoint& ck);

}  // namespace kdtext::io
