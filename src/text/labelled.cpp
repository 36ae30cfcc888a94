#include "kdtext/text/labelled.h"

#include <algorithm>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "kdtext/util/error.h"
#include "kdtext/util/file.h"

namespace kdtext::text {
namespace fs = std::filesystem;

Json to_json(const LabelledFormat& f) {
  return Json{{"format", f.format},         {"text_column", f.text_column}, {"pair_column", f.pair_column},
              {"label_column", f.label_column}, {"header", f.header},          {"bad_lines", f.bad_lines}};
}

LabelledFormat labelled_format_from_json(const JsonFields& f) {
  LabelledFormat o;
  f.get("format", o.format);
  f.get("text_column", o.text_column);
  f.get("pair_column", o.pair_column);
  f.get("label_column", o.label_column);
  f.get("header", o.header);
  f.get("bad_lines", o.bad_lines);
  return o;
}

void validate(const LabelledFormat& f, const std::string& p) {
  static const std::set<std::string> kFormats{"auto", "tsv", "csv", "jsonl", "lines"};
  if (!kFormats.count(f.format)) {
    throw ConfigError(p + ".format: unknown '" + f.format + "' (expected auto, tsv, csv, jsonl or lines)");
  }
  if (f.header != "auto" && f.header != "yes" && f.header != "no") {
    throw ConfigError(p + ".header: expected auto, yes or no, got '" + f.header + "'");
  }
  if (f.bad_lines != "error" && f.bad_lines != "skip") {
    throw ConfigError(p + ".bad_lines: expected error or skip, got '" + f.bad_lines + "'");
  }
  if (f.text_column.empty()) throw ConfigError(p + ".text_column: required");
}

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

std::string detect_format(const std::string& path, const std::string& declared) {
  if (declared != "auto") return declared;
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".tsv" || ext == ".tab") return "tsv";
  if (ext == ".csv") return "csv";
  if (ext == ".jsonl" || ext == ".ndjson" || ext == ".json") return "jsonl";
  return path == "-" ? "lines" : "tsv";
}

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

std::vector<std::pair<uint64_t, std::vector<std::string>>> parse_tsv(const std::string& text) {
  std::vector<std::pair<uint64_t, std::vector<std::string>>> rows;
  std::istringstream in(text);
  std::string line;
  uint64_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;  // empty line
    rows.emplace_back(n, split_tsv(line));
  }
  return rows;
}

}  // namespace

std::vector<std::pair<uint64_t, std::vector<std::string>>> parse_csv(const std::string& text, char delim,
                                                                     const std::string& source) {
  std::vector<std::pair<uint64_t, std::vector<std::string>>> rows;
  std::vector<std::string> fields;
  std::string field;
  bool quoted = false, field_started = false, any = false;
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
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
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

LabelledData read_labelled(const std::string& path, const LabelledFormat& f, bool need_labels) {
  LabelledData data;
  data.source = path == "-" ? "<stdin>" : path;
  const std::string text = slurp(path);
  const std::string format = detect_format(path, f.format);
  const bool skip = f.bad_lines == "skip";
  const auto bad = [&](uint64_t line, const std::string& why) {
    if (!skip) throw InputError(data.source + ":" + std::to_string(line) + ": " + why);
    ++data.skipped;
  };
  const bool want_pair = !f.pair_column.empty();
  const bool want_label = !f.label_column.empty() && need_labels;
  const bool opt_label = !f.label_column.empty();

  if (format == "lines") {
    std::istringstream in(text);
    std::string line;
    uint64_t n = 0;
    while (std::getline(in, line)) {
      ++n;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      data.examples.push_back({line, "", "", n});
    }
    if (need_labels) throw ConfigError(data.source + ": plain lines carry no labels; use tsv, csv or jsonl");
    return data;
  }

  if (format == "jsonl") {
    std::istringstream in(text);
    std::string line;
    uint64_t n = 0;
    const auto field = [](const Json& j, const std::string& key, std::string& out) {
      auto it = j.find(key);
      if (it == j.end() || it->is_null()) return false;
      if (it->is_string()) out = it->get<std::string>();
      else if (it->is_number_integer() || it->is_boolean()) out = it->dump();
      else return false;
      return true;
    };
    while (std::getline(in, line)) {
      ++n;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      Json j;
      try {
        j = Json::parse(line);
      } catch (const nlohmann::json::parse_error& e) {
        bad(n, std::string("invalid JSON: ") + e.what());
        continue;
      }
      if (!j.is_object()) {
        bad(n, "expected a JSON object");
        continue;
      }
      Example ex{"", "", "", n};
      if (!field(j, f.text_column, ex.text)) {
        bad(n, "missing or non-string field '" + f.text_column + "'");
        continue;
      }
      if (want_pair && !field(j, f.pair_column, ex.pair)) {
        bad(n, "missing or non-string field '" + f.pair_column + "'");
        continue;
      }
      if (opt_label && !field(j, f.label_column, ex.label) && want_label) {
        bad(n, "missing label field '" + f.label_column + "'");
        continue;
      }
      data.examples.push_back(std::move(ex));
    }
    return data;
  }

  auto rows = format == "csv" ? parse_csv(text, ',', data.source) : parse_tsv(text);
  if (rows.empty()) return data;
  // Resolve columns: by index, or by name from the header row.
  const auto& first = rows.front().second;
  const bool by_name = !is_index(f.text_column) || (want_pair && !is_index(f.pair_column)) ||
                       (opt_label && !is_index(f.label_column));
  bool has_header = f.header == "yes";
  if (f.header == "auto") {
    has_header = by_name && std::find(first.begin(), first.end(), f.text_column) != first.end();
  }
  if (by_name && !has_header) {
    throw ConfigError(data.source + ": columns are named (text_column '" + f.text_column +
                      "') but the file has no header row naming them; give column indices or --header yes");
  }
  const auto resolve = [&](const std::string& col, const std::string& key) -> int64_t {
    if (col.empty()) return -1;
    if (is_index(col)) return std::stoll(col);
    auto it = std::find(first.begin(), first.end(), col);
    if (it == first.end()) {
      std::string have;
      for (const auto& h : first) have += (have.empty() ? "" : ", ") + h;
      throw ConfigError(data.source + ": " + key + " '" + col + "' is not in the header (" + have + ")");
    }
    return it - first.begin();
  };
  const int64_t text_i = resolve(f.text_column, "text_column");
  const int64_t pair_i = want_pair ? resolve(f.pair_column, "pair_column") : -1;
  int64_t label_i = -1;
  if (opt_label) {
    if (has_header && !is_index(f.label_column) &&
        std::find(first.begin(), first.end(), f.label_column) == first.end() && !need_labels) {
      label_i = -1;  // unlabelled input for classification is fine
    } else {
      label_i = resolve(f.label_column, "label_column");
    }
  }
  const size_t width = has_header ? first.size() : 0;
  for (size_t r = has_header ? 1 : 0; r < rows.size(); ++r) {
    const auto& [line, cells] = rows[r];
    if (width > 0 && cells.size() != width) {
      bad(line, "expected " + std::to_string(width) + " fields, found " + std::to_string(cells.size()));
      continue;
    }
    const int64_t need = std::max({text_i, pair_i, want_label ? label_i : int64_t{-1}});
    if (static_cast<int64_t>(cells.size()) <= need) {
      bad(line, "expected at least " + std::to_string(need + 1) + " fields, found " + std::to_string(cells.size()));
      continue;
    }
    Example ex{cells[text_i], pair_i >= 0 ? cells[pair_i] : "", "", line};
    if (label_i >= 0 && label_i < static_cast<int64_t>(cells.size())) ex.label = cells[label_i];
    if (want_label && ex.label.empty()) {
      bad(line, "empty label");
      continue;
    }
    data.examples.push_back(std::move(ex));
  }
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

}  // namespace kdtext::text
