#include <gtest/gtest.h>

#include "kdtext/text/corpus.h"
#include "kdtext/error.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::text;
using kdtext::testing::TempDir;
using kdtext::testing::write_file;

namespace {
std::vector<Document> read_all(const std::vector<std::string>& inputs, DocMode mode) {
  CorpusReader r(expand_inputs(inputs), mode);
  std::vector<Document> docs;
  Document d;
  while (r.next(d)) docs.push_back(d);
  return docs;
}
}  // namespace

TEST(Corpus, LineModeStripsCrlfAndBomAndKeepsLineNumbers) {
  TempDir dir;
  write_file(dir / "a.txt", "\xEF\xBB\xBF" "first\r\nsecond\r\n\r\nfourth");
  const auto docs = read_all({(dir / "a.txt").string()}, DocMode::kLine);
  ASSERT_EQ(docs.size(), 4u);
  EXPECT_EQ(docs[0].text, "first");
  EXPECT_EQ(docs[1].text, "second");
  EXPECT_EQ(docs[2].text, "");
  EXPECT_EQ(docs[3].text, "fourth");
  EXPECT_EQ(docs[3].line, 4u);
  EXPECT_EQ(docs[3].file, (dir / "a.txt").string());
}

TEST(Corpus, ParagraphModeJoinsLinesUntilBlank) {
  TempDir dir;
  write_file(dir / "p.txt", "\n\none a\none b\n\n  \ntwo\n\n\nthree a\nthree b");
  const auto docs = read_all({(dir / "p.txt").string()}, DocMode::kParagraph);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].text, "one a\none b");
  EXPECT_EQ(docs[0].line, 3u);
  EXPECT_EQ(docs[1].text, "two");
  EXPECT_EQ(docs[1].line, 7u);
  EXPECT_EQ(docs[2].text, "three a\nthree b");
}

TEST(Corpus, DirectoriesExpandSortedAndSkipHiddenFiles) {
  TempDir dir;
  write_file(dir / "in" / "b.txt", "B\n");
  write_file(dir / "in" / "a.txt", "A\n");
  write_file(dir / "in" / "sub" / "c.txt", "C\n");
  write_file(dir / "in" / ".hidden", "H\n");
  const auto docs = read_all({(dir / "in").string()}, DocMode::kLine);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_EQ(docs[0].text, "A");
  EXPECT_EQ(docs[1].text, "B");
  EXPECT_EQ(docs[2].text, "C");
}

TEST(Corpus, MissingInputIsAConfigErrorNamingThePath) {
  try {
    expand_inputs({"/no/such/corpus.txt"});
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/no/such/corpus.txt"), std::string::npos);
  }
  EXPECT_THROW(expand_inputs({}), ConfigError);
}

TEST(Corpus, TracksBytesForProgress) {
  TempDir dir;
  write_file(dir / "a.txt", "12345\n6789\n");
  CorpusReader r(expand_inputs({(dir / "a.txt").string()}), DocMode::kLine);
  EXPECT_EQ(r.total_bytes(), 11u);
  Document d;
  while (r.next(d)) {
  }
  EXPECT_EQ(r.bytes_read(), 11u);
}
