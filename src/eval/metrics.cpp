#include "kdtext/eval/metrics.h"

#include <cstdio>
#include <stdexcept>

namespace kdtext::eval {

ClassificationMetrics classification_metrics(const std::vector<int64_t>& gold, const std::vector<int64_t>& pred,
                                             int64_t k) {
  if (gold.size() != pred.size()) throw std::invalid_argument("metrics: gold and predicted sizes differ");
  ClassificationMetrics m;
  m.n = static_cast<int64_t>(gold.size());
  std::vector<int64_t> tp(static_cast<size_t>(k), 0), predicted(static_cast<size_t>(k), 0),
      actual(static_cast<size_t>(k), 0);
  int64_t correct = 0;
  for (size_t i = 0; i < gold.size(); ++i) {
    if (gold[i] < 0 || gold[i] >= k || pred[i] < 0 || pred[i] >= k) {
      throw std::out_of_range("metrics: label id outside [0, " + std::to_string(k) + ")");
    }
    ++m.cells[{gold[i], pred[i]}];
    ++actual[static_cast<size_t>(gold[i])];
    ++predicted[static_cast<size_t>(pred[i])];
    if (gold[i] == pred[i]) {
      ++tp[static_cast<size_t>(gold[i])];
      ++correct;
    }
  }
  if (k <= kDenseLabels) {
    m.confusion.assign(static_cast<size_t>(k), std::vector<int64_t>(static_cast<size_t>(k), 0));
    for (const auto& [cell, count] : m.cells) m.confusion[cell.first][cell.second] = count;
  }
  m.accuracy = m.n ? static_cast<double>(correct) / static_cast<double>(m.n) : 0.0;
  m.micro_f1 = m.accuracy;
  m.per_class.resize(static_cast<size_t>(k));
  for (size_t c = 0; c < static_cast<size_t>(k); ++c) {
    auto& pc = m.per_class[c];
    pc.support = actual[c];
    pc.precision = predicted[c] ? static_cast<double>(tp[c]) / static_cast<double>(predicted[c]) : 0.0;
    pc.recall = actual[c] ? static_cast<double>(tp[c]) / static_cast<double>(actual[c]) : 0.0;
    pc.f1 = (pc.precision + pc.recall) > 0 ? 2 * pc.precision * pc.recall / (pc.precision + pc.recall) : 0.0;
    m.macro_precision += pc.precision / static_cast<double>(k);
    m.macro_recall += pc.recall / static_cast<double>(k);
    m.macro_f1 += pc.f1 / static_cast<double>(k);
  }
  return m;
}

Json ClassificationMetrics::to_json(const std::vector<std::string>& names) const {
  Json classes = Json::object();
  for (size_t c = 0; c < per_class.size(); ++c) {
    classes[names.at(c)] = {{"precision", per_class[c].precision},
                            {"recall", per_class[c].recall},
                            {"f1", per_class[c].f1},
                            {"support", per_class[c].support}};
  }
  Json j{{"examples", n},     {"accuracy", accuracy}, {"macro_precision", macro_precision},
         {"macro_recall", macro_recall}, {"macro_f1", macro_f1}, {"micro_f1", micro_f1},
         {"per_class", classes}, {"labels", names}};
  if (per_class.size() <= static_cast<size_t>(kDenseLabels)) {
    j["confusion_matrix"] = confusion;
  } else {
    Json sparse = Json::array();
    for (const auto& [cell, count] : cells) sparse.push_back({cell.first, cell.second, count});
    j["confusion_cells"] = std::move(sparse);
  }
  return j;
}

std::string ClassificationMetrics::report(const std::vector<std::string>& names) const {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof buf, "examples %lld | accuracy %.4f | macro-F1 %.4f | micro-F1 %.4f\n",
                static_cast<long long>(n), accuracy, macro_f1, micro_f1);
  out += buf;
  if (per_class.size() > static_cast<size_t>(kDenseLabels)) {
    return out + std::to_string(per_class.size()) + " labels: the per-class figures and the confusion matrix are in "
                 "the metrics file only\n";
  }
  out += "label                precision  recall     f1  support\n";
  for (size_t c = 0; c < per_class.size(); ++c) {
    std::snprintf(buf, sizeof buf, "%-20.20s %9.4f %7.4f %6.4f %8lld\n", names.at(c).c_str(), per_class[c].precision,
                  per_class[c].recall, per_class[c].f1, static_cast<long long>(per_class[c].support));
    out += buf;
  }
  out += "confusion matrix (rows gold, columns predicted):\n";
  for (size_t g = 0; g < confusion.size(); ++g) {
    std::snprintf(buf, sizeof buf, "%-20.20s", names.at(g).c_str());
    out += buf;
    for (auto v : confusion[g]) {
      std::snprintf(buf, sizeof buf, " %6lld", static_cast<long long>(v));
      out += buf;
    }
    out += "\n";
  }
  return out;
}

}  // namespace kdtext::eval
