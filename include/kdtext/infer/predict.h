// Batched classification inference: the one routine behind fine-tuning's and
// distillation's evaluation, their best-checkpoint reports, and kdtext-classify.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kdtext/infer/engine.h"
#include "kdtext/infer/precision_probe.h"
#include "kdtext/infer/threads.h"
#include "kdtext/model/bert.h"
#include "kdtext/model/sentence.h"
#include "kdtext/feed/batching.h"
#include "kdtext/text/labelled.h"
#include "kdtext/text/tokenizer.h"
#include "kdtext/util/json.h"

namespace kdtext::infer {

// The batched routine behind every prediction: rows [N, width] (CPU,
// float32) in the order of `encoded`, computed by `forward` (a CPU batch to
// its CPU float32 rows) over length-sorted batches. When `batch_seconds` is
// given, (rows, wall time) of every batch is appended to it.
torch::Tensor predict_rows(const std::vector<feed::Encoded>& encoded, int64_t batch_size, int64_t width,
                           const std::function<torch::Tensor(const feed::Batch&)>& forward,
                           std::vector<std::pair<int64_t, double>>* batch_seconds = nullptr);

// Classifier logits [N, K] (CPU, float32) in the order of `encoded`.
// Batches are sorted by length for speed; the model must be in eval mode.
// When `batch_seconds` is given, (rows, wall time) of every batch is appended to it.
torch::Tensor predict_logits(model::BertImpl& model, const std::vector<feed::Encoded>& encoded, int64_t batch_size,
                             torch::Device device, std::vector<std::pair<int64_t, double>>* batch_seconds = nullptr);

// The same for a prepared inference engine (kdtext-classify, evaluation of a
// saved checkpoint); `threads`, when given, is updated before each batch.
torch::Tensor predict_logits(const ClassifierEngine& engine, const std::vector<feed::Encoded>& encoded, int64_t batch_size,
                             std::vector<std::pair<int64_t, double>>* batch_seconds = nullptr,
                             AdaptiveThreads* threads = nullptr);

// Class probabilities: the softmax of predict_logits.
torch::Tensor predict_probabilities(model::BertImpl& model, const std::vector<feed::Encoded>& encoded,
                                    int64_t batch_size, torch::Device device);

// A classification checkpoint loaded for inference: its engine (weights
// prepared for `device` and the precision), config, tokenizer and label names.
// A transformer ("bert") has `config`; a bilstm, cnn or bag student
// (model/sentence.h) has `sentence`.
struct LoadedModel {
  std::filesystem::path dir;
  std::string architecture = "bert";
  model::BertConfig config;
  model::SentenceConfig sentence;
  int64_t parameters = 0;
  std::shared_ptr<const ClassifierEngine> engine;
  Precision precision = Precision::kFloat32;  // the engine's (auto resolved)
  Precision requested = Precision::kFloat32;
  std::vector<PrecisionMeasurement> measured;  // when measured at load (auto, explicit bf16/int8 on the CPU)
  std::string precision_reason;                // auto: why this precision
  std::shared_ptr<AdaptiveThreads> threads;  // null: the thread count stays fixed
  std::unique_ptr<text::Tokenizer> tokenizer;
  text::LabelMap labels;
  torch::Device device{torch::kCPU};
};

// The precision a loaded model runs in, for metrics and timings files:
// {"precision", "precision_requested"} and, when measured, "precision_measured"
// ([{precision, seconds, agreement}]) and (auto) "precision_reason".
Json precision_facts(const LoadedModel& m);

// Throws InputError naming the directory when it is not a checkpoint or has
// no classification head. `precision` may be auto, and an explicit bf16 or
// int8 on the CPU is measured against fp32 (resolve_precision in
// infer/precision_probe.h), at the run's batch size and max_len (0: the
// model's limit), comparing labels on `sample` (the run's own text) when given.
LoadedModel load_classifier(const std::filesystem::path& dir, torch::Device device,
                           Precision precision = Precision::kFloat32, int64_t batch_size = 32, int64_t max_len = 0,
                           const std::vector<text::Example>* sample = nullptr);

// The longest input the model takes: `requested` (0: the model's
// max_position_embeddings). A request over the model's limit is a
// ConfigError naming `key` (no silent clamp).
int64_t checked_max_len(int64_t requested, const model::BertConfig& config, const std::string& key);
// The same for any loaded model. The non-transformer students have no
// position limit: 0 then means kSentenceDefaultMaxLen tokens.
inline constexpr int64_t kSentenceDefaultMaxLen = 512;
int64_t checked_max_len(int64_t requested, const LoadedModel& model, const std::string& key);

// Reads a labelled file, classifies it and scores the predictions; the
// returned JSON holds the metrics plus "file" and "skipped_lines".
Json evaluate_on_file(const LoadedModel& classifier, const text::LabelledFormat& format, const std::string& path,
                      int64_t max_len, int64_t batch_size);

// evaluate_on_file for each {name, path} with a non-empty path: metrics[name].
void evaluate_on_files(const LoadedModel& classifier, const std::vector<std::pair<std::string, std::string>>& files,
                       const text::LabelledFormat& format, int64_t max_len, int64_t batch_size, Json& metrics);

}  // namespace kdtext::infer
