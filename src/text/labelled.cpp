#include "kdtext/text/labelled.h"

#include "kdtext/text/utf8.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "kdtext/text/utf8.h"
#include "kdtext/error.h"
#include "kdtext/util/file.h"

namespace kdtext::text {
namespace fs = std::filesystem;

const FieldTable<LabelledFormat>& labelled_format_fields() {
  using F = LabelledFormat;
  static const auto t = FieldTable<F>()
      .choice("format", &F::format, kDataFormats, "auto, tsv, csv or jsonl (classify also: lines)", true)
      .flag("--format")
      .field("text_column", &F::text_column, "Text column (name or 0-based index)", required()).flag("--text-column")
      .field("pair_column", &F::pair_column, "Second text column for pairs").flag("--pair-column")
      .field("label_column", &F::label_column, "Label column (name or index)").flag("--label-column")
      .field("header", &F::header, "auto, yes or no", one_of({"auto", "yes", "no"})).flag("--header")
      .choice("bad_lines", &F::bad_lines, kBadLines, "error or skip").flag("--bad-lines");
  return t;
}

Json to_json(const LabelledFormat& f) { return labelled_format_fields().to_json(f); }
LabelledFormat labelled_format_from_json(const JsonFields& f) { return labelled_format_fields().from_json(f); }
void validate(const LabelledFormat& f, const std::string& p) { labelled_format_fields().check(f, p); }

namespace {

std::string slurp(const std::string& path) {
  std::string s;
  if (path == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    s = ss.str();
  } else {
    s = read_file(path);
  }
  if (s.compare(0, 3, "\xEF\xBB\xBF") == 0) s.erase(0, 3);
  return s;
}

}  // namespace

DataFormat detect_format(const std::string& path, DataFormat declared) {
  if (declared != DataFormat::kAuto) return declared;
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".tsv" || ext == ".tab") return DataFormat::kTsv;
  if (ext == ".csv") return DataFormat::kCsv;
  if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") return DataFormat::kJsonl;
  return path == "-" ? DataFormat::kLines : DataFormat::kTsv;
}

namespace {

bool is_index(const std::string& s) {
  return !s.empty() && s.size() < 6 && s.find_first_not_of("0123456789") == std::string::npos;
}

std::vector<std::string> split_tsv(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t tab = line.find('\t', start);
    out.push_back(line.substr(start, tab - start));
    if (tab == std::string::npos) break;
    start = tab + 1;
  }
  return out;
}

// Calls `each(line_number, line)` for every non-blank line (CR stripped);
// with `blank_lines`, for blank ones too.
template <typename F>
void for_each_line(const std::string& text, F each, uint64_t first_line = 1, bool blank_lines = false) {
  std::istringstream in(text);
  std::string line;
  uint64_t n = first_line - 1;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!blank_lines && line.find_first_not_of(" \t") == std::string::npos) continue;
    each(n, line);
  }
}

std::vector<std::pair<uint64_t, std::vector<std::string>>> parse_tsv(const std::string& text) {
  std::vector<std::pair<uint64_t, std::vector<std::string>>> rows;
  for_each_line(text, [&](uint64_t n, const std::string& line) { rows.emplace_back(n, split_tsv(line)); });
  return rows;
}

}  // namespace

namespace {
// RFC 4180: a closing quote ends the field. Text after it is what an
// unterminated quote looks like once it has swallowed the next lines.
InputError text_after_closing_quote(const std::string& source, uint64_t line, uint64_t record_line) {
  return InputError(source + ":" + std::to_string(line) + ": text after the closing quote of a field that opened " +
                    (record_line == line ? std::string("on this line") : "on line " + std::to_string(record_line)) +
                    " (an unterminated quote?)");
}
}  // namespace

std::vector<std::pair<uint64_t, std::vector<std::string>>> parse_csv(const std::string& text, char delim,
                                                                     const std::string& source) {
  std::vector<std::pair<uint64_t, std::vector<std::string>>> rows;
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, field_started = false, any = false, closed = false;
  uint64_t line = 1, record_line = 1;
  const auto end_record = [&] {
    if (any || !field.empty() || !fields.empty()) {
      fields.push_back(field);
      const bool blank = fields.size() == 1 && fields[0].find_first_not_of(" \t") == std::string::npos;
      if (!blank) rows.emplace_back(record_line, fields);
    }
    fields.clear();
    field.clear();
    any = field_started = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          quoted = false;
          closed = true;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    if (closed && c != delim && c != '\n' && c != '\r') throw text_after_closing_quote(source, line, record_line);
    closed = false;
    if (c == '"' && !field_started) {
      quoted = true;
      field_started = any = true;
    } else if (c == delim) {
      fields.push_back(field);
      field.clear();
      field_started = false;
      any = true;
    } else if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      // CRLF: the '\n' ends the record
    } else if (c == '\n') {
      end_record();
      ++line;
      record_line = line;
    } else {
      field.push_back(c);
      field_started = any = true;
    }
  }
  if (quoted) throw InputError(source + ":" + std::to_string(record_line) + ": unterminated quoted field");
  end_record();
  return rows;
}

namespace {

// What the record readers share: the format, whether labels are required,
// the data being filled and the bad-line policy.
struct Records {
  const LabelledFormat& f;
  bool need_labels;
  LabelledData& data;
  uint64_t first_line = 1;  // number of the text's first line in its file
  bool want_pair() const { return !f.pair_column.empty(); }
  bool want_label() const { return !f.label_column.empty() && need_labels; }
  bool opt_label() const { return !f.label_column.empty(); }
  // A malformed record: an error naming file and line, or counted under bad_lines=skip.
  void bad(uint64_t line, const std::string& why) {
    if (f.bad_lines != BadLines::kSkip) throw InputError(data.source + ":" + std::to_string(line) + ": " + why);
    ++data.skipped;
  }
};

// Every line is a text, a blank one included: line-based output keeps one row
// per input line (`paste input predictions` lines up).
void read_plain_lines(const std::string& text, Records& r) {
  for_each_line(text, [&](uint64_t n, const std::string& line) { r.data.examples.push_back({line, "", "", n}); },
                r.first_line, /*blank_lines=*/true);
  if (r.need_labels) throw ConfigError(r.data.source + ": plain lines carry no labels; use tsv, csv or jsonl");
}

// A text is a JSON string (a number, like null or an array, is not one); a
// label may also be an integer or a boolean (`"label": 1`), read as written.
bool json_text_field(const Json& j, const std::string& key, std::string& out, bool label = false) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return false;
  if (it->is_string()) out = it->get<std::string>();
  else if (label && (it->is_number_integer() || it->is_boolean())) out = it->dump();
  else return false;
  return true;
}

void read_jsonl(const std::string& text, Records& r) {
  const auto& f = r.f;
  for_each_line(text, [&](uint64_t n, const std::string& line) {
    Json j;
    try {
      j = Json::parse(line);
    } catch (const nlohmann::json::exception& e) {  // syntax, or a number out of range
      return r.bad(n, std::string("invalid JSON: ") + e.what());
    }
    if (!j.is_object()) return r.bad(n, "expected a JSON object");
    Example ex{"", "", "", n};
    if (!json_text_field(j, f.text_column, ex.text)) return r.bad(n, "missing or non-string field '" + f.text_column + "'");
    if (r.want_pair() && !json_text_field(j, f.pair_column, ex.pair)) {
      return r.bad(n, "missing or non-string field '" + f.pair_column + "'");
    }
    if (r.opt_label() && !json_text_field(j, f.label_column, ex.label, /*label=*/true) && r.want_label()) {
      return r.bad(n, "missing label field '" + f.label_column + "'");
    }
    r.data.examples.push_back(std::move(ex));
  }, r.first_line);
}

// Column positions of a TSV/CSV file (-1: absent), resolved by index or header name.
struct Columns {
  bool has_header = false;
  int64_t text = -1, pair = -1, label = -1;
};

Columns resolve_columns(const std::vector<std::string>& first, const Records& r) {
  const auto& f = r.f;
  const bool by_name = !is_index(f.text_column) || (r.want_pair() && !is_index(f.pair_column)) ||
                       (r.opt_label() && !is_index(f.label_column));
  Columns c;
  c.has_header = f.header == "yes";
  if (f.header == "auto") {
    c.has_header = by_name && std::find(first.begin(), first.end(), f.text_column) != first.end();
  }
  if (by_name && !c.has_header) {
    std::string seen;
    for (const auto& name : first) seen += (seen.empty() ? "" : ", ") + name;
    throw ConfigError(r.data.source + ": text_column '" + f.text_column + "' is not in the first row (" + seen +
                      "); name a column of the header, give a column index, or --header yes/no");
  }
  const auto resolve = [&](const std::string& col, const std::string& key) -> int64_t {
    if (col.empty()) return -1;
    if (is_index(col)) return std::stoll(col);
    auto it = std::find(first.begin(), first.end(), col);
    if (it == first.end()) {
      std::string have;
      for (const auto& h : first) have += (have.empty() ? "" : ", ") + h;
      throw ConfigError(r.data.source + ": " + key + " '" + col + "' is not in the header (" + have + ")");
    }
    return it - first.begin();
  };
  c.text = resolve(f.text_column, "text_column");
  c.pair = r.want_pair() ? resolve(f.pair_column, "pair_column") : -1;
  if (r.opt_label()) {
    const bool absent = c.has_header && !is_index(f.label_column) &&
                        std::find(first.begin(), first.end(), f.label_column) == first.end();
    // An unlabelled input for classification is fine.
    c.label = absent && !r.need_labels ? -1 : resolve(f.label_column, "label_column");
  }
  return c;
}

void read_table(const std::string& text, DataFormat format, Records& r) {
  auto rows = format == DataFormat::kCsv ? parse_csv(text, ',', r.data.source) : parse_tsv(text);
  if (rows.empty()) return;
  const Columns col = resolve_columns(rows.front().second, r);
  const size_t width = col.has_header ? rows.front().second.size() : 0;
  const int64_t need = std::max({col.text, col.pair, r.want_label() ? col.label : int64_t{-1}});
  for (size_t i = col.has_header ? 1 : 0; i < rows.size(); ++i) {
    const auto& [line, cells] = rows[i];
    if (width > 0 && cells.size() != width) {
      r.bad(line, "expected " + std::to_string(width) + " fields, found " + std::to_string(cells.size()));
      continue;
    }
    if (static_cast<int64_t>(cells.size()) <= need) {
      r.bad(line, "expected at least " + std::to_string(need + 1) + " fields, found " + std::to_string(cells.size()));
      continue;
    }
    Example ex{cells[col.text], col.pair >= 0 ? cells[col.pair] : "", "", line};
    if (col.label >= 0 && col.label < static_cast<int64_t>(cells.size())) ex.label = cells[col.label];
    if (r.want_label() && ex.label.empty()) {
      r.bad(line, "empty label");
      continue;
    }
    r.data.examples.push_back(std::move(ex));
  }
}

}  // namespace

LabelledData read_labelled(const std::string& path, const LabelledFormat& f, bool need_labels) {
  const std::string text = slurp(path);
  return parse_labelled(text, path == "-" ? "<stdin>" : path, detect_format(path, f.format), f, need_labels);
}

void check_text_encoding(std::string_view text, const std::string& source, uint64_t first_line) {
  size_t at = 0;
  const bool utf8 = is_valid_utf8(text, &at);
  const size_t nul = text.find('\0');
  if (utf8 && nul == std::string_view::npos) return;
  const size_t bad = utf8 ? nul : std::min(at, nul);
  const size_t line_start = text.rfind('\n', bad == 0 ? 0 : bad - 1);
  const size_t column = line_start == std::string_view::npos || bad == 0 ? bad : bad - line_start - 1;
  const uint64_t line = first_line + static_cast<uint64_t>(std::count(text.begin(), text.begin() + bad, '\n'));
  const bool utf16 = first_line == 1 && text.size() >= 2 &&  // a byte-order mark opens a file, not a later line
                     ((text[0] == '\xff' && text[1] == '\xfe') || (text[0] == '\xfe' && text[1] == '\xff'));
  std::string why = bad == nul ? "a NUL byte (a binary file?)" : "invalid UTF-8";
  if (utf16) why = "invalid UTF-8: the file starts with a UTF-16 byte-order mark; convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)";
  else if (bad == nul && first_line == 1 && nul < 4) why = "a NUL byte (a UTF-16 or binary file? kdtext reads UTF-8)";
  throw InputError(source + ":" + std::to_string(line) + ": " + why + " (byte " + std::to_string(column) +
                   " of the line)");
}

LabelledData parse_labelled(const std::string& text, const std::string& source, DataFormat format,
                            const LabelledFormat& f, bool need_labels) {
  if (format == DataFormat::kAuto) throw ConfigError(source + ": unknown format 'auto' (tsv, csv, jsonl or lines)");
  check_text_encoding(text, source, 1);
  LabelledData data;
  data.source = source;
  Records records{f, need_labels, data};
  if (format == DataFormat::kLines) read_plain_lines(text, records);
  else if (format == DataFormat::kJsonl) read_jsonl(text, records);
  else read_table(text, format, records);
  return data;  // its fields are pieces of text, whose encoding check_text_encoding checked whole
}

LabelledData parse_labelled(const std::string& text, const std::string& source, const std::string& format,
                            const LabelledFormat& f, bool need_labels) {
  for (const auto& [name, v] : kDataFormats) {
    if (format == name && v != DataFormat::kAuto) return parse_labelled(text, source, v, f, need_labels);
  }
  throw ConfigError(source + ": unknown format '" + format + "' (tsv, csv, jsonl or lines)");
}

LabelledData parse_line_records(const std::string& text, const std::string& source, const LabelledFormat& f,
                                bool need_labels, uint64_t first_line) {
  if (f.format != DataFormat::kLines && f.format != DataFormat::kJsonl) {
    throw ConfigError(source + ": format '" + choice_name(f.format, kDataFormats) +
                      "' is not read line by line (lines or jsonl)");
  }
  check_text_encoding(text, source, first_line);
  LabelledData data;
  data.source = source;
  Records records{f, need_labels, data, first_line};
  if (f.format == DataFormat::kLines) read_plain_lines(text, records);
  else read_jsonl(text, records);
  return data;
}

LabelMap::LabelMap(std::vector<std::string> names) : names_(std::move(names)) {
  for (size_t i = 0; i < names_.size(); ++i) ids_[names_[i]] = static_cast<int64_t>(i);
}

LabelMap LabelMap::from_examples(const std::vector<Example>& examples) {
  std::set<std::string> names;
  for (const auto& e : examples) names.insert(e.label);
  return LabelMap(std::vector<std::string>(names.begin(), names.end()));
}

int64_t LabelMap::id(const std::string& name) const {
  auto it = ids_.find(name);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<int64_t> encode_labels(LabelledData& data, const LabelMap& labels, bool skip_unknown) {
  std::vector<int64_t> ids;
  std::vector<Example> kept;
  for (auto& e : data.examples) {
    const int64_t id = labels.id(e.label);
    if (id < 0) {
      if (!skip_unknown) {
        std::string known;
        for (const auto& n : labels.names()) known += (known.empty() ? "" : ", ") + n;
        throw InputError(data.source + ":" + std::to_string(e.line) + ": unknown label '" + e.label +
                         "' (the model knows: " + known + ")");
      }
      ++data.skipped;
      continue;
    }
    ids.push_back(id);
    kept.push_back(std::move(e));
  }
  data.examples = std::move(kept);
  return ids;
}

std::vector<int64_t> encode_labels(LabelledData& data, const LabelMap& labels, const LabelledFormat& format) {
  return encode_labels(data, labels, format.bad_lines == BadLines::kSkip);
}

}  // namespace kdtext::text
