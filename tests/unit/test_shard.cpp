#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "kdtext/text/shard.h"
#include "kdtext/error.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::text;
using kdtext::testing::read_file;
using kdtext::testing::TempDir;
using kdtext::testing::write_file;

namespace {
std::string error_of(const std::filesystem::path& p) {
  try {
    ShardReader r(p);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Shard, RoundTripTwoByteIds) {
  TempDir dir;
  const std::vector<std::vector<int32_t>> docs{{5, 6, 7}, {}, {0, 65535}, {42}};
  {
    ShardWriter w(dir / "s.kdts", 65536);
    for (const auto& d : docs) w.add_document(d);
    w.finish();
  }
  ShardReader r(dir / "s.kdts");
  EXPECT_EQ(r.id_width(), 2u);
  EXPECT_EQ(r.vocab_size(), 65536);
  ASSERT_EQ(r.documents(), docs.size());
  EXPECT_EQ(r.tokens(), 6u);
  for (size_t i = 0; i < docs.size(); ++i) EXPECT_EQ(r.document(i), docs[i]) << i;
  // 64-byte header + 6 tokens * 2 bytes + 5 offsets * 8 bytes
  EXPECT_EQ(std::filesystem::file_size(dir / "s.kdts"), 64u + 12u + 40u);
}

TEST(Shard, RoundTripFourByteIds) {
  TempDir dir;
  {
    ShardWriter w(dir / "s.kdts", 100000);
    w.add_document({99999, 65536, 1});
    w.finish();
  }
  ShardReader r(dir / "s.kdts");
  EXPECT_EQ(r.id_width(), 4u);
  EXPECT_EQ(r.document(0), (std::vector<int32_t>{99999, 65536, 1}));
}

TEST(Shard, WriterRejectsIdsOutsideTheVocabulary) {
  TempDir dir;
  ShardWriter w(dir / "s.kdts", 10);
  EXPECT_THROW(w.add_document({3, 10}), std::out_of_range);
  EXPECT_THROW(w.add_document({-1}), std::out_of_range);
}

TEST(Shard, ReaderRejectsCorruptFiles) {
  TempDir dir;
  {
    ShardWriter w(dir / "good.kdts", 1000);
    w.add_document({1, 2, 3});
    w.add_document({4});
    w.finish();
  }
  const std::string good = read_file(dir / "good.kdts");

  write_file(dir / "truncated.kdts", good.substr(0, good.size() - 3));
  EXPECT_NE(error_of(dir / "truncated.kdts").find("does not match the header"), std::string::npos);

  write_file(dir / "tiny.kdts", good.substr(0, 10));
  EXPECT_NE(error_of(dir / "tiny.kdts").find("shorter than"), std::string::npos);

  std::string magic = good;
  magic[0] = 'X';
  write_file(dir / "magic.kdts", magic);
  EXPECT_NE(error_of(dir / "magic.kdts").find("bad magic"), std::string::npos);

  std::string newer = good;
  const uint32_t v = 99;
  std::memcpy(&newer[8], &v, 4);
  write_file(dir / "newer.kdts", newer);
  const std::string msg = error_of(dir / "newer.kdts");
  EXPECT_NE(msg.find("version 99 is newer"), std::string::npos) << msg;
  EXPECT_NE(msg.find("newer.kdts"), std::string::npos) << msg;

  {
    ShardWriter unfinished(dir / "unfinished.kdts", 1000);
    unfinished.add_document({1, 2});
  }  // destroyed without finish()
  EXPECT_FALSE(error_of(dir / "unfinished.kdts").empty());

  // An id beyond the vocabulary in the token data is caught on read.
  std::string bad_id = good;
  const uint16_t big = 5000;
  std::memcpy(&bad_id[64], &big, 2);
  write_file(dir / "bad_id.kdts", bad_id);
  ShardReader r(dir / "bad_id.kdts");
  EXPECT_THROW(r.document(0), InputError);
  EXPECT_EQ(r.document(1), std::vector<int32_t>{4});

  EXPECT_NE(error_of(dir / "missing.kdts").find("cannot open"), std::string::npos);
}

TEST(Shard, SetWriterRollsShardsAndWritesIndex) {
  TempDir dir;
  ShardSetWriter w(dir / "shards", 50, 5);
  w.add_document({1, 2, 3});
  w.add_document({4, 5});     // fills shard 0 to exactly 5 tokens
  w.add_document({6});        // rolls to shard 1
  w.add_document({7, 8, 9, 10, 11, 12});  // longer than the limit: own shard
  const Json index = w.finish();
  ASSERT_EQ(index["shards"].size(), 3u);
  EXPECT_EQ(index["documents"], 4);
  EXPECT_EQ(index["tokens"], 12);
  EXPECT_EQ(index["shards"][0]["tokens"], 5);
  EXPECT_EQ(index["shards"][2]["file"], "shard-00002.kdts");
  ShardReader r(dir / "shards" / "shard-00002.kdts");
  EXPECT_EQ(r.document(0), (std::vector<int32_t>{7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(read_json_file(dir / "shards" / "index.json"), index);
}
