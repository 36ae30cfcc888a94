// Runs the kdtext-preprocess executable as a user would and checks its
// outputs, exit codes and error messages.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "kdtext/text/normalizer.h"
#include "kdtext/text/shard.h"
#include "kdtext/text/tokenizer.h"
#include "kdtext/util/json.h"
#include "kdtext/cli/runtime.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::testing;
namespace fs = std::filesystem;

namespace {

CommandResult preprocess(const std::string& args) { return run_command(bin("kdtext-preprocess") + " " + args); }

// Nothing but `keep` may exist in `dir` (no half-written output, no .partial-*).
void expect_no_output(const fs::path& dir, const std::string& keep = "") {
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    EXPECT_TRUE(!keep.empty() && name.rfind(keep, 0) == 0) << "unexpected leftover: " << name;
  }
}

std::string data(const std::string& rel) { return quote((source_dir() / "data" / rel).string()); }

}  // namespace

TEST(PreprocessCli, TinyCorpusEndToEnd) {
  TempDir dir;
  const auto out = dir / "prep";
  const auto r = preprocess(data("corpus") + " -o " + quote(out.string()) + " --vocab-size 400 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const Json stats = read_json_file(out / "stats.json");
  EXPECT_EQ(stats["input_files"], 2);
  EXPECT_GT(stats["documents_kept"].get<int>(), 400);
  EXPECT_GT(stats["duplicates_removed"].get<int>(), 0);  // data/corpus/en.txt repeats some lines on purpose
  EXPECT_EQ(stats["documents_read"].get<int>(),
            stats["documents_kept"].get<int>() + stats["duplicates_removed"].get<int>() +
                stats["filtered_too_short"].get<int>() + stats["filtered_too_long"].get<int>());
  EXPECT_LT(stats["unknown_token_rate"].get<double>(), 0.01);
  EXPECT_EQ(stats["vocab_size"], 400);
  for (const char* key : {"seconds", "tokens_written", "invalid_utf8_repaired", "filtered_too_short"}) {
    EXPECT_TRUE(stats.contains(key)) << key;
  }
  // Resolved config, metrics and tokenizer sit beside the shards.
  const Json config = read_json_file(out / "config.json");
  EXPECT_EQ(config["train"]["vocab_size"], 400);
  EXPECT_TRUE(fs::exists(out / "metrics.jsonl"));
  EXPECT_FALSE(fs::exists(out / "clean.tmp.txt"));

  // The shards decode back to the cleaned corpus, in order.
  auto tok = text::Tokenizer::load(out / "tokenizer");
  EXPECT_EQ(tok->vocab_size(), 400);
  const Json index = read_json_file(out / "shards" / "index.json");
  EXPECT_EQ(index["tokens"], stats["tokens_written"]);
  text::ShardReader shard(out / "shards" / index["shards"][0]["file"].get<std::string>());
  EXPECT_EQ(shard.vocab_size(), 400);
  const std::string first_line = read_file(source_dir() / "data" / "corpus" / "en.txt").substr(
      0, read_file(source_dir() / "data" / "corpus" / "en.txt").find('\n'));
  EXPECT_EQ(tok->decode(shard.document(0)), text::Normalizer().normalize(first_line));
}

TEST(PreprocessCli, ReusedTokenizerGivesIdenticalShards) {
  TempDir dir;
  ASSERT_EQ(preprocess(data("corpus/en.txt") + " -o " + quote((dir / "a").string()) + " --vocab-size 300 --quiet")
                .exit_code,
            0);
  const auto r = preprocess(data("corpus/en.txt") + " -o " + quote((dir / "b").string()) + " --tokenizer " +
                            quote((dir / "a" / "tokenizer").string()) + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json a = read_json_file(dir / "a" / "stats.json"), b = read_json_file(dir / "b" / "stats.json");
  EXPECT_EQ(a["tokenizer"]["fingerprint"], b["tokenizer"]["fingerprint"]);
  EXPECT_EQ(b["tokenizer"]["trained"], false);
  EXPECT_EQ(read_file(dir / "a" / "shards" / "shard-00000.kdts"), read_file(dir / "b" / "shards" / "shard-00000.kdts"));
  // A directory holding tokenizer/ (a checkpoint, e.g. the teacher's; here the first run's output) serves too.
  const auto c = preprocess(data("corpus/en.txt") + " -o " + quote((dir / "c").string()) + " --tokenizer " +
                            quote((dir / "a").string()) + " --quiet");
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(read_file(dir / "a" / "shards" / "shard-00000.kdts"), read_file(dir / "c" / "shards" / "shard-00000.kdts"));
  const auto bad = preprocess(data("corpus/en.txt") + " -o " + quote((dir / "d").string()) + " --tokenizer " +
                              quote((dir / "a" / "shards").string()) + " --quiet");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("is neither a kdtext tokenizer directory"), std::string::npos) << bad.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "d"));
}

TEST(PreprocessCli, ParagraphModeAndLowercase) {
  TempDir dir;
  write_file(dir / "in.txt", "First Paragraph line one.\nLine TWO.\n\nSecond paragraph.\n\n\nThird one here.\n");
  const auto r = preprocess(quote((dir / "in.txt").string()) + " -o " + quote((dir / "p").string()) +
                            " --doc-mode paragraph --lowercase --vocab-size 25 --character-coverage 1.0 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json stats = read_json_file(dir / "p" / "stats.json");
  EXPECT_EQ(stats["documents_kept"], 3);
  auto tok = text::Tokenizer::load(dir / "p" / "tokenizer");
  EXPECT_TRUE(tok->normalizer().options().lowercase);
  text::ShardReader shard(dir / "p" / "shards" / "shard-00000.kdts");
  EXPECT_EQ(tok->decode(shard.document(0)), "first paragraph line one. line two.");
}

TEST(PreprocessCli, MissingInputIsUsageErrorNamingThePath) {
  TempDir dir;
  const auto r = preprocess("/no/such/file.txt -o " + quote((dir / "out").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("/no/such/file.txt"), std::string::npos) << r.output;
  expect_no_output(dir.path());
}

TEST(PreprocessCli, EmptyCorpusFailsWithoutOutput) {
  TempDir dir;
  write_file(dir / "in" / "empty.txt", "\n   \n\t\n");
  const auto r = preprocess(quote((dir / "in").string()) + " -o " + quote((dir / "out").string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("no documents left after cleaning"), std::string::npos) << r.output;
  expect_no_output(dir.path(), "in");
}

TEST(PreprocessCli, InvalidUtf8NamesFileAndLineUnlessRepaired) {
  TempDir dir;
  std::string text = read_file(source_dir() / "data" / "corpus" / "en.txt");
  text += "broken \xC3\x28 byte here\n";
  write_file(dir / "in" / "bad.txt", text);
  const size_t bad_line = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  auto r = preprocess(quote((dir / "in").string()) + " -o " + quote((dir / "out").string()) + " --vocab-size 300");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("bad.txt:" + std::to_string(bad_line) + ": invalid UTF-8"), std::string::npos) << r.output;
  expect_no_output(dir.path(), "in");

  r = preprocess(quote((dir / "in").string()) + " -o " + quote((dir / "out").string()) +
                 " --vocab-size 300 --invalid-utf8 repair --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_json_file(dir / "out" / "stats.json")["invalid_utf8_repaired"], 1);
}

TEST(PreprocessCli, VocabularyTooLargeFailsWithoutOutput) {
  TempDir dir;
  const auto r = preprocess(data("corpus/zh.txt") + " -o " + quote((dir / "out").string()) + " --vocab-size 20000");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("vocab_size = 20000 is more than this corpus supports"), std::string::npos) << r.output;
  expect_no_output(dir.path());
}

TEST(PreprocessCli, UnwritableOutputFails) {
  TempDir dir;
  write_file(dir / "file", "x");
  const auto r = preprocess(data("corpus/en.txt") + " -o " + quote((dir / "file" / "out").string()) +
                            " --vocab-size 300");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find((dir / "file").string()), std::string::npos) << r.output;
}

TEST(PreprocessCli, ExistingOutputNeedsOverwrite) {
  TempDir dir;
  const std::string out = quote((dir / "out").string());
  auto r = preprocess(data("corpus/en.txt") + " -o " + out + " --vocab-size 300 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = preprocess(data("corpus/en.txt") + " -o " + out + " --vocab-size 300");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--overwrite"), std::string::npos) << r.output;
  r = preprocess(data("corpus/en.txt") + " -o " + out + " --vocab-size 301 --overwrite --quiet");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_json_file(dir / "out" / "config.json")["train"]["vocab_size"], 301);
  // A directory kdtext did not write is never replaced, --overwrite or not (issue 26).
  write_file(dir / "mine" / "keep.txt", "precious");
  r = preprocess(data("corpus/en.txt") + " -o " + quote((dir / "mine").string()) + " --vocab-size 300 --overwrite");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("holds files kdtext did not write (keep.txt"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(dir / "mine" / "keep.txt"), "precious");
}

TEST(PreprocessCli, ConfigFileFlagsAndDumpConfig) {
  TempDir dir;
  write_file(dir / "c.json", R"({"train": {"vocab_size": 123, "model_type": "bpe"}, "clean": {"lowercase": true}})");
  auto r = run_command(bin("kdtext-preprocess") + " in.txt -o out --config " + quote((dir / "c.json").string()) +
                       " --vocab-size 321 --dump-config 2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json c = Json::parse(r.output);
  EXPECT_EQ(c["train"]["vocab_size"], 321);        // flag beats file
  EXPECT_EQ(c["train"]["model_type"], "bpe");      // file beats default
  EXPECT_EQ(c["clean"]["lowercase"], true);
  EXPECT_EQ(c["run"]["seed"], 42);

  write_file(dir / "bad.json", R"({"train": {"vocab": 123}})");
  r = preprocess("in.txt -o out --config " + quote((dir / "bad.json").string()));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("unknown key 'train.vocab'"), std::string::npos) << r.output;

  r = preprocess("in.txt -o out --vocab-size lots");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--vocab-size: expected an integer, got 'lots'"), std::string::npos) << r.output;

  r = preprocess("in.txt -o out --no-such-flag");
  EXPECT_EQ(r.exit_code, 2);
}

TEST(PreprocessCli, VersionHelpAndDevice) {
  auto r = preprocess("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("kdtext-preprocess 0."), std::string::npos) << r.output;
  r = preprocess("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("Example:"), std::string::npos);
  EXPECT_NE(r.output.find("--device"), std::string::npos);

  TempDir dir;
  r = preprocess(data("corpus/en.txt") + " -o " + quote((dir / "out").string()) + " --device tpu");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--device"), std::string::npos) << r.output;
  if (cli::cuda_device_count() == 0) {
    r = preprocess(data("corpus/en.txt") + " -o " + quote((dir / "out").string()) + " --device cuda");
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("no CUDA GPU"), std::string::npos) << r.output;
  }
  expect_no_output(dir.path());
}
