// kdtext-classify's output: predictions as TSV rows or JSON lines (private to the stage).
#pragma once

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

#include "kdtext/infer/predict.h"
#include "kdtext/stages/classify.h"
#include "kdtext/text/labelled.h"
#include "kdtext/util/json.h"

namespace kdtext::stages {

// Formats predictions as TSV rows (with a header line) or JSON lines.
class PredictionWriter {
 public:
  PredictionWriter(const ClassifyConfig& c, const std::vector<std::string>& names);
  // Appends one row per example of `data` (logits [N, K] in its order and
  // their softmax); returns the predicted label ids.
  std::vector<int64_t> add(const std::string& input, const text::LabelledData& data, const torch::Tensor& logits,
                           const torch::Tensor& probs);
  const std::string& text() const { return out_; }
  // The text so far, handed over (the writer starts empty again).
  std::string take() { return std::exchange(out_, std::string()); }

 private:
  using Row = at::TensorAccessor<float, 1>;
  using Ids = at::TensorAccessor<int64_t, 1>;
  Json json_row(const std::string& input, uint64_t line, const Row& top_p, const Ids& top_i, const Row& all_p,
                const Row& all_z, int64_t labels) const;

  const ClassifyConfig& c_;
  const std::vector<std::string>& names_;
  int64_t k_;
  std::string out_;
};

// What a run has classified so far.
struct ClassifyTotals {
  std::vector<int64_t> gold, predicted;
  uint64_t skipped = 0, texts = 0;
  double seconds = 0, tokenize_seconds = 0;
  std::vector<std::pair<int64_t, double>> batch_seconds;
};

// Before any work: every output (--output, --metrics, --timings) can be
// written, and none of them is an input (--eval -o on its own labelled file
// would replace it with predictions). ConfigError naming the flag.
void check_outputs(const ClassifyConfig& c);

// --timings: tokenisation time, model time and per-batch latencies (JSON).
void write_timings(const ClassifyConfig& c, const infer::LoadedModel& m, const ClassifyTotals& t);
// --eval needs at least one labelled example: InputError naming the inputs.
void check_evaluable(const ClassifyConfig& c, const ClassifyTotals& t);
// --eval: scores the predictions against the gold labels, writes the metrics
// JSON (atomically) and prints the report on stderr; returns the metrics.
Json write_eval(const ClassifyConfig& c, const infer::LoadedModel& m, const ClassifyTotals& t);

}  // namespace kdtext::stages
