#include <gtest/gtest.h>

#include <numeric>

#include "kdtext/feed/mlm_data.h"
#include "kdtext/error.h"
#include "test_util.h"
#include "unit/word_tokenizer.h"

using namespace kdtext;
using namespace kdtext::text;
using namespace kdtext::feed;  // the training feeds (feed/), over text/'s readers
using kdtext::testing::TempDir;
using kdtext::testing::word_tokenizer;

namespace {
void write_shards(const std::filesystem::path& dir, const std::vector<std::vector<int32_t>>& docs, int64_t vocab) {
  ShardSetWriter w(dir, vocab, 1 << 20);
  for (const auto& d : docs) w.add_document(d);
  w.finish();
}
}  // namespace

TEST(MlmData, PackerFillsFixedLengthSequencesAcrossDocuments) {
  TempDir dir;
  write_shards(dir / "shards", {{10, 11, 12}, {20, 21}, {30, 31, 32, 33, 34}}, 100);
  ShardCorpus corpus(dir / "shards");
  EXPECT_EQ(corpus.documents(), 3u);
  SequencePacker p(corpus, {0, 1, 2}, 8, 1, /*shuffle=*/false);
  const auto a = p.next();
  const auto b = p.next();
  EXPECT_EQ(a, (std::vector<int64_t>{2, 10, 11, 12, 3, 20, 21, 3}));
  // 6 content slots per sequence; the third document continues where it must.
  EXPECT_EQ(b, (std::vector<int64_t>{2, 30, 31, 32, 33, 34, 3, 3}));
  EXPECT_EQ(p.next().front(), 2);  // wraps into the next epoch
  EXPECT_EQ(p.epoch(), 1);
}

TEST(MlmData, PackerStateRestoresTheExactStream) {
  TempDir dir;
  std::vector<std::vector<int32_t>> docs;
  for (int d = 0; d < 20; ++d) docs.push_back(std::vector<int32_t>(5 + d % 7, 5 + d));
  write_shards(dir / "shards", docs, 100);
  ShardCorpus corpus(dir / "shards");
  std::vector<uint64_t> all(20);
  std::iota(all.begin(), all.end(), 0);
  SequencePacker p(corpus, all, 16, 9, true);
  for (int i = 0; i < 7; ++i) p.next();
  const Json state = p.state();
  std::vector<std::vector<int64_t>> expected;
  for (int i = 0; i < 12; ++i) expected.push_back(p.next());
  SequencePacker q(corpus, all, 16, 9, true);
  q.restore(state);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(q.next(), expected[i]) << i;
}

TEST(MlmData, MaskingRatesAndSpecialTokens) {
  auto tok = word_tokenizer();
  MaskingOptions o;
  Masker masker(o, *tok, 5);
  auto ids = torch::randint(5, tok->vocab_size(), {200, 64}, torch::kLong);
  ids.select(1, 0).fill_(SpecialTokens::kCls);
  ids.select(1, 63).fill_(SpecialTokens::kSep);
  const auto original = ids.clone();
  auto labels = masker.mask(ids, 0);
  const auto selected = labels.ne(-100);
  const double rate = selected.sum().item<double>() / (200.0 * 62.0);
  EXPECT_NEAR(rate, 0.15, 0.005);
  // Labels hold the original ids; special tokens are never selected.
  EXPECT_TRUE(torch::equal(labels.masked_select(selected), original.masked_select(selected)));
  EXPECT_EQ(selected.select(1, 0).sum().item<int64_t>(), 0);
  EXPECT_EQ(selected.select(1, 63).sum().item<int64_t>(), 0);
  // 80% [MASK], 10% random, 10% unchanged among the selected.
  const double n = selected.sum().item<double>();
  const double to_mask = ids.masked_select(selected).eq(SpecialTokens::kMask).sum().item<double>() / n;
  const double unchanged = ids.masked_select(selected).eq(original.masked_select(selected)).sum().item<double>() / n;
  EXPECT_NEAR(to_mask, 0.8, 0.03);
  EXPECT_NEAR(unchanged, 0.1 + 0.1 / (tok->vocab_size() - 5), 0.03);
  // Unselected positions are untouched.
  EXPECT_TRUE(torch::equal(ids.masked_select(selected.logical_not()), original.masked_select(selected.logical_not())));
}

TEST(MlmData, WholeWordMaskingTakesEveryPieceOfAWord) {
  auto tok = word_tokenizer();
  MaskingOptions o;
  o.whole_word = true;
  o.mask_prob = 0.3;
  Masker masker(o, *tok, 11);
  const auto pieces = tok->encode("internationalisation extraordinary unbelievable cat dog house tree sun");
  auto ids = torch::tensor(std::vector<int64_t>(pieces.begin(), pieces.end()), torch::kLong).unsqueeze(0).repeat({50, 1});
  auto labels = masker.mask(ids, 0);
  // Within every row, each word is either fully selected or not at all.
  int64_t continuations_selected = 0, selected = 0;
  for (int64_t r = 0; r < 50; ++r) {
    int64_t word_selected = -1;
    for (size_t t = 0; t < pieces.size(); ++t) {
      const bool starts = tok->id_to_piece(pieces[t]).rfind("\xE2\x96\x81", 0) == 0;
      const bool sel = labels[r][static_cast<int64_t>(t)].item<int64_t>() != -100;
      selected += sel;
      if (starts) {
        word_selected = sel;
      } else {
        EXPECT_EQ(sel, word_selected == 1) << "row " << r << " piece " << t;
        continuations_selected += sel;
      }
    }
  }
  // Something was masked, multi-piece words among it, at about the 30% token rate.
  const double rate = double(selected) / double(50 * pieces.size());
  EXPECT_GT(continuations_selected, 0);
  EXPECT_GT(rate, 0.2);
  EXPECT_LT(rate, 0.4);
}

// A sequence's mask depends on its number in the stream only: masking rows
// 0-5 as one batch equals masking 0-1, 2-3 and 4-5 as three (what the
// processes of a data-parallel run do), and another number masks differently.
TEST(MlmData, MaskDependsOnTheSequenceNumberNotTheBatch) {
  auto tok = word_tokenizer();
  Masker m({}, *tok, 3);
  const auto x = torch::randint(5, 40, {6, 32}, torch::kLong);
  auto whole = x.clone();
  const auto whole_labels = m.mask(whole, 100);
  for (int64_t part = 0; part < 3; ++part) {
    auto rows = x.slice(0, 2 * part, 2 * part + 2).clone();
    const auto labels = m.mask(rows, 100 + 2 * static_cast<uint64_t>(part));
    EXPECT_TRUE(torch::equal(labels, whole_labels.slice(0, 2 * part, 2 * part + 2))) << "part " << part;
    EXPECT_TRUE(torch::equal(rows, whole.slice(0, 2 * part, 2 * part + 2))) << "part " << part;
  }
  auto shifted = x.clone();
  EXPECT_FALSE(torch::equal(m.mask(shifted, 101), whole_labels));
}

// skip() passes over a sequence from the index's lengths alone and leaves the
// packer where next() would: interleaving them yields next()'s sequences.
TEST(MlmData, PackerSkipMovesLikeNext) {
  TempDir dir;
  std::vector<std::vector<int32_t>> docs;
  for (int d = 0; d < 25; ++d) docs.push_back(std::vector<int32_t>(d % 9 == 4 ? 0 : 3 + (d * 7) % 23, 5 + d));
  write_shards(dir / "shards", docs, 100);
  ShardCorpus corpus(dir / "shards");
  std::vector<uint64_t> all(docs.size());
  std::iota(all.begin(), all.end(), 0);
  SequencePacker reader(corpus, all, 16, 4, true), skipper(corpus, all, 16, 4, true);
  for (int i = 0; i < 60; ++i) {  // several epochs
    const auto expected = reader.next();
    if (i % 3 == 1) {
      skipper.skip();
    } else {
      EXPECT_EQ(skipper.next(), expected) << "sequence " << i;
    }
    EXPECT_EQ(skipper.state(), reader.state()) << "sequence " << i;
  }
}

TEST(MlmData, HeldOutSplitAndSequencesPerEpoch) {
  TempDir dir;
  write_shards(dir / "shards", {{10, 11, 12}, {20, 21}, {30, 31, 32, 33, 34}}, 100);
  ShardCorpus corpus(dir / "shards");
  EXPECT_EQ(corpus.document_length(2), 5u);
  // 3 + 2 + 5 tokens plus one [SEP] each over 7 slots per sequence: the two sequences the packer test shows.
  EXPECT_EQ(packed_sequences(corpus, {0, 1, 2}, 8), 2);
  EXPECT_EQ(packed_sequences(corpus, {1}, 8), 1);

  const auto split = hold_out_every(corpus, 3, "corpus");
  EXPECT_EQ(split.train, (std::vector<uint64_t>{0, 1}));
  EXPECT_EQ(split.validation, (std::vector<uint64_t>{2}));
  // Too few documents to hold one out: the last training document is scored.
  const auto tiny = hold_out_every(corpus, 50, "corpus");
  EXPECT_EQ(tiny.train.size(), 3u);
  EXPECT_EQ(tiny.validation, (std::vector<uint64_t>{2}));
  EXPECT_THROW(hold_out_every(corpus, 1, "corpus"), ConfigError);

  // pack_fixed stops instead of cycling through short held-out text many times.
  const auto fixed = pack_fixed(corpus, {1}, 8, 100, 1);
  EXPECT_EQ(fixed.size(1), 8);
  EXPECT_LE(fixed.size(0), 8);
  EXPECT_EQ(fixed[0][0].item<int64_t>(), 2);
}
