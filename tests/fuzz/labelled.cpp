// Labelled data (TSV, CSV, JSON lines, plain lines) with the reader options
// chosen by the first byte, then label encoding as training does it.
#include <algorithm>

#include "fuzz_common.h"
#include "kdtext/text/labelled.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::Split in = fuzz::split_flags(data, size);
  const uint8_t flags = in.flags;
  const std::string& text = in.payload;
  const std::string origin = "fuzz.data";
  static const char* kFormats[] = {"tsv", "csv", "jsonl", "lines"};
  static const kdtext::text::DataFormat kFormatValues[] = {kdtext::text::DataFormat::kTsv, kdtext::text::DataFormat::kCsv,
                                                          kdtext::text::DataFormat::kJsonl, kdtext::text::DataFormat::kLines};
  static const char* kHeaders[] = {"auto", "yes", "no", "auto"};
  kdtext::text::LabelledFormat f;
  const std::string format = kFormats[flags & 3];
  f.format = kFormatValues[flags & 3];
  f.header = kHeaders[(flags >> 2) & 3];
  if (flags & 16) f.pair_column = (flags & 64) ? "1" : "pair";
  if (flags & 32) f.text_column = "0", f.label_column = (flags & 64) ? "2" : "1";
  f.bad_lines = (flags & 128) ? kdtext::text::BadLines::kSkip : kdtext::text::BadLines::kError;
  const bool need_labels = format != "lines";
  const uint64_t lines = 1 + static_cast<uint64_t>(std::count(text.begin(), text.end(), '\n'));
  fuzz::expect_typed_errors(origin, [&] {
    auto read = kdtext::text::parse_labelled(text, origin, format, f, need_labels);
    for (const auto& e : read.examples) fuzz::check(e.line >= 1 && e.line <= lines, "line number in range");
    if (format == "lines" || format == "jsonl") {
      const auto again = kdtext::text::parse_line_records(text, origin, f, need_labels, 1);
      fuzz::check(again.examples.size() == read.examples.size(), "line records agree with parse_labelled");
    }
    if (!need_labels) return;
    const auto labels = kdtext::text::LabelMap::from_examples(read.examples);
    const auto ids = kdtext::text::encode_labels(read, labels, f);
    fuzz::check(ids.size() == read.examples.size(), "one id per example");
    for (int64_t id : ids) fuzz::check(id >= 0 && id < labels.size(), "label id in range");
  });
  return 0;
}
