#include <gtest/gtest.h>

#include "kdtext/text/cleaner.h"
#include "kdtext/error.h"

using namespace kdtext;
using namespace kdtext::text;

namespace {
bool feed(CorpusCleaner& c, const std::string& text, uint64_t line = 1) {
  Document d{text, "corpus.txt", line};
  return c.accept(d, c.normalize(d));
}
}  // namespace

TEST(Cleaner, DeduplicatesAfterNormalisation) {
  CorpusCleaner c(CleanOptions{});
  EXPECT_TRUE(feed(c, "Hello world"));
  EXPECT_FALSE(feed(c, "Hello   world "));         // same after whitespace collapse
  EXPECT_FALSE(feed(c, "Hello\xE2\x80\x8B world"));  // same after removing U+200B
  EXPECT_TRUE(feed(c, "hello world"));              // case differs: kept (no lowercasing)
  EXPECT_EQ(c.stats().documents_read, 4u);
  EXPECT_EQ(c.stats().documents_kept, 2u);
  EXPECT_EQ(c.stats().duplicates_removed, 2u);
}

TEST(Cleaner, DedupCanBeDisabled) {
  CleanOptions o;
  o.dedup = false;
  CorpusCleaner c(o);
  EXPECT_TRUE(feed(c, "same"));
  EXPECT_TRUE(feed(c, "same"));
  EXPECT_EQ(c.stats().duplicates_removed, 0u);
}

TEST(Cleaner, LengthFiltersCountCodePoints) {
  CleanOptions o;
  o.min_chars = 3;
  o.max_chars = 5;
  CorpusCleaner c(o);
  EXPECT_FALSE(feed(c, "ab"));
  EXPECT_TRUE(feed(c, "abc"));
  EXPECT_TRUE(feed(c, "\xE4\xB8\xAD\xE6\x96\x87\xE5\xAD\x97\xE5\x85\xB8\xE5\xA5\xBD"));  // 5 CJK chars = 15 bytes
  EXPECT_FALSE(feed(c, "abcdef"));
  EXPECT_FALSE(feed(c, "   \x01  "));  // empty after cleaning
  EXPECT_EQ(c.stats().filtered_too_short, 2u);
  EXPECT_EQ(c.stats().filtered_too_long, 1u);
  EXPECT_EQ(c.stats().documents_kept, 2u);
}

TEST(Cleaner, InvalidUtf8ErrorNamesFileLineAndByte) {
  CorpusCleaner c(CleanOptions{});
  Document d{"ok \xFF bad", "dir/corpus.txt", 17};
  try {
    c.normalize(d);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("dir/corpus.txt:17"), std::string::npos) << msg;
    EXPECT_NE(msg.find("0xFF"), std::string::npos) << msg;
    EXPECT_NE(msg.find("offset 3"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--invalid-utf8"), std::string::npos) << msg;
  }
}

TEST(Cleaner, InvalidUtf8RepairAndSkipAreCounted) {
  CleanOptions o;
  o.invalid_utf8 = "repair";
  CorpusCleaner repair(o);
  Document d{"bad \xFF byte", "f", 1};
  const Normalized n = repair.normalize(d);
  EXPECT_EQ(n.text, "bad \xEF\xBF\xBD byte");
  EXPECT_TRUE(repair.accept(d, n));
  EXPECT_EQ(repair.stats().invalid_utf8_repaired, 1u);

  o.invalid_utf8 = "skip";
  CorpusCleaner skip(o);
  EXPECT_FALSE(skip.accept(d, skip.normalize(d)));
  EXPECT_EQ(skip.stats().invalid_utf8_skipped, 1u);
  EXPECT_EQ(skip.stats().documents_kept, 0u);
}

TEST(Cleaner, ValidationNamesTheKey) {
  CleanOptions o;
  o.invalid_utf8 = "ignore";
  EXPECT_THROW(validate(o, "clean"), ConfigError);
  o = CleanOptions{};
  o.min_chars = 10;
  o.max_chars = 5;
  try {
    validate(o, "clean");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("clean.max_chars"), std::string::npos);
  }
}
