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
