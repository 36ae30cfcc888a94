#include "kdtext/util/json.h"

#include "kdtext/util/file.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "kdtext/error.h"
#include "kdtext/util/fields.h"

namespace kdtext {
namespace {

std::string join_key(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

bool compatible(const Json& base, const Json& value) {
  if (base.is_null()) return true;
  if (base.is_number() && value.is_number()) {
    // An integer field accepts only integers; a float field accepts both.
    return !(base.is_number_integer() && value.is_number_float());
  }
  return base.type() == value.type();
}

void merge_at(Json& base, const Json& patch, const std::string& origin, const std::string& prefix) {
  if (!patch.is_object()) {
    throw ConfigError(origin + ": expected a JSON object" +
                      (prefix.empty() ? std::string() : " at '" + prefix + "'"));
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string key = join_key(prefix, it.key());
    auto found = base.find(it.key());
    if (found == base.end()) {
      std::string known;
      for (auto k = base.begin(); k != base.end(); ++k) known += (known.empty() ? "" : ", ") + k.key();
      throw ConfigError(origin + ": unknown key '" + key + "' (known keys here: " + known + ")");
    }
    if (found->is_object()) {
      merge_at(*found, it.value(), origin, key);
    } else if (!compatible(*found, it.value())) {
      throw ConfigError(origin + ": key '" + key + "' should be " +
                        std::string(found->type_name()) + ", got " + it.value().dump());
    } else {
      *found = it.value();
    }
  }
}

}  // namespace

Json read_json_file(const std::filesystem::path& path) { return parse_json_text(read_file(path), path.string()); }

Json parse_json_text(const std::string& text, const std::string& origin) {
  try {
    return Json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    size_t line = 1, column = 1;
    const size_t end = std::min<size_t>(e.byte == 0 ? 0 : e.byte - 1, text.size());
    for (size_t i = 0; i < end; ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = e.what();
    const auto pos = what.find("syntax error");
    what = pos == std::string::npos ? what : what.substr(pos);
    if (what.size() > 300) what = what.substr(0, 300) + "...";  // nlohmann echoes the token read: a 10 MB key whole
    const bool utf16 = text.size() >= 2 && ((text[0] == '\xff' && text[1] == '\xfe') ||
                                            (text[0] == '\xfe' && text[1] == '\xff') || text[1] == '\0' || text[0] == '\0');
    throw InputError(origin + ":" + std::to_string(line) + ":" + std::to_string(column) + ": invalid JSON: " + what +
                     (utf16 ? " (the file looks like UTF-16; JSON files are read as UTF-8: iconv -f UTF-16 -t UTF-8)" : ""));
  } catch (const nlohmann::json::exception& e) {  // e.g. a number too large for a double (1e999)
    throw InputError(origin + ": invalid JSON: " + e.what());
  }
}

void merge_config(Json& base, const Json& patch, const std::string& origin) {
  merge_at(base, patch, origin, "");
}

bool JsonFields::fits_integer(const Json& v, int64_t lo, uint64_t hi) {
  if (v.is_number_unsigned()) return v.get<uint64_t>() <= hi;
  if (v.is_number_integer()) {
    const int64_t i = v.get<int64_t>();
    return i >= lo && (i < 0 || static_cast<uint64_t>(i) <= hi);
  }
  if (!v.is_number_float()) return true;  // not a number: get<T>() throws, a type error
  const double d = v.get<double>();
  return std::isfinite(d) && std::trunc(d) == d && d >= static_cast<double>(lo) && d < static_cast<double>(hi);
}

JsonFields::JsonFields(const Json& object, std::string prefix)
    : object_(object), prefix_(std::move(prefix)) {
  if (!object_.is_object() && !object_.is_null()) {
    throw ConfigError("config key '" + prefix_ + "' should be an object, got " + object_.dump());
  }
}

void JsonFields::get_int_list(const char* key, std::vector<int64_t>& out) const {
  auto it = object_.find(key);
  if (it == object_.end()) return;
  if (!it->is_array()) throw_type_error(key, "a list of integers", *it);
  std::vector<int64_t> values;
  for (const auto& v : *it) {
    if (v.is_number_integer()) {
      values.push_back(v.get<int64_t>());
    } else if (v.is_string() && !v.get<std::string>().empty() &&
               v.get<std::string>().find_first_not_of("-0123456789") == std::string::npos) {
      values.push_back(std::stoll(v.get<std::string>()));
    } else {
      throw_type_error(key, "a list of integers", *it);
    }
  }
  out = std::move(values);
}

JsonFields JsonFields::child(const char* key) const {
  static const Json kEmpty = Json::object();
  auto it = object_.find(key);
  return JsonFields(it == object_.end() ? kEmpty : *it, path(key));
}

std::string number_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

std::string JsonFields::path(const char* key) const { return join_key(prefix_, key); }

void JsonFields::throw_type_error(const char* key, const char* expected, const Json& got) const {
  throw ConfigError("config key '" + path(key) + "' should be " + expected + ", got " + got.dump());
}

void JsonFields::throw_choice_error(const char* key, const std::string& choices, const std::string& got,
                                    bool unknown_form) const {
  if (unknown_form) throw ConfigError(path(key) + ": unknown '" + got + "' (expected " + choices + ")");
  throw ConfigError(path(key) + ": expected " + choices + ", got '" + got + "'");
}

}  // namespace kdtext
