// Checkpoints written by earlier versions keep loading: every folder of
// tests/fixtures/checkpoints/ (tests/fixtures/make-checkpoints.sh wrote each
// with the kdtext of its time: a teacher and a student of every kind) is
// classified by today's kdtext-classify, which must give the labels and, to
// within 1e-4, the logits recorded when it was written.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <vector>

#include "test_util.h"

using namespace kdtext::testing;
namespace fs = std::filesystem;

namespace {

struct Row {
  std::string label;
  std::vector<double> logits;
};

std::vector<Row> rows_of(const std::string& tsv) {
  std::vector<Row> rows;
  std::istringstream in(tsv);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream cells(line);
    Row r;
    std::string cell;
    std::getline(cells, r.label, '\t');
    std::getline(cells, cell, '\t');  // probability
    while (std::getline(cells, cell, '\t')) r.logits.push_back(std::stod(cell));
    rows.push_back(r);
  }
  return rows;
}

}  // namespace

TEST(Compatibility, CheckpointsOfEarlierVersionsLoadAndClassifyTheSame) {
  TempDir dir;
  const fs::path fixtures = source_dir() / "tests" / "fixtures" / "checkpoints";
  int checked = 0;
  for (const auto& version : fs::directory_iterator(fixtures)) {
    for (const char* kind : {"teacher", "transformer", "bilstm", "cnn", "bag"}) {
      const fs::path model = version.path() / kind, expected = version.path() / (std::string(kind) + ".expected.tsv");
      if (!fs::exists(expected)) continue;
      SCOPED_TRACE(version.path().filename().string() + "/" + kind);
      const fs::path out = dir / (version.path().filename().string() + "-" + kind + ".tsv");
      const auto r = run_command(bin("kdtext-classify") + " -m " + quote(model.string()) + " " +
                                 quote((version.path() / "texts.txt").string()) +
                                 " --format lines --logits --threads 1 --quiet -o " + quote(out.string()));
      ASSERT_EQ(r.exit_code, 0) << r.output;
      const auto want = rows_of(read_file(expected)), got = rows_of(read_file(out));
      ASSERT_EQ(got.size(), want.size());
      ASSERT_FALSE(want.empty());
      for (size_t i = 0; i < want.size(); ++i) {
        ASSERT_EQ(got[i].logits.size(), want[i].logits.size()) << "row " << i;
        for (size_t k = 0; k < want[i].logits.size(); ++k) {
          EXPECT_NEAR(got[i].logits[k], want[i].logits[k], 1e-4) << "row " << i << " logit " << k;
        }
        EXPECT_EQ(got[i].label, want[i].label) << "row " << i;
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 5) << "no fixture checkpoints under " << fixtures;
}
