#include <gtest/gtest.h>

#include "kdtext/text/normalizer.h"

using namespace kdtext::text;

TEST(Normalizer, NfkcFoldsCompatibilityCharacters) {
  Normalizer n;
  EXPECT_EQ(n.normalize("\xEF\xBC\xA1\xEF\xBC\xA2\xEF\xBC\x91"), "AB1");  // fullwidth ＡＢ１
  EXPECT_EQ(n.normalize("\xEF\xAC\x81le"), "file");                       // ﬁ ligature
  EXPECT_EQ(n.normalize("\xE2\x91\xA0"), "1");                            // circled ①
  EXPECT_EQ(n.normalize("e\xCC\x81"), "\xC3\xA9");                        // e + combining acute -> é
}

TEST(Normalizer, NfkcCanBeDisabled) {
  NormalizerOptions o;
  o.nfkc = false;
  Normalizer n(o);
  EXPECT_EQ(n.normalize("\xEF\xAC\x81"), "\xEF\xAC\x81");
}

TEST(Normalizer, RemovesControlAndFormatCharacters) {
  Normalizer n;
  EXPECT_EQ(n.normalize("a\x01" "b\x7F" "c"), "abc");
  EXPECT_EQ(n.normalize("zero\xE2\x80\x8Bwidth"), "zerowidth");      // U+200B (Cf)
  EXPECT_EQ(n.normalize("\xEF\xBB\xBFstart"), "start");              // U+FEFF (Cf)
  EXPECT_EQ(n.normalize("\xC2\x85\xE4\xB8\xAD"), "\xE4\xB8\xAD");    // U+0085 NEL is whitespace -> trimmed
}

TEST(Normalizer, CollapsesAndTrimsWhitespace) {
  Normalizer n;
  EXPECT_EQ(n.normalize("  hello \t\t world \r\n"), "hello world");
  EXPECT_EQ(n.normalize("\xE4\xB8\xAD\xE3\x80\x80\xE6\x96\x87"), "\xE4\xB8\xAD \xE6\x96\x87");  // U+3000
  EXPECT_EQ(n.normalize("a\xC2\xA0\xC2\xA0" "b"), "a b");  // NBSP (NFKC -> space) collapsed
  EXPECT_EQ(n.normalize(" \t "), "");
}

TEST(Normalizer, LowercasesAsciiAndUnicodeAlike) {
  NormalizerOptions o;
  o.lowercase = true;
  Normalizer n(o);
  EXPECT_EQ(n.normalize("Hello WORLD"), "hello world");
  EXPECT_EQ(n.normalize("\xC3\x84pfel \xC3\x96L"), "\xC3\xA4pfel \xC3\xB6l");  // Äpfel ÖL
  EXPECT_EQ(n.normalize("\xCE\xA3\xCE\x9F\xCE\xA6"), "\xCF\x83\xCE\xBF\xCF\x86");  // ΣΟΦ -> σοφ (no final-sigma context)
}

TEST(Normalizer, AsciiFastPathMatchesUnicodePath) {
  // The same ASCII text followed by one CJK character goes through ICU; the
  // ASCII part must come out identical.
  NormalizerOptions o;
  o.lowercase = true;
  Normalizer n(o);
  const std::string ascii = "  Mixed\tCASE \x01text\x7F  with   spaces ";
  const std::string via_ascii = n.normalize(ascii);
  const std::string via_icu = n.normalize(ascii + "\xE4\xB8\xAD");
  EXPECT_EQ(via_ascii, "mixed case text with spaces");
  EXPECT_EQ(via_icu, via_ascii + " \xE4\xB8\xAD");
}

TEST(Normalizer, KeepsChineseText) {
  Normalizer n;
  const std::string zh = "\xE4\xBB\x8A\xE5\xA4\xA9\xE5\xA4\xA9\xE6\xB0\x94\xE5\xBE\x88\xE5\xA5\xBD";  // 今天天气很好
  EXPECT_EQ(n.normalize(zh), zh);
  EXPECT_EQ(n.normalize("\xEF\xBC\x8C"), ",");  // fullwidth comma -> ASCII comma under NFKC
}
