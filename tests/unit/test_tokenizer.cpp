#include <gtest/gtest.h>

#include <fstream>

#include "kdtext/text/tokenizer.h"
#include "kdtext/error.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::text;
using kdtext::testing::read_file;
using kdtext::testing::TempDir;
using kdtext::testing::write_file;

namespace {
std::vector<std::string> sample_text() {
  std::vector<std::string> s;
  const char* words[] = {"the", "cat", "sat", "on", "a", "warm", "mat", "while", "dogs", "ran", "around",
                         "garden", "quickly", "and", "slowly", "under", "blue", "sky"};
  for (int i = 0; i < 400; ++i) {
    std::string line;
    for (int k = 0; k < 8; ++k) line += std::string(k ? " " : "") + words[(i * 7 + k * 5 + k * k) % 18];
    s.push_back(line);
  }
  s.push_back("\xE4\xBB\x8A\xE5\xA4\xA9\xE5\xA4\xA9\xE6\xB0\x94\xE5\xBE\x88\xE5\xA5\xBD");  // 今天天气很好
  return s;
}

SentencePieceTrainOptions small(int vocab) {
  SentencePieceTrainOptions o;
  o.vocab_size = vocab;
  o.character_coverage = 1.0;
  return o;
}
}  // namespace

TEST(Tokenizer, TrainedModelKeepsSpecialTokensAtFixedIds) {
  auto tok = SentencePieceTokenizer::train(sample_text(), small(40), {}, 1, 7);
  EXPECT_EQ(tok->vocab_size(), 40);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(tok->id_to_piece(i), SpecialTokens::kPieces[i]);
  // [MASK] written in text is the mask token.
  const auto ids = tok->encode("the [MASK] sat");
  EXPECT_NE(std::find(ids.begin(), ids.end(), SpecialTokens::kMask), ids.end());
  // Text round-trips through encode/decode.
  EXPECT_EQ(tok->decode(tok->encode("the cat sat on a warm mat")), "the cat sat on a warm mat");
  // An unseen character is [UNK].
  const auto unk = tok->encode("\xE2\x98\x83");  // ☃
  EXPECT_NE(std::find(unk.begin(), unk.end(), SpecialTokens::kUnk), unk.end());
}

TEST(Tokenizer, EncodeAppliesTheTokenizersOwnNormalizer) {
  NormalizerOptions norm;
  norm.lowercase = true;
  auto tok = SentencePieceTokenizer::train(sample_text(), small(40), norm, 1, 7);
  EXPECT_EQ(tok->encode("  THE   Cat\tSAT "), tok->encode_normalized("the cat sat"));
}

TEST(Tokenizer, SaveLoadRoundTrip) {
  TempDir dir;
  auto tok = SentencePieceTokenizer::train(sample_text(), small(38), {}, 2, 7);
  tok->save(dir / "tok");
  auto loaded = Tokenizer::load(dir / "tok");
  EXPECT_EQ(loaded->type(), "sentencepiece");
  EXPECT_EQ(loaded->vocab_size(), 38);
  EXPECT_EQ(loaded->fingerprint(), tok->fingerprint());
  EXPECT_EQ(loaded->encode("dogs ran around the garden"), tok->encode("dogs ran around the garden"));
  const Json meta = read_json_file(dir / "tok" / "tokenizer.json");
  EXPECT_EQ(meta["special_tokens"]["[MASK]"], 4);
}

TEST(Tokenizer, TrainingIsDeterministic) {
  auto a = SentencePieceTokenizer::train(sample_text(), small(40), {}, 1, 7);
  auto b = SentencePieceTokenizer::train(sample_text(), small(40), {}, 1, 7);
  EXPECT_EQ(a->fingerprint(), b->fingerprint());
}

TEST(Tokenizer, VocabularyTooLargeForCorpusIsAClearError) {
  try {
    SentencePieceTokenizer::train(sample_text(), small(5000), {}, 1, 7);
    FAIL();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("vocab_size = 5000"), std::string::npos) << msg;
    EXPECT_NE(msg.find("--vocab-size"), std::string::npos) << msg;
  }
}

TEST(Tokenizer, LoadRejectsBadDirectories) {
  TempDir dir;
  auto tok = SentencePieceTokenizer::train(sample_text(), small(38), {}, 1, 7);
  tok->save(dir / "tok");

  EXPECT_THROW(Tokenizer::load(dir / "nothing-here"), InputError);

  // Newer format version: refused with an explanation.
  Json meta = read_json_file(dir / "tok" / "tokenizer.json");
  meta["format_version"] = 99;
  write_file(dir / "tok" / "tokenizer.json", meta.dump());
  try {
    Tokenizer::load(dir / "tok");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
  meta["format_version"] = 1;
  write_file(dir / "tok" / "tokenizer.json", meta.dump());

  // A replaced model file no longer matches the recorded fingerprint.
  auto other = SentencePieceTokenizer::train(sample_text(), small(34), {}, 1, 7);
  other->save(dir / "other");
  write_file(dir / "tok" / "spm.model", read_file(dir / "other" / "spm.model"));
  try {
    Tokenizer::load(dir / "tok");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("fingerprint"), std::string::npos) << e.what();
  }

  // Garbage instead of a model.
  write_file(dir / "tok" / "spm.model", "not a protobuf");
  EXPECT_THROW(Tokenizer::load(dir / "tok"), InputError);
}

TEST(Tokenizer, LongTextsEncodedAPieceAtATimeGiveTheSameIds) {
  const auto tok = SentencePieceTokenizer::train(sample_text(), small(40), {}, 1, 1);
  std::string text;
  for (const auto& line : sample_text()) {
    if (static_cast<unsigned char>(line[0]) < 0x80) text += line + (text.size() % 3 ? "  " : "\t");  // the words
  }
  const auto whole = tok->encode(text);
  ASSERT_GT(whole.size(), 1000u);
  for (const size_t piece : {size_t{16}, size_t{64}, size_t{1000}}) {  // longer than any word: cut after whitespace
    EXPECT_EQ(encode_long(*tok, text, 0, piece), whole) << piece;
    const auto first = encode_long(*tok, text, 126, piece);
    EXPECT_EQ(first, std::vector<int32_t>(whole.begin(), whole.begin() + 126)) << piece;
  }
  // A run with no whitespace (Chinese) is cut at character boundaries, never inside one.
  std::string chinese;
  for (int i = 0; i < 300; ++i) chinese += "\xE4\xBB\x8A\xE5\xA4\xA9";  // 今天
  for (const size_t piece : {size_t{7}, size_t{8}, size_t{100}}) {
    for (const int32_t id : encode_long(*tok, chinese, 0, piece)) EXPECT_NE(id, tok->special_ids().unk) << piece;
  }
  EXPECT_EQ(encode_long(*tok, "the cat", 1), std::vector<int32_t>(1, tok->encode("the cat")[0]));  // short: one encode
}
