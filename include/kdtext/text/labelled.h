// Readers for labelled classification data: TSV, CSV (RFC 4180) and JSON
// lines; columns by name or index; header detected or declared; single texts
// or text pairs; a BOM, CRLF line ends and empty lines are handled.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::text {

// What a reader does with a malformed line or an unknown label.
enum class BadLines { kError, kSkip };
inline constexpr std::pair<const char*, BadLines> kBadLines[] = {{"error", BadLines::kError}, {"skip", BadLines::kSkip}};

// How a labelled file is laid out: auto (by extension), tsv, csv, jsonl, or
// lines (one text per line, no labels).
enum class DataFormat { kAuto, kTsv, kCsv, kJsonl, kLines };
inline constexpr std::pair<const char*, DataFormat> kDataFormats[] = {{"auto", DataFormat::kAuto},
                                                                      {"tsv", DataFormat::kTsv},
                                                                      {"csv", DataFormat::kCsv},
                                                                      {"jsonl", DataFormat::kJsonl},
                                                                      {"lines", DataFormat::kLines}};

// The format of `path` when `declared` is auto: by extension (.tsv/.tab, .csv,
// .jsonl/.ndjson/.json), standard input as lines, anything else TSV.
DataFormat detect_format(const std::string& path, DataFormat declared);

// Whether `f` can be read a line at a time as it arrives (lines, jsonl; auto
// reads standard input as lines).
inline bool one_record_per_line(DataFormat f) {
  return f == DataFormat::kAuto || f == DataFormat::kLines || f == DataFormat::kJsonl;
}

struct LabelledFormat {
  DataFormat format = DataFormat::kAuto;
  std::string text_column = "text";   // column name, or 0-based index as digits
  std::string pair_column;            // second text of a pair ("" = single text)
  std::string label_column = "label"; // column name or index ("" = no labels)
  std::string header = "auto";        // auto | yes | no (TSV/CSV)
  BadLines bad_lines = BadLines::kError;  // error | skip (malformed lines, unknown labels)
};

// The "data" section (labelled-file format) and its flags.
const FieldTable<LabelledFormat>& labelled_format_fields();
Json to_json(const LabelledFormat& f);
LabelledFormat labelled_format_from_json(const JsonFields& f);
void validate(const LabelledFormat& f, const std::string& prefix);

struct Example {
  std::string text;
  std::string pair;
  std::string label;    // empty when the data has no labels
  uint64_t line = 0;    // 1-based line where the record starts
};

struct LabelledData {
  std::string source;               // file name (or "<stdin>")
  std::vector<Example> examples;
  uint64_t skipped = 0;             // bad lines skipped under bad_lines=skip
};

// Reads a file ("-" = standard input). With `need_labels`, a record without a
// label is malformed. Throws InputError "file:line: ..." on a malformed record
// unless bad_lines=skip.
LabelledData read_labelled(const std::string& path, const LabelledFormat& format, bool need_labels);

// Text input must be UTF-8 with no NUL bytes (a binary or UTF-16 file), for
// every reader: otherwise InputError "<source>:<line>: invalid UTF-8 (byte N
// of the line)" (a UTF-16 byte-order mark at the file's start, or a NUL byte,
// is named as such); `first_line` numbers text's first line.
void check_text_encoding(std::string_view text, const std::string& source, uint64_t first_line);

// The records of `text`, the whole content of `source`, in `format` (tsv,
// csv, jsonl or lines; not auto): what read_labelled does after reading the file.
LabelledData parse_labelled(const std::string& text, const std::string& source, DataFormat format,
                            const LabelledFormat& format_options, bool need_labels);
// The same with the format by name (tsv, csv, jsonl or lines; ConfigError naming `source` otherwise).
LabelledData parse_labelled(const std::string& text, const std::string& source, const std::string& format,
                            const LabelledFormat& format_options, bool need_labels);

// The records of `text`, a run of whole lines of `source` whose first is line
// `first_line` there, in a format with one record per line (format.format:
// "lines" or "jsonl"; anything else is a ConfigError). Errors and line numbers
// are those read_labelled gives for the same lines: for reading a stream in pieces.
LabelledData parse_line_records(const std::string& text, const std::string& source, const LabelledFormat& format,
                                bool need_labels, uint64_t first_line);

// Parses CSV text (RFC 4180: quoted fields with commas, quotes and newlines).
// Each record comes with its starting line. Throws InputError on an unterminated quote.
std::vector<std::pair<uint64_t, std::vector<std::string>>> parse_csv(const std::string& text, char delimiter,
                                                                     const std::string& source);

// Label name <-> id, built from the training labels (sorted for determinism).
class LabelMap {
 public:
  LabelMap() = default;
  explicit LabelMap(std::vector<std::string> names);
  static LabelMap from_examples(const std::vector<Example>& examples);
  int64_t size() const { return static_cast<int64_t>(names_.size()); }
  const std::vector<std::string>& names() const { return names_; }
  // -1 when unknown.
  int64_t id(const std::string& name) const;

 private:
  std::vector<std::string> names_;
  std::map<std::string, int64_t> ids_;
};

// Replaces labels with ids; an unknown label is an InputError naming file and
// line (or, with skip, the example is dropped and counted).
std::vector<int64_t> encode_labels(LabelledData& data, const LabelMap& labels, bool skip_unknown);
// The same, skipping unknown labels when `format` says bad_lines=skip.
std::vector<int64_t> encode_labels(LabelledData& data, const LabelMap& labels, const LabelledFormat& format);

}  // namespace kdtext::text
