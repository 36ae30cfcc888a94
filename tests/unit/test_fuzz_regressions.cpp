// Inputs the fuzz targets (tests/fuzz/) found mishandled, replayed through
// the product's file readers. Each was an uncaught exception or a broken
// invariant before its fix; the raw input is also kept in the target's seed
// corpus (tests/fuzz/corpus/<target>/regress-*).
#include <gtest/gtest.h>

#include <cstring>

#include "kdtext/io/safetensors.h"
#include "kdtext/model/config.h"
#include "kdtext/text/labelled.h"
#include "kdtext/text/shard.h"
#include "kdtext/error.h"
#include "kdtext/util/json.h"
#include "test_util.h"

using namespace kdtext;
using kdtext::testing::TempDir;
using kdtext::testing::write_file;

namespace {
template <typename F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}
}  // namespace

// fuzz_json_configs: a number too large for a double made nlohmann throw
// out_of_range (not parse_error), which escaped as an unnamed error.
TEST(FuzzRegressions, JsonNumberOverflowIsAnInputErrorNamingTheFile) {
  TempDir dir;
  write_file(dir / "config.json", "{\"hidden_size\": 11111e1111111110111111111}");
  const std::string msg = input_error([&] { read_json_file(dir / "config.json"); });
  EXPECT_NE(msg.find("config.json: invalid JSON"), std::string::npos) << msg;
  EXPECT_NE(msg.find("number overflow"), std::string::npos) << msg;
}

// fuzz_safetensors: the same overflow inside a safetensors header.
TEST(FuzzRegressions, SafetensorsHeaderNumberOverflowNamesTheFile) {
  TempDir dir;
  const std::string header = "{\"w\": {\"dtype\": \"F32\", \"shape\": [1e999], \"data_offsets\": [0, 4]}}";
  std::string file(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  write_file(dir / "model.safetensors", file + header + "abcd");
  const std::string msg = input_error([&] { io::load_safetensors(dir / "model.safetensors"); });
  EXPECT_NE(msg.find("model.safetensors: header is not valid JSON"), std::string::npos) << msg;
}

// fuzz_labelled (same cause): a JSON line with an out-of-range number is a
// malformed line naming file and line, or skipped under bad_lines=skip.
TEST(FuzzRegressions, JsonlNumberOverflowIsAMalformedLine) {
  TempDir dir;
  write_file(dir / "d.jsonl", "{\"text\": \"fine\", \"label\": \"a\"}\n{\"text\": \"x\", \"label\": \"b\", \"w\": 1e999}\n");
  text::LabelledFormat f;
  const std::string msg = input_error([&] { text::read_labelled((dir / "d.jsonl").string(), f, true); });
  EXPECT_NE(msg.find("d.jsonl:2: invalid JSON"), std::string::npos) << msg;
  f.bad_lines = text::BadLines::kSkip;
  const auto data = text::read_labelled((dir / "d.jsonl").string(), f, true);
  EXPECT_EQ(data.examples.size(), 1u);
  EXPECT_EQ(data.skipped, 1u);
}

// fuzz_shard: a header vocabulary of 2^31 or more let ids past INT32_MAX
// through as negative int32 ids.
TEST(FuzzRegressions, ShardVocabularyBeyondInt32IsRefused) {
  TempDir dir;
  {
    text::ShardWriter w(dir / "s.kdts", 1000);
    w.add_document({1, 2});
    w.finish();
  }
  std::string bytes = kdtext::testing::read_file(dir / "s.kdts");
  const uint32_t vocab = 0x80000010u;
  std::memcpy(&bytes[16], &vocab, 4);  // header: magic, version, id_width, vocab_size
  write_file(dir / "s.kdts", bytes);
  const std::string msg = input_error([&] { text::ShardReader r(dir / "s.kdts"); });
  EXPECT_NE(msg.find("s.kdts: not a valid kdtext token shard: vocabulary size 2147483664"), std::string::npos) << msg;
}

// fuzz_json_configs: an integer key given a float beyond the integer's range
// (3.01e20 for an int64) was converted with undefined behaviour (UBSan:
// "outside the range of representable values"); fractions were truncated.
TEST(FuzzRegressions, IntegerKeysRefuseFloatsOutOfRangeOrWithAFraction) {
  const auto error = [](const std::string& json) {
    try {
      model::bert_config_from_json(Json::parse(json), "config.json");
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no ConfigError)");
  };
  for (const char* bad : {"3.01111e+20", "1e300", "64.5", "-9.3e18", "9223372036854775808"}) {
    const std::string msg = error(std::string("{\"hidden_size\": ") + bad + "}");
    EXPECT_NE(msg.find("hidden_size"), std::string::npos) << bad << ": " << msg;
    EXPECT_NE(msg.find("integer"), std::string::npos) << bad << ": " << msg;
  }
  // An integral float is the integer it spells (transformers' configs may write 512.0).
  auto c = model::bert_config_from_json(Json::parse(R"({"hidden_size": 64.0, "num_attention_heads": 4,
      "intermediate_size": 128})"), "config.json");
  EXPECT_EQ(c.hidden_size, 64);
}
