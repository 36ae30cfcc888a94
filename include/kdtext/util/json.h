// JSON helpers shared by configs and metadata files: reading with
// file:line:column errors, layered merging that rejects unknown keys, and
// typed field access whose errors name the key.
#pragma once

#include <filesystem>
#include <limits>
#include <type_traits>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace kdtext {

using Json = nlohmann::json;

// Parses a JSON file. Throws InputError naming the file (and line:column on a
// syntax error) when it is missing or malformed.
Json read_json_file(const std::filesystem::path& path);
// The same for the content `text` of `origin`.
Json parse_json_text(const std::string& text, const std::string& origin);

// Overlays `patch` onto `base` recursively. Every key of `patch` must exist in
// `base` (with a compatible type); otherwise throws ConfigError naming
// `origin` and the dotted key. Arrays and scalars are replaced whole.
void merge_config(Json& base, const Json& patch, const std::string& origin);

// Reads typed fields of a JSON object, naming `prefix.key` in every error.
class JsonFields {
 public:
  JsonFields(const Json& object, std::string prefix);

  template <typename T>
  void get(const char* key, T& out) const {
    auto it = object_.find(key);
    if (it == object_.end()) return;  // keep the default
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      // A JSON number outside T (or with a fraction) is a type error, not a
      // silent wrap or an undefined float-to-integer conversion.
      if (!fits_integer(*it, static_cast<int64_t>(std::numeric_limits<T>::min()),
                        static_cast<uint64_t>(std::numeric_limits<T>::max()))) {
        throw_type_error(key, type_name_of<T>(), *it);
      }
    }
    try {
      out = it->template get<T>();
    } catch (const nlohmann::json::exception&) {
      throw_type_error(key, type_name_of<T>(), *it);
    }
  }
  // An enum-like option: the string at `key` must be one of the names in
  // `table` ({"name", value} pairs); otherwise a ConfigError names the key,
  // the value and the choices. Parsed once, so no code compares strings later.
  // `unknown_form`: the message reads "key: unknown 'x' (expected a, b or c)"
  // (the older spelling of some keys) instead of "key: expected a, b or c, got 'x'".
  template <typename E, size_t N>
  void get_choice(const char* key, E& out, const std::pair<const char*, E> (&table)[N], bool unknown_form = false) const {
    if (object_.find(key) == object_.end()) return;  // keep the default
    std::string name;
    get(key, name);
    for (const auto& [n, v] : table) {
      if (name == n) {
        out = v;
        return;
      }
    }
    std::string choices;
    for (size_t i = 0; i < N; ++i) choices += std::string(i == 0 ? "" : (i + 1 == N ? " or " : ", ")) + table[i].first;
    throw_choice_error(key, choices, name, unknown_form);
  }
  // A list of integers; numeric strings (as list flags produce) are accepted.
  void get_int_list(const char* key, std::vector<int64_t>& out) const;
  // The value at `key`, or nullptr when absent.
  const Json* find(const char* key) const {
    auto it = object_.find(key);
    return it == object_.end() ? nullptr : &*it;
  }
  // The object under `key` (empty object if absent).
  JsonFields child(const char* key) const;
  std::string path(const char* key) const;
  // The dotted position of this object ("" at the root).
  const std::string& prefix() const { return prefix_; }

 private:
  template <typename T>
  static const char* type_name_of() {
    if constexpr (std::is_same_v<T, bool>) return "a boolean";
    else if constexpr (std::is_integral_v<T>) return "an integer";
    else if constexpr (std::is_floating_point_v<T>) return "a number";
    else if constexpr (std::is_same_v<T, std::string>) return "a string";
    else if constexpr (std::is_same_v<T, std::vector<std::string>>) return "a list of strings";
    else return "a value of another type";
  }
  // `v` is an integer (or an integral float) within [lo, hi].
  static bool fits_integer(const Json& v, int64_t lo, uint64_t hi);
  [[noreturn]] void throw_type_error(const char* key, const char* expected, const Json& got) const;
  [[noreturn]] void throw_choice_error(const char* key, const std::string& choices, const std::string& got,
                                       bool unknown_form) const;

  const Json& object_;
  std::string prefix_;
};

// The name of an enum-like option's value in its table (for JSON output).
template <typename E, size_t N>
const char* choice_name(E value, const std::pair<const char*, E> (&table)[N]) {
  for (const auto& [n, v] : table) {
    if (v == value) return n;
  }
  return "?";
}

}  // namespace kdtext
