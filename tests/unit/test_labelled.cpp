#include <gtest/gtest.h>

#include "kdtext/feed/batching.h"
#include "kdtext/text/labelled.h"
#include "kdtext/error.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::text;
using namespace kdtext::feed;  // the training feeds (feed/), over text/'s readers
using kdtext::testing::TempDir;
using kdtext::testing::write_file;

namespace {
std::string input_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Labelled, TsvWithBomCrlfEmptyLinesAndHeader) {
  TempDir dir;
  write_file(dir / "a.tsv", "\xEF\xBB\xBFlabel\ttext\r\npos\tgood film\r\n\r\nneg\tbad film\r\n");
  const auto d = read_labelled((dir / "a.tsv").string(), {}, true);
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[0].label, "pos");
  EXPECT_EQ(d.examples[0].text, "good film");
  EXPECT_EQ(d.examples[1].text, "bad film");
  EXPECT_EQ(d.examples[1].line, 4u);
}

TEST(Labelled, CsvQuotingWithCommasQuotesAndNewlines) {
  TempDir dir;
  write_file(dir / "a.csv",
             "text,label\n\"hello, world\",pos\n\"she said \"\"hi\"\"\",neg\n\"two\nlines\",pos\nplain,neg\n");
  const auto d = read_labelled((dir / "a.csv").string(), {}, true);
  ASSERT_EQ(d.examples.size(), 4u);
  EXPECT_EQ(d.examples[0].text, "hello, world");
  EXPECT_EQ(d.examples[1].text, "she said \"hi\"");
  EXPECT_EQ(d.examples[2].text, "two\nlines");
  EXPECT_EQ(d.examples[2].line, 4u);
  EXPECT_EQ(d.examples[3].line, 6u);  // the quoted newline moved it down a line
  EXPECT_EQ(d.examples[3].label, "neg");

  write_file(dir / "bad.csv", "text,label\n\"unterminated,pos\n");
  EXPECT_NE(input_error([&] { read_labelled((dir / "bad.csv").string(), {}, true); }).find("bad.csv:2"),
            std::string::npos);
}

TEST(Labelled, JsonLinesWithTabsInStringsAndNumericLabels) {
  TempDir dir;
  write_file(dir / "a.jsonl", "{\"text\": \"tab\\there\", \"label\": 1}\n\n{\"text\": \"x\", \"label\": \"b\"}\n");
  const auto d = read_labelled((dir / "a.jsonl").string(), {}, true);
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[0].text, "tab\there");
  EXPECT_EQ(d.examples[0].label, "1");
  write_file(dir / "bad.jsonl", "{\"text\": \"x\", \"label\": \"a\"}\n{\"text\": 3\n");
  EXPECT_NE(input_error([&] { read_labelled((dir / "bad.jsonl").string(), {}, true); }).find("bad.jsonl:2"),
            std::string::npos);
}

TEST(Labelled, PairsAndColumnsByIndexWithoutHeader) {
  TempDir dir;
  write_file(dir / "p.tsv", "entail\tA man sleeps.\tA person rests.\ncontra\tIt is day.\tIt is night.\n");
  LabelledFormat f;
  f.label_column = "0";
  f.text_column = "1";
  f.pair_column = "2";
  const auto d = read_labelled((dir / "p.tsv").string(), f, true);
  ASSERT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.examples[1].label, "contra");
  EXPECT_EQ(d.examples[1].pair, "It is night.");
}

TEST(Labelled, MalformedLinesErrorOrAreSkippedAndCounted) {
  TempDir dir;
  write_file(dir / "m.tsv", "label\ttext\npos\tok\nbroken line without tab\nneg\tfine\n");
  const std::string msg = input_error([&] { read_labelled((dir / "m.tsv").string(), {}, true); });
  EXPECT_NE(msg.find("m.tsv:3: expected 2 fields, found 1"), std::string::npos) << msg;
  LabelledFormat skip;
  skip.bad_lines = BadLines::kSkip;
  const auto d = read_labelled((dir / "m.tsv").string(), skip, true);
  EXPECT_EQ(d.examples.size(), 2u);
  EXPECT_EQ(d.skipped, 1u);
}

TEST(Labelled, UnknownLabelsNameFileAndLine) {
  TempDir dir;
  write_file(dir / "dev.tsv", "label\ttext\npos\ta\nmaybe\tb\n");
  auto d = read_labelled((dir / "dev.tsv").string(), {}, true);
  const LabelMap labels({"neg", "pos"});
  const std::string msg = input_error([&] { encode_labels(d, labels, false); });
  EXPECT_NE(msg.find("dev.tsv:3: unknown label 'maybe'"), std::string::npos) << msg;
  auto d2 = read_labelled((dir / "dev.tsv").string(), {}, true);
  EXPECT_EQ(encode_labels(d2, labels, true), (std::vector<int64_t>{1}));
  EXPECT_EQ(d2.skipped, 1u);
  EXPECT_EQ(LabelMap::from_examples({{"", "", "b", 1}, {"", "", "a", 2}, {"", "", "b", 3}}).names(),
            (std::vector<std::string>{"a", "b"}));
}

TEST(Labelled, MissingNamedColumnIsAConfigError) {
  TempDir dir;
  write_file(dir / "a.tsv", "label\tsentence\npos\tx\n");
  EXPECT_THROW(read_labelled((dir / "a.tsv").string(), {}, true), ConfigError);
  LabelledFormat f;
  f.text_column = "sentence";
  EXPECT_EQ(read_labelled((dir / "a.tsv").string(), f, true).examples[0].text, "x");
}

TEST(Batching, PairTruncationIsLongestFirstAndPaddingIsDynamic) {
  std::vector<std::string> sample;
  for (int i = 0; i < 200; ++i) sample.push_back("one two three four five six seven eight nine ten");
  SentencePieceTrainOptions o;
  o.vocab_size = 24;
  o.character_coverage = 1.0;
  auto tok = SentencePieceTokenizer::train(sample, o, {}, 1, 1);
  const auto a = tok->encode("one two three four five six seven eight nine ten");
  const auto b = tok->encode("one two");
  const int64_t keep_a = static_cast<int64_t>(b.size()) + 2;  // still longer than b: only a is cut
  const int64_t max_len = static_cast<int64_t>(b.size()) + keep_a + 3;
  const auto e = encode_example(*tok, "one two three four five six seven eight nine ten", "one two", max_len);
  EXPECT_EQ(static_cast<int64_t>(e.ids.size()), max_len);
  EXPECT_EQ(e.ids.front(), SpecialTokens::kCls);
  EXPECT_EQ(e.ids.back(), SpecialTokens::kSep);
  // The long text was cut to keep_a tokens; the short pair survived whole.
  ASSERT_GT(static_cast<int64_t>(a.size()), keep_a);
  EXPECT_EQ(std::vector<int64_t>(e.ids.begin() + 1, e.ids.begin() + 1 + keep_a),
            std::vector<int64_t>(a.begin(), a.begin() + keep_a));
  EXPECT_EQ(std::count(e.segments.begin(), e.segments.end(), 1), static_cast<long>(b.size() + 1));

  std::vector<Encoded> enc{encode_example(*tok, "one", "", 32), e, encode_example(*tok, "one two three", "", 32)};
  const auto batch = make_batch(enc, {0, 2});
  EXPECT_EQ(batch.input_ids.size(1), static_cast<int64_t>(enc[2].ids.size()));  // padded to the longest chosen
  EXPECT_EQ(batch.attention_mask[0].sum().item<int64_t>(), static_cast<int64_t>(enc[0].ids.size()));
  EXPECT_EQ(batch.input_ids[0][-1].item<int64_t>(), SpecialTokens::kPad);
}

TEST(Batching, BucketsCoverEveryExampleOnceWithSimilarLengths) {
  std::vector<Encoded> enc;
  std::mt19937_64 gen(1);
  for (int i = 0; i < 1000; ++i) enc.push_back({std::vector<int64_t>(2 + gen() % 100, 7), {}});
  std::mt19937_64 rng(3);
  const auto batches = bucketed_batches(enc, 10, rng, 50);
  std::vector<int> seen(1000, 0);
  double spread = 0;
  for (const auto& b : batches) {
    size_t lo = 1000, hi = 0;
    for (size_t i : b) {
      ++seen[i];
      lo = std::min(lo, enc[i].ids.size());
      hi = std::max(hi, enc[i].ids.size());
    }
    spread += static_cast<double>(hi - lo);
  }
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 1), 1000);
  EXPECT_LT(spread / static_cast<double>(batches.size()), 5.0);  // random batches would spread ~80
}

// Issue 26: encoding errors name the line (whatever the reader), and plain
// lines keep one record per input line, blank ones included.
TEST(Labelled, EncodingErrorsNameTheLineInEveryReader) {
  LabelledFormat lines;
  lines.format = DataFormat::kLines;
  EXPECT_EQ(input_error([&] { parse_line_records("ok\n\xff\xfe bad\n", "<stdin>", lines, false, 1); }),
            "<stdin>:2: invalid UTF-8 (byte 0 of the line)");
  // A stream read in pieces: the piece's first line is line 7.
  EXPECT_EQ(input_error([&] { parse_line_records("fine\nab\xc3\x28\n", "<stdin>", lines, false, 7); }),
            "<stdin>:8: invalid UTF-8 (byte 2 of the line)");
  LabelledFormat tsv;
  tsv.format = DataFormat::kTsv;
  tsv.text_column = "text";
  tsv.label_column = "label";
  const std::string utf16("\xff\xfel\0a\0b\0", 8);
  EXPECT_NE(input_error([&] { parse_labelled(utf16, "u.tsv", "tsv", tsv, true); })
                .find("u.tsv:1: invalid UTF-8: the file starts with a UTF-16 byte-order mark"),
            std::string::npos);
  const std::string nul("label\ttext\nsports\tgo\0al\n", 23);
  EXPECT_EQ(input_error([&] { parse_labelled(nul, "b.tsv", "tsv", tsv, true); }),
            "b.tsv:2: a NUL byte (a binary file?) (byte 9 of the line)");
  EXPECT_NO_THROW(check_text_encoding("\xef\xbb\xbfvalid \xe4\xb8\xad\xe6\x96\x87\n", "ok.txt", 1));
}

TEST(Labelled, PlainLinesKeepBlankLinesAsRecords) {
  LabelledFormat lines;
  lines.format = DataFormat::kLines;
  const auto data = parse_labelled("first\n\n   \nlast\n", "in.txt", "lines", lines, false);
  ASSERT_EQ(data.examples.size(), 4u);
  EXPECT_EQ(data.examples[1].text, "");
  EXPECT_EQ(data.examples[2].text, "   ");
  EXPECT_EQ(data.examples[3].line, 4u);
  const auto streamed = parse_line_records("\nx\n", "<stdin>", lines, false, 3);
  ASSERT_EQ(streamed.examples.size(), 2u);
  EXPECT_EQ(streamed.examples[0].line, 3u);
}

TEST(Labelled, AByteOrderMarkIsNamedOnlyAtAFilesStartAndAJsonTextIsAString) {
  const auto message = [](std::string_view text, uint64_t first_line) {
    try {
      kdtext::text::check_text_encoding(text, "f.txt", first_line);
    } catch (const kdtext::InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message("\xff\xfe" "a", 1).find("UTF-16 byte-order mark"), std::string::npos);
  const auto later = message("\xff\xfe" "a", 2);  // a line of a file read a line at a time
  EXPECT_NE(later.find("f.txt:2: invalid UTF-8"), std::string::npos) << later;
  EXPECT_EQ(later.find("byte-order"), std::string::npos) << later;
  EXPECT_NE(message(std::string("a\0b", 3), 1).find("a NUL byte"), std::string::npos);

  kdtext::testing::TempDir dir;
  kdtext::testing::write_file(dir / "t.jsonl", "{\"text\": \"ok\", \"label\": 1}\n{\"text\": 123, \"label\": 0}\n");
  kdtext::text::LabelledFormat f;
  try {
    kdtext::text::read_labelled((dir / "t.jsonl").string(), f, true);
    FAIL() << "a numeric text was read";
  } catch (const kdtext::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("t.jsonl:2: missing or non-string field 'text'"), std::string::npos) << e.what();
  }
  kdtext::testing::write_file(dir / "u.jsonl", "{\"text\": \"ok\", \"label\": 1}\n");
  EXPECT_EQ(kdtext::text::read_labelled((dir / "u.jsonl").string(), f, true).examples.at(0).label, "1");  // a label may be
}
