// Classification metrics: accuracy, macro and micro F1, per-class
// precision/recall/F1/support and the confusion matrix.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "kdtext/util/json.h"

namespace kdtext::eval {

struct ClassMetrics {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;
};

// Above this many labels the confusion matrix is kept sparse (its non-zero
// cells) and the readable report leaves out the per-class table and the matrix
// (they stay in to_json()): 10,000 labels would make a dense matrix of 10^8 cells.
inline constexpr int64_t kDenseLabels = 100;

struct ClassificationMetrics {
  int64_t n = 0;
  double accuracy = 0;
  double macro_precision = 0, macro_recall = 0, macro_f1 = 0;
  double micro_f1 = 0;  // equals accuracy for single-label classification
  std::vector<ClassMetrics> per_class;
  std::vector<std::vector<int64_t>> confusion;  // [gold][predicted], with at most kDenseLabels labels (else empty)
  std::map<std::pair<int64_t, int64_t>, int64_t> cells;  // (gold, predicted) -> count, the non-zero cells

  // "confusion_matrix" (dense rows) with at most kDenseLabels labels, else
  // "confusion_cells": [[gold, predicted, count], ...] (label ids, non-zero only).
  Json to_json(const std::vector<std::string>& label_names) const;
  // A readable multi-line report.
  std::string report(const std::vector<std::string>& label_names) const;
};

// Precision/recall/F1 of a class with no predictions (or no gold examples)
// is 0, as scikit-learn reports with zero_division=0.
ClassificationMetrics classification_metrics(const std::vector<int64_t>& gold, const std::vector<int64_t>& predicted,
                                             int64_t num_labels);

}  // namespace kdtext::eval
