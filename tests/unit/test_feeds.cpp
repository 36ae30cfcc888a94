// The data feeds: every epoch covers the data once, in a seeded order, and a
// restored state continues the exact stream (batches, labels, masks).
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "kdtext/feed/feeds.h"
#include "test_util.h"
#include "unit/word_tokenizer.h"

using namespace kdtext;
using namespace kdtext::text;
using namespace kdtext::feed;  // the training feeds (feed/), over text/'s readers
using kdtext::testing::TempDir;

namespace {

EncodedSet labelled_set(size_t n) {
  EncodedSet set;
  for (size_t i = 0; i < n; ++i) {
    Encoded e;
    e.ids.assign(3 + i % 11, static_cast<int64_t>(5 + i));
    e.segments.assign(e.ids.size(), 0);
    set.inputs.push_back(e);
    set.labels.push_back(static_cast<int64_t>(i % 3));
  }
  return set;
}

std::vector<Batch> take(LabelledBatches& feed, int n) {
  std::vector<Batch> out;
  for (int i = 0; i < n; ++i) out.push_back(feed.next());
  return out;
}

std::shared_ptr<const ShardCorpus> corpus(const std::filesystem::path& dir) {
  ShardSetWriter w(dir, 32, 1 << 20);
  for (int d = 0; d < 30; ++d) w.add_document(std::vector<int32_t>(4 + d % 9, 5 + d % 27));
  w.finish();
  return std::make_shared<const ShardCorpus>(dir);
}

}  // namespace

TEST(Feeds, LabelledEpochsCoverEveryExampleOnceInASeededOrder) {
  LabelledBatches feed(labelled_set(37), 5, 11);
  EXPECT_EQ(feed.batches_per_epoch(), 8u);
  std::vector<size_t> seen;
  for (const auto& b : take(feed, 8)) {
    for (size_t k = 0; k < b.index.size(); ++k) {
      seen.push_back(b.index[k]);
      EXPECT_EQ(b.labels[static_cast<int64_t>(k)].item<int64_t>(), static_cast<int64_t>(b.index[k] % 3));
    }
  }
  std::vector<size_t> all(37);
  std::iota(all.begin(), all.end(), 0);
  std::vector<size_t> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, all);
  EXPECT_NE(seen, all);  // shuffled
  std::vector<size_t> other_seed;
  LabelledBatches other(labelled_set(37), 5, 12);
  for (const auto& b : take(other, 8)) other_seed.insert(other_seed.end(), b.index.begin(), b.index.end());
  EXPECT_NE(other_seed, seen);
}

TEST(Feeds, LabelledBatchesResumeExactlyAcrossAnEpochBoundary) {
  LabelledBatches a(labelled_set(37), 5, 7);
  take(a, 6);
  const Json state = a.state();
  const auto expected = take(a, 12);  // crosses into the second and third epochs
  LabelledBatches b(labelled_set(37), 5, 7);
  b.restore(Json::parse(state.dump()));
  const auto got = take(b, 12);
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(got[i].index, expected[i].index) << "batch " << i;
    EXPECT_TRUE(torch::equal(got[i].input_ids, expected[i].input_ids)) << "batch " << i;
    EXPECT_TRUE(torch::equal(got[i].labels, expected[i].labels)) << "batch " << i;
  }
}

TEST(Feeds, MlmStreamResumesExactlyAndHoldsOutAFixedBatch) {
  TempDir dir;
  const auto tok = kdtext::testing::word_tokenizer();
  const auto docs = corpus(dir / "shards");
  MlmStreamOptions o;
  o.max_len = 12;
  o.batch_size = 3;
  o.validation_every = 5;
  o.eval_sequences = 4;
  o.seed = 3;
  MlmStream a(docs, *tok, o, "test");
  EXPECT_EQ(a.training_documents() + a.held_out_documents(), 30u);
  EXPECT_EQ(a.held_out_documents(), 6u);
  EXPECT_GT(a.sequences_per_epoch(), 0);
  for (int i = 0; i < 4; ++i) a.next();
  const Json state = a.state();
  std::vector<MlmBatch> expected;
  for (int i = 0; i < 6; ++i) expected.push_back(a.next());
  bool masked = false;
  for (const auto& e : expected) masked = masked || e.labels.ne(-100).any().item<bool>();
  EXPECT_TRUE(masked);

  MlmStream b(docs, *tok, o, "test");
  EXPECT_TRUE(torch::equal(b.held_out().ids, a.held_out().ids));
  EXPECT_TRUE(torch::equal(b.held_out().labels, a.held_out().labels));
  b.restore(Json::parse(state.dump()));
  for (size_t i = 0; i < expected.size(); ++i) {
    const auto got = b.next();
    EXPECT_TRUE(torch::equal(got.ids, expected[i].ids)) << "batch " << i;
    EXPECT_TRUE(torch::equal(got.labels, expected[i].labels)) << "batch " << i;
  }

  o.mask = false;  // no masked-LM term: plain packed sequences, nothing to restore for a masker
  MlmStream plain(docs, *tok, o, "test");
  EXPECT_FALSE(plain.next().labels.defined());
  EXPECT_FALSE(plain.held_out().labels.defined());
  EXPECT_FALSE(plain.state().contains("masker"));
}

// Two shards of 3 rows read together what one process reads in batches of 6:
// the same sequences, the same masks, and each shard's state the same.
TEST(Feeds, MlmStreamShardsSplitEachGlobalBatch) {
  TempDir dir;
  const auto tok = kdtext::testing::word_tokenizer();
  const auto docs = corpus(dir / "shards");
  MlmStreamOptions o;
  o.max_len = 12;
  o.validation_every = 5;
  o.seed = 3;
  o.batch_size = 6;
  MlmStream whole(docs, *tok, o, "test");
  o.batch_size = 3;
  o.shard = {0, 2};
  MlmStream first(docs, *tok, o, "test");
  o.shard = {1, 2};
  MlmStream second(docs, *tok, o, "test");
  for (int i = 0; i < 8; ++i) {
    const auto w = whole.next(), a = first.next(), b = second.next();
    EXPECT_TRUE(torch::equal(torch::cat({a.ids, b.ids}), w.ids)) << "batch " << i;
    EXPECT_TRUE(torch::equal(torch::cat({a.labels, b.labels}), w.labels)) << "batch " << i;
    EXPECT_EQ(first.state(), whole.state());
    EXPECT_EQ(second.state(), whole.state());
  }
}

TEST(Feeds, LabelledShardsSplitEachGlobalBatchAndItsShortTail) {
  const auto set = labelled_set(23);
  LabelledBatches whole(set, 8, 5);
  LabelledBatches first(set, 4, 5, DataShard{0, 2}), second(set, 4, 5, DataShard{1, 2});
  EXPECT_EQ(whole.batches_per_epoch(), 3u);
  EXPECT_EQ(first.batches_per_epoch(), 3u);
  for (int i = 0; i < 6; ++i) {  // two epochs; one batch of each has 7 rows: 4 + 3
    const auto w = whole.next(), a = first.next(), b = second.next();
    std::vector<size_t> joined = a.index;
    joined.insert(joined.end(), b.index.begin(), b.index.end());
    EXPECT_EQ(joined, w.index) << "batch " << i;
    EXPECT_EQ(a.index.size(), 4u);
    EXPECT_EQ(b.index.size(), w.index.size() - 4);
    EXPECT_TRUE(torch::equal(torch::cat({a.labels, b.labels}), w.labels));
  }
  LabelledBatches third(set, 4, 5, DataShard{2, 3});  // 12 rows a batch: the 11-row tail leaves shard 2 3 rows
  LabelledBatches fourth(labelled_set(8), 4, 5, DataShard{2, 3});  // one batch of 8: nothing for shard 2
  const size_t sizes = third.next().index.size() * 10 + third.next().index.size();
  EXPECT_TRUE(sizes == 43 || sizes == 34) << sizes;
  EXPECT_TRUE(fourth.next().index.empty());
}

// A state saved by 1 process x batch 8 restored by 2 x 8 (global 16): the
// next batch starts after the examples already used (rounded up to a batch).
TEST(Feeds, LabelledStateFromAnotherGlobalBatchContinuesAfterTheUsedExamples) {
  const auto set = labelled_set(64);
  LabelledBatches one(set, 8, 5);
  for (int i = 0; i < 3; ++i) one.next();  // 24 examples used
  const Json state = one.state();
  EXPECT_EQ(state["global_batch"], 8);
  LabelledBatches first(set, 8, 5, DataShard{0, 2});
  first.restore(state);
  EXPECT_EQ(first.state()["batch"], 2);  // ceil(24 / 16)
  EXPECT_EQ(first.state()["epoch"], 0);
}
