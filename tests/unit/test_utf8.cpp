#include <gtest/gtest.h>

#include "kdtext/text/utf8.h"

using namespace kdtext::text;

TEST(Utf8, AcceptsWellFormedText) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("caf\xC3\xA9"));                 // é
  EXPECT_TRUE(is_valid_utf8("\xE4\xB8\xAD\xE6\x96\x87"));    // 中文
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));            // U+1F600
  EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));            // U+10FFFF
}

TEST(Utf8, RejectsMalformedSequencesAtTheRightOffset) {
  size_t at = 99;
  EXPECT_FALSE(is_valid_utf8("ab\xFF", &at));
  EXPECT_EQ(at, 2u);
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF", &at));           // overlong '/'
  EXPECT_EQ(at, 0u);
  EXPECT_FALSE(is_valid_utf8("x\xED\xA0\x80", &at));      // UTF-16 surrogate D800
  EXPECT_EQ(at, 1u);
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80", &at));   // above U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xE4\xB8", &at));           // truncated
  EXPECT_FALSE(is_valid_utf8("\x80", &at));               // lone continuation
}

TEST(Utf8, RepairReplacesMaximalSubparts) {
  size_t n = 0;
  // Truncated 3-byte sequence followed by ASCII: one replacement, ASCII kept.
  EXPECT_EQ(repair_utf8("a\xE4\xB8z", &n), "a\xEF\xBF\xBDz");
  EXPECT_EQ(n, 1u);
  // Two invalid bytes in a row are two replacements.
  EXPECT_EQ(repair_utf8("\xFF\xFE", &n), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(n, 2u);
  // Valid text is unchanged.
  EXPECT_EQ(repair_utf8("\xE4\xB8\xAD ok", &n), "\xE4\xB8\xAD ok");
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(is_valid_utf8(repair_utf8("\xC0\x80\xED\xA0\x80\xF8")));
}

TEST(Utf8, CountsCodePoints) {
  EXPECT_EQ(count_codepoints(""), 0u);
  EXPECT_EQ(count_codepoints("abc"), 3u);
  EXPECT_EQ(count_codepoints("\xE4\xB8\xAD\xE6\x96\x87"), 2u);
  EXPECT_EQ(count_codepoints("a\xF0\x9F\x98\x80"), 2u);
}
