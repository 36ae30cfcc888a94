// WordPiece on a small hand-written vocabulary: expected pieces worked out by
// hand from BERT's rules (the full parity check against transformers is
// tests/python/tokenizer_parity.py).
#include <gtest/gtest.h>

#include <fstream>

#include "kdtext/text/hf_tokenizer.h"
#include "kdtext/text/wordpiece.h"
#include "kdtext/error.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::text;
using kdtext::testing::TempDir;

namespace {
std::vector<std::string> vocab() {
  return {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##aff", "##able", "##a", "aff", "able", "the",
          "cafe", "café", ",", "!", "中", "文", "hello", "world", "##s", "a", "Hello"};
}
std::vector<std::string> pieces(const WordPieceTokenizer& t, const std::string& s) { return t.tokenize(s); }
using V = std::vector<std::string>;
}  // namespace

TEST(WordPiece, GreedyLongestMatchWithContinuations) {
  WordPieceTokenizer t(vocab(), {}, "test");
  EXPECT_EQ(pieces(t, "unaffable"), (V{"un", "##aff", "##able"}));
  EXPECT_EQ(pieces(t, "worlds"), (V{"world", "##s"}));
  // Unsplittable: the whole word is one [UNK], not a partial split.
  EXPECT_EQ(pieces(t, "unx the"), (V{"[UNK]", "the"}));
  EXPECT_EQ(t.encode(""), std::vector<int32_t>{});
  const auto sp = t.special_ids();
  EXPECT_EQ(sp.unk, 1);
  EXPECT_EQ(sp.cls, 2);
  EXPECT_TRUE(t.starts_word(5));    // un
  EXPECT_FALSE(t.starts_word(6));   // ##aff
}

TEST(WordPiece, BasicTokenisationRules) {
  WordPieceTokenizer t(vocab(), {}, "test");  // uncased: lowercase + strip accents
  EXPECT_EQ(pieces(t, "HELLO,World!"), (V{"hello", ",", "world", "!"}));
  EXPECT_EQ(pieces(t, "Café"), (V{"cafe"}));
  EXPECT_EQ(pieces(t, "中文"), (V{"中", "文"}));              // CJK split per character
  EXPECT_EQ(pieces(t, "the\x01\tthe\xC2\xA0the"), (V{"the", "the", "the"}));  // control dropped, spaces
  EXPECT_EQ(pieces(t, std::string(101, 'a')), (V{"[UNK]"}));  // over 100 characters
  V hundred(100, "##a");
  hundred[0] = "a";
  EXPECT_EQ(pieces(t, std::string(100, 'a')), hundred);       // exactly 100: still split
  EXPECT_EQ(pieces(t, "a [SEP] the"), (V{"a", "[SEP]", "the"}));  // literal special tokens stay whole

  WordPieceOptions cased;
  cased.lowercase = false;  // strip_accents null follows lowercase: accents kept
  WordPieceTokenizer c(vocab(), cased, "test");
  EXPECT_EQ(pieces(c, "Hello café"), (V{"Hello", "café"}));
  cased.strip_accents = 1;
  WordPieceTokenizer s(vocab(), cased, "test");
  EXPECT_EQ(pieces(s, "café"), (V{"cafe"}));
  cased.chinese_chars = false;
  WordPieceTokenizer n(vocab(), cased, "test");
  EXPECT_EQ(pieces(n, "中文"), (V{"[UNK]"}));  // one word, not in the vocabulary
}

TEST(WordPiece, HuggingFaceFilesRoundTripAndErrors) {
  TempDir dir;
  {
    std::ofstream v(dir / "vocab.txt");
    for (const auto& p : vocab()) v << p << "\n";
    std::ofstream cfg(dir / "tokenizer_config.json");
    cfg << R"({"do_lower_case": false, "strip_accents": null, "unk_token": {"content": "[UNK]"}})";
  }
  auto hf = WordPieceTokenizer::from_hf_dir(dir.path());
  EXPECT_FALSE(hf->options().lowercase);
  EXPECT_EQ(hf->vocab_size(), static_cast<int64_t>(vocab().size()));
  hf->save(dir / "saved");
  auto back = Tokenizer::load(dir / "saved");
  EXPECT_EQ(back->type(), "wordpiece");
  EXPECT_EQ(back->fingerprint(), hf->fingerprint());
  EXPECT_EQ(back->encode("Hello café"), hf->encode("Hello café"));
  EXPECT_EQ(load_any_tokenizer(dir.path())->fingerprint(), hf->fingerprint());
  // A changed vocabulary no longer matches the recorded fingerprint.
  {
    std::ofstream v(dir / "saved" / "vocab.txt", std::ios::app);
    v << "extra\n";
  }
  EXPECT_THROW(Tokenizer::load(dir / "saved"), InputError);
  // A vocabulary without [MASK] is refused, naming the token.
  try {
    WordPieceTokenizer bad({"[PAD]", "[UNK]", "[CLS]", "[SEP]"}, {}, "v.txt");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("[MASK]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(WordPieceTokenizer::from_hf_dir(dir / "nowhere"), InputError);
}

namespace hf_tokenizer_test {
// A tokenizers file as transformers writes one for a BertTokenizerFast, with the test vocabulary
// listed out of id order (the ids, not the order, decide).
kdtext::Json tokenizers_file(bool lowercase) {
  const auto pieces = vocab();
  kdtext::Json ids = kdtext::Json::object();
  for (size_t i = pieces.size(); i-- > 0;) ids[pieces[i]] = i;
  return {{"version", "1.0"},
          {"normalizer",
           {{"type", "BertNormalizer"}, {"clean_text", true}, {"handle_chinese_chars", true},
            {"strip_accents", nullptr}, {"lowercase", lowercase}}},
          {"pre_tokenizer", {{"type", "BertPreTokenizer"}}},
          {"model",
           {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"continuing_subword_prefix", "##"},
            {"max_input_chars_per_word", 100}, {"vocab", ids}}}};
}

std::string error_of(const kdtext::Json& j) {
  try {
    parse_hf_tokenizer_json(j, "tok.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace hf_tokenizer_test

TEST(WordPiece, ATokenizersFileGivesTheSameTokenizerAsVocabTxt) {
  TempDir dir;
  std::filesystem::create_directories(dir / "txt");
  std::filesystem::create_directories(dir / "json");
  {
    std::ofstream v(dir / "txt" / "vocab.txt");
    for (const auto& p : vocab()) v << p << "\n";
    std::ofstream cfg(dir / "txt" / "tokenizer_config.json");
    cfg << R"({"do_lower_case": false})";
    std::ofstream j(dir / "json" / "tokenizer.json");
    j << hf_tokenizer_test::tokenizers_file(false).dump();
  }
  const auto from_txt = WordPieceTokenizer::from_hf_dir(dir / "txt");
  const auto from_json = WordPieceTokenizer::from_hf_dir(dir / "json");
  EXPECT_EQ(from_json->fingerprint(), from_txt->fingerprint());  // same pieces in the same order, same options
  EXPECT_EQ(from_json->encode("Hello café, unaffable 中文!"), from_txt->encode("Hello café, unaffable 中文!"));
  EXPECT_EQ(load_any_tokenizer(dir / "json")->fingerprint(), from_txt->fingerprint());
  const auto lower = parse_hf_tokenizer_json(hf_tokenizer_test::tokenizers_file(true), "t");
  EXPECT_TRUE(lower.options.lowercase);
  EXPECT_EQ(lower.options.strip_accents, -1);  // null: follows lowercase
}

TEST(WordPiece, TokenizersFilesThisWordPieceCannotReproduceAreRefusedByName) {
  using hf_tokenizer_test::error_of;
  using hf_tokenizer_test::tokenizers_file;
  auto j = tokenizers_file(true);
  j["model"]["type"] = "BPE";
  EXPECT_NE(error_of(j).find("tok.json: model 'BPE' is not supported (WordPiece is"), std::string::npos) << error_of(j);
  j = tokenizers_file(true);
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", kdtext::Json::array()}};
  EXPECT_NE(error_of(j).find("normalizer 'Sequence' is not supported"), std::string::npos) << error_of(j);
  j = tokenizers_file(true);
  j["pre_tokenizer"] = {{"type", "Metaspace"}};
  EXPECT_NE(error_of(j).find("pre_tokenizer 'Metaspace' is not supported"), std::string::npos) << error_of(j);
  j = tokenizers_file(true);
  j["model"]["vocab"]["hello"] = 0;  // two pieces with id 0, so some id is missing
  EXPECT_NE(error_of(j).find("each used once"), std::string::npos) << error_of(j);
  j = tokenizers_file(true);
  j["normalizer"]["lowercase"] = "yes";
  EXPECT_NE(error_of(j).find("normalizer.lowercase must be true or false"), std::string::npos) << error_of(j);
  EXPECT_NE(error_of(kdtext::Json{{"format_version", 1}}).find("not a tokenizers file"), std::string::npos);
  // A word limit every later stage would refuse is refused here, at import.
  for (const kdtext::Json& v : {kdtext::Json(-5), kdtext::Json(0), kdtext::Json::parse("1180591620717411303424"),
                                kdtext::Json(1.5), kdtext::Json("100"), kdtext::Json(int64_t{1} << 31)}) {
    j = tokenizers_file(true);
    j["model"]["max_input_chars_per_word"] = v;
    EXPECT_NE(error_of(j).find("tok.json: model.max_input_chars_per_word is "), std::string::npos) << v << error_of(j);
  }
  j = tokenizers_file(true);
  j["model"]["max_input_chars_per_word"] = 100;
  EXPECT_EQ(error_of(j), "");
  // [UNK] left out: the message names the id no piece has, not whichever piece has the largest id.
  j = tokenizers_file(true);
  j["model"]["vocab"].erase("[UNK]");
  EXPECT_NE(error_of(j).find("no piece has id 1 (a piece left out of the vocabulary?)"), std::string::npos)
      << error_of(j);
}
