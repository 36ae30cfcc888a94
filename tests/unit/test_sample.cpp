#include <gtest/gtest.h>

#include "kdtext/text/sample.h"

using kdtext::text::ReservoirSample;

TEST(ReservoirSample, KeepsEverythingUnderTheBounds) {
  ReservoirSample s(10, 1000, 100, 1);
  for (int i = 0; i < 5; ++i) s.offer("doc" + std::to_string(i));
  ASSERT_EQ(s.documents().size(), 5u);
  EXPECT_EQ(s.documents()[4], "doc4");
  EXPECT_EQ(s.bytes(), 20u);
}

TEST(ReservoirSample, RespectsDocumentAndByteBounds) {
  ReservoirSample by_count(50, 1 << 20, 100, 1);
  ReservoirSample by_bytes(1000, 500, 100, 1);
  for (int i = 0; i < 10000; ++i) {
    const std::string doc(10, static_cast<char>('a' + i % 26));
    by_count.offer(doc);
    by_bytes.offer(doc);
    ASSERT_LE(by_bytes.bytes(), 500u);
  }
  EXPECT_EQ(by_count.documents().size(), 50u);
  EXPECT_EQ(by_bytes.documents().size(), 50u);  // 500 bytes / 10 bytes each
  EXPECT_EQ(by_count.seen(), 10000u);
}

TEST(ReservoirSample, TruncatesLongDocumentsAtCharacterBoundaries) {
  ReservoirSample s(10, 1000, 5, 1);
  s.offer("\xE4\xB8\xAD\xE6\x96\x87");  // two 3-byte characters; 5 bytes would split the second
  EXPECT_EQ(s.documents()[0], "\xE4\xB8\xAD");
}

TEST(ReservoirSample, IsUniformOverTheStream) {
  // Every position of a 2000-document stream should be equally likely to be
  // kept: average the kept positions over many seeds, separately for the
  // first and second half of the stream.
  double first_half = 0, second_half = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    ReservoirSample s(100, 1 << 20, 100, seed);
    for (int i = 0; i < 2000; ++i) s.offer(std::to_string(i));
    for (const auto& d : s.documents()) (std::stoi(d) < 1000 ? first_half : second_half) += 1;
  }
  const double total = first_half + second_half;
  EXPECT_EQ(total, 200.0 * 100);
  EXPECT_NEAR(first_half / total, 0.5, 0.02);

  // The same holds when the byte budget shrinks the reservoir along the way.
  first_half = second_half = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    ReservoirSample s(1000, 300, 100, seed);
    for (int i = 0; i < 2000; ++i) s.offer(std::to_string(1000 + i));  // 4 bytes each
    for (const auto& d : s.documents()) (std::stoi(d) < 2000 ? first_half : second_half) += 1;
  }
  EXPECT_NEAR(first_half / (first_half + second_half), 0.5, 0.03);
}
