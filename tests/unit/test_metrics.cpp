#include <gtest/gtest.h>

#include "kdtext/eval/metrics.h"

using kdtext::eval::classification_metrics;

TEST(Metrics, HandComputedThreeClassExample) {
  // gold:      0 0 0 1 1 2 2 2 2 2
  // predicted: 0 0 1 1 2 2 2 2 0 1
  const std::vector<int64_t> gold{0, 0, 0, 1, 1, 2, 2, 2, 2, 2};
  const std::vector<int64_t> pred{0, 0, 1, 1, 2, 2, 2, 2, 0, 1};
  const auto m = classification_metrics(gold, pred, 3);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.6);
  EXPECT_DOUBLE_EQ(m.micro_f1, 0.6);
  // class 0: tp 2, predicted 3, actual 3 -> P 2/3, R 2/3, F1 2/3
  EXPECT_NEAR(m.per_class[0].precision, 2.0 / 3, 1e-12);
  EXPECT_NEAR(m.per_class[0].f1, 2.0 / 3, 1e-12);
  // class 1: tp 1, predicted 3, actual 2 -> P 1/3, R 1/2, F1 0.4
  EXPECT_NEAR(m.per_class[1].precision, 1.0 / 3, 1e-12);
  EXPECT_NEAR(m.per_class[1].recall, 0.5, 1e-12);
  EXPECT_NEAR(m.per_class[1].f1, 0.4, 1e-12);
  // class 2: tp 3, predicted 4, actual 5 -> P 0.75, R 0.6, F1 2/3
  EXPECT_NEAR(m.per_class[2].f1, 2 * 0.75 * 0.6 / 1.35, 1e-12);
  EXPECT_EQ(m.per_class[2].support, 5);
  EXPECT_NEAR(m.macro_f1, (2.0 / 3 + 0.4 + 2 * 0.75 * 0.6 / 1.35) / 3, 1e-12);
  EXPECT_EQ(m.confusion[2], (std::vector<int64_t>{1, 1, 3}));
  EXPECT_EQ(m.confusion[1], (std::vector<int64_t>{0, 1, 1}));
}

TEST(Metrics, ClassNeverPredictedHasZeroPrecision) {
  const auto m = classification_metrics({0, 1, 1}, {0, 0, 0}, 2);
  EXPECT_DOUBLE_EQ(m.per_class[1].precision, 0.0);
  EXPECT_DOUBLE_EQ(m.per_class[1].f1, 0.0);
  EXPECT_NEAR(m.per_class[0].f1, 0.5, 1e-12);  // P 1/3, R 1
  EXPECT_NEAR(m.macro_f1, 0.25, 1e-12);
  const auto j = m.to_json({"a", "b"});
  EXPECT_EQ(j["per_class"]["b"]["support"], 2);
  EXPECT_EQ(j["confusion_matrix"][1][0], 2);
}

TEST(Metrics, ManyLabelsKeepTheConfusionSparseAndTheReportShort) {
  // 10,000 labels, 4 examples: gold 0,1,2,9999; predicted 0,2,2,9999.
  const int64_t k = 10000;
  std::vector<std::string> names;
  for (int64_t i = 0; i < k; ++i) names.push_back("l" + std::to_string(i));
  const auto m = kdtext::eval::classification_metrics({0, 1, 2, 9999}, {0, 2, 2, 9999}, k);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.75);
  EXPECT_TRUE(m.confusion.empty());
  EXPECT_EQ(m.cells.size(), 4u);
  EXPECT_EQ(m.cells.at({2, 2}), 1);
  EXPECT_DOUBLE_EQ(m.per_class[2].precision, 0.5);  // predicted twice, right once
  EXPECT_DOUBLE_EQ(m.per_class[1].recall, 0.0);
  // macro-F1: classes 0, 9999 at 1, class 2 at 2/3, the other 9,997 at 0.
  EXPECT_NEAR(m.macro_f1, (2.0 + 2.0 / 3.0) / k, 1e-12);
  const auto j = m.to_json(names);
  EXPECT_FALSE(j.contains("confusion_matrix"));
  EXPECT_EQ(j["confusion_cells"], kdtext::Json::parse("[[0,0,1],[1,2,1],[2,2,1],[9999,9999,1]]"));
  EXPECT_LT(j.dump().size(), 2000000u);
  const auto report = m.report(names);
  EXPECT_NE(report.find("10000 labels: the per-class figures and the confusion matrix are in the metrics file"),
            std::string::npos);
  EXPECT_LT(report.size(), 400u);
}
