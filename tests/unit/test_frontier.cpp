// The frontier report of kdtext-recipe --student frontier (distill/frontier.h)
// on figures chosen so every rule is decided by hand: which models are
// Pareto-optimal, the fastest student within 1, 2 and 3 points (boundaries
// included), the speed-ups, and what the table and the plot show.
#include <gtest/gtest.h>

#include <stdexcept>

#include "kdtext/distill/frontier.h"

using namespace kdtext;
using namespace kdtext::distill;

namespace frontier_test {
Json model(const std::string& name, const std::string& kind, double per_s, double dev) {
  return Json{{"model", name}, {"kind", kind}, {"sentences_per_s", per_s}, {"dev", {{"accuracy", dev}}},
              {"test", nullptr}};
}
std::vector<Json> figures() {
  return {model("teacher", "teacher", 100, 0.90),           model("bilstm", "distilled", 2000, 0.892),
          model("cnn", "distilled", 2500, 0.87),            model("cnn-labels-only", "labels_only", 2400, 0.86),
          model("bag", "distilled", 50000, 0.85),           model("bag-labels-only", "labels_only", 52000, 0.80),
          model("fastText <bigrams>", "peer", 40000, 0.806)};
}
}  // namespace frontier_test

TEST(Frontier, ParetoFrontFastestWithinPointsAndSpeedups) {
  const Json r = frontier_report(frontier_test::figures());
  std::map<std::string, Json> by_name;
  for (const auto& m : r.at("models")) by_name[m.at("model").get<std::string>()] = m;
  // cnn-labels-only is slower and less accurate than cnn; fastText than bag. Every other model is on the front.
  for (const char* name : {"teacher", "bilstm", "cnn", "bag", "bag-labels-only"}) {
    EXPECT_TRUE(by_name.at(name).at("pareto").get<bool>()) << name;
  }
  EXPECT_FALSE(by_name.at("cnn-labels-only").at("pareto").get<bool>());
  EXPECT_FALSE(by_name.at("fastText <bigrams>").at("pareto").get<bool>());
  EXPECT_DOUBLE_EQ(by_name.at("bag").at("speedup").get<double>(), 500.0);
  EXPECT_DOUBLE_EQ(by_name.at("teacher").at("speedup").get<double>(), 1.0);
  // Within 1 point (>= 89.0): bilstm; within 2 (>= 88.0): still bilstm; within 3 (>= 87.0, cnn exactly): cnn.
  EXPECT_EQ(r.at("fastest_within").at("1"), "bilstm");
  EXPECT_EQ(r.at("fastest_within").at("2"), "bilstm");
  EXPECT_EQ(r.at("fastest_within").at("3"), "cnn");
  // Peers (fastText) are plotted but never named as the student to deploy.
  auto only_slow = frontier_test::figures();
  only_slow.erase(only_slow.begin() + 1, only_slow.begin() + 6);
  EXPECT_TRUE(frontier_report(only_slow).at("fastest_within").at("3").is_null());
}

TEST(Frontier, TableAndPlotShowEveryModel) {
  const Json r = frontier_report(frontier_test::figures());
  const std::string md = frontier_markdown(r);
  EXPECT_NE(md.find("| bag | distilled | 85.00 | - | 50000 | 500.0x | yes |"), std::string::npos) << md;
  EXPECT_NE(md.find("Fastest student within 3 points of the teacher (dev): `cnn`."), std::string::npos) << md;
  const std::string svg = frontier_svg(r);
  for (const char* name : {"teacher", "bilstm", "cnn", "cnn-labels-only", "bag", "bag-labels-only"}) {
    EXPECT_NE(svg.find(std::string(">") + name + "</text>"), std::string::npos) << name;
  }
  EXPECT_NE(svg.find("fastText &lt;bigrams&gt;"), std::string::npos);  // names are escaped
  EXPECT_NE(svg.find("<polyline"), std::string::npos);
  EXPECT_NE(svg.find(">100</text>"), std::string::npos);     // decades 10^2 .. 10^5 on the log axis
  EXPECT_NE(svg.find(">100000</text>"), std::string::npos);
}

TEST(Frontier, NeedsExactlyOneTeacher) {
  auto none = frontier_test::figures();
  none.erase(none.begin());
  EXPECT_THROW(frontier_report(none), std::invalid_argument);
  auto two = frontier_test::figures();
  two.push_back(frontier_test::model("t2", "teacher", 50, 0.9));
  EXPECT_THROW(frontier_report(two), std::invalid_argument);
}
