// The model being distilled, behind one interface so the distillation tasks
// and the trainer do not care which kind it is: a transformer (model::Bert,
// with every loss term) or a bilstm, cnn or bag student (model/sentence.h:
// output, hard-label and sentence terms).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kdtext/distill/objective.h"
#include "kdtext/feed/batching.h"
#include "kdtext/io/checkpoint.h"
#include "kdtext/model/bert.h"
#include "kdtext/model/sentence.h"
#include "kdtext/text/tokenizer.h"

namespace kdtext::distill {

class Student {
 public:
  virtual ~Student() = default;
  // The trained module (registered as "student" with the projections).
  virtual std::shared_ptr<torch::nn::Module> module() const = 0;
  virtual StudentShape shape() const = 0;
  // Outputs for the objective: logits, and the encoder outputs `fo` asks for
  // (transformers) or the sentence vector (the others). Inputs on the device.
  virtual ModelOutputs forward(const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& segments,
                               const model::ForwardOptions& fo) = 0;
  // Logits [N, K] on the CPU for evaluation (the module must be in eval mode).
  virtual torch::Tensor predict_logits(const std::vector<feed::Encoded>& inputs, int64_t batch_size,
                                       torch::Device device) = 0;
  // Writes a complete checkpoint into `dir` (an existing staging directory).
  virtual void write(const std::filesystem::path& dir, const std::vector<std::string>& labels,
                     const text::Tokenizer& tokenizer, const io::CheckpointInfo& info) const = 0;
  // Replaces the weights (resume); errors name `origin`.
  virtual void load(const io::TensorMap& weights, const std::string& origin) = 0;
  // The transformer, or null for the other students.
  virtual model::BertImpl* bert() { return nullptr; }
};

std::unique_ptr<Student> make_bert_student(model::Bert model);
std::unique_ptr<Student> make_sentence_student(model::SentenceClassifier model);

}  // namespace kdtext::distill
