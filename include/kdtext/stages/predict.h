// Batched classification inference shared by finetune (evaluation) and classify.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "kdtext/model/bert.h"
#include "kdtext/text/batching.h"
#include "kdtext/text/labelled.h"
#include "kdtext/util/json.h"

namespace kdtext::stages {

// Classifier logits [N, K] (CPU, float32) in the order of `encoded`.
// Batches are sorted by length for speed; the model must be in eval mode.
// When `batch_seconds` is given, the wall time of every batch is appended to it.
torch::Tensor predict_logits(model::BertImpl& model, const std::vector<text::Encoded>& encoded, int64_t batch_size,
                             torch::Device device, std::vector<std::pair<int64_t, double>>* batch_seconds = nullptr);

// Class probabilities: the softmax of predict_logits.
torch::Tensor predict_probabilities(model::BertImpl& model, const std::vector<text::Encoded>& encoded,
                                    int64_t batch_size, torch::Device device,
                                    std::vector<std::pair<int64_t, double>>* batch_seconds = nullptr);

// Reads a labelled file, classifies it and scores the predictions; the
// returned JSON holds the metrics plus "file" and "skipped_lines".
Json evaluate_classifier_on_file(model::BertImpl& model, const text::Tokenizer& tokenizer,
                                 const text::LabelMap& labels, const text::LabelledFormat& format,
                                 const std::string& path, int64_t max_len, int64_t batch_size, torch::Device device);

}  // namespace kdtext::stages
