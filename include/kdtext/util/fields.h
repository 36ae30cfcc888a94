// One declaration per configuration field. A FieldTable<C> lists the fields
// of an options struct C once — JSON key, member, help text, the checks on its
// value and, optionally, the command-line flag a stage binds to it — and
// derives from that list the JSON writing (config.json, --dump-config), the
// JSON reading (errors name the dotted key), the value checks and the flag
// bindings (cli::StageApp). Defaults are the struct's member initialisers.
//
//   const FieldTable<MaskingOptions>& masking_fields() {
//     static const auto t = FieldTable<MaskingOptions>()
//         .field("mask_prob", &MaskingOptions::mask_prob, "Fraction of tokens to predict", in_range(0, 1))
//         .flag("--mask-prob");
//     return t;
//   }
#pragma once

#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kdtext/error.h"
#include "kdtext/util/json.h"

namespace kdtext {

// What a stage's command line needs to bind a field to a flag.
struct FlagSpec {
  std::string spelling;  // "--max-len", "-o,--output"; a bool field: "--overwrite" (also --no-overwrite);
                         // no leading '-': a positional argument
  std::string key;       // dotted key from the configuration's root
  std::string help;
  bool required = false;  // the flag or the --config file must give a non-empty value
  bool is_switch = false;
};

// "a.b" from a prefix and a key ("b" when the prefix is empty).
inline std::string field_path(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

// A number as a person writes it in a message: 8, 0.5, 1e-06.
std::string number_text(double v);
inline std::string number_text(int64_t v) { return std::to_string(v); }

// Value checks for FieldTable::field. Each returns "" when the value is fine,
// else the reason ("must be >= 8, got 3"); the table prefixes the key.
struct AtLeast {
  double min;
  template <typename T>
  std::string operator()(const T& v) const {
    return static_cast<double>(v) >= min ? "" : "must be >= " + number_text(min) + ", got " + shown(v);
  }
  template <typename T>
  static std::string shown(const T& v) {
    if constexpr (std::is_integral_v<T>) return number_text(static_cast<int64_t>(v));
    else return number_text(static_cast<double>(v));
  }
};
struct Above {
  double min;
  template <typename T>
  std::string operator()(const T& v) const {
    return static_cast<double>(v) > min ? "" : "must be > " + number_text(min) + ", got " + AtLeast::shown(v);
  }
};
// Between lo and hi; each end included unless marked open: [lo, hi], (lo, hi), ...
struct InRange {
  double lo, hi;
  bool open_bottom = false, open_top = false;
  template <typename T>
  std::string operator()(const T& v) const {
    const double x = static_cast<double>(v);
    if ((open_bottom ? x > lo : x >= lo) && (open_top ? x < hi : x <= hi)) return "";
    return "must be in " + std::string(open_bottom ? "(" : "[") + number_text(lo) + ", " + number_text(hi) +
           (open_top ? ")" : "]") + ", got " + AtLeast::shown(v);
  }
};
// A non-empty string or list; `what` says what to give ("a kdtext-preprocess output directory").
struct Required {
  std::string what;
  template <typename T>
  std::string operator()(const T& v) const {
    return !v.empty() ? "" : what.empty() ? "required" : "required (" + what + ")";
  }
};
// One of a few strings (for values kept as text).
struct OneOf {
  std::vector<std::string> names;
  std::string operator()(const std::string& v) const {
    std::string list;
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == v) return "";
      list += std::string(i == 0 ? "" : (i + 1 == names.size() ? " or " : ", ")) + names[i];
    }
    return "expected " + list + ", got '" + v + "'";
  }
};
inline AtLeast at_least(double min) { return {min}; }
inline Above above(double min) { return {min}; }
inline InRange in_range(double lo, double hi) { return {lo, hi, false, false}; }    // [lo, hi]
inline InRange in_half_open(double lo, double hi) { return {lo, hi, false, true}; }  // [lo, hi)
inline InRange in_open(double lo, double hi) { return {lo, hi, true, true}; }        // (lo, hi)
inline InRange in_open_closed(double lo, double hi) { return {lo, hi, true, false}; }  // (lo, hi]
inline Required required(std::string what = "") { return {std::move(what)}; }
inline OneOf one_of(std::vector<std::string> names) { return {std::move(names)}; }

template <typename C>
class FieldTable {
 public:
  // A boolean, number, string, list of strings or list of integers (numeric
  // strings accepted there, as list flags produce).
  template <typename M, typename... Checks>
  FieldTable& field(const char* key, M C::*member, const char* help, Checks... checks) {
    Row r = row(key, help, std::is_same_v<M, bool>);
    r.read = [k = r.key, member](const JsonFields& f, C& c) {
      if constexpr (std::is_same_v<M, std::vector<int64_t>>) f.get_int_list(k.c_str(), c.*member);
      else f.get(k.c_str(), c.*member);
    };
    r.write = [k = r.key, member](const C& c, Json& j) { j[k] = c.*member; };
    std::vector<std::function<std::string(const M&)>> list{std::function<std::string(const M&)>(checks)...};
    if (!list.empty()) {
      r.check = [k = r.key, member, list](const C& c, const std::string& prefix) {
        for (const auto& check : list) {
          const std::string why = check(c.*member);
          if (!why.empty()) throw ConfigError(field_path(prefix, k) + ": " + why);
        }
      };
    }
    rows_.push_back(std::move(r));
    return *this;
  }

  // An enum-like field named by the strings of `names` ({"name", value} pairs);
  // `unknown_form` as in JsonFields::get_choice.
  template <typename E, size_t N>
  FieldTable& choice(const char* key, E C::*member, const std::pair<const char*, E> (&names)[N], const char* help,
                     bool unknown_form = false) {
    Row r = row(key, help, false);
    r.read = [k = r.key, member, &names, unknown_form](const JsonFields& f, C& c) {
      f.get_choice(k.c_str(), c.*member, names, unknown_form);
    };
    r.write = [k = r.key, member, &names](const C& c, Json& j) { j[k] = choice_name(c.*member, names); };
    rows_.push_back(std::move(r));
    return *this;
  }

  // A value named by a string and parsed by `parse(name, dotted_key)` (which
  // throws ConfigError naming the key); `name` gives the string back.
  template <typename M>
  FieldTable& parsed(const char* key, M C::*member, std::function<M(const std::string&, const std::string&)> parse,
                     std::function<std::string(M)> name, const char* help) {
    Row r = row(key, help, false);
    r.read = [k = r.key, member, parse, name](const JsonFields& f, C& c) {
      std::string text = name(c.*member);
      f.get(k.c_str(), text);
      c.*member = parse(text, f.path(k.c_str()));
    };
    r.write = [k = r.key, member, name](const C& c, Json& j) { j[k] = name(c.*member); };
    rows_.push_back(std::move(r));
    return *this;
  }

  // A field with its own JSON form: `read` gets the object's fields (the key
  // may be absent) and `write` gives the value stored at `key`.
  FieldTable& custom(const char* key, const char* help, std::function<void(const JsonFields&, C&)> read,
                     std::function<Json(const C&)> write) {
    Row r = row(key, help, false);
    r.read = std::move(read);
    r.write = [k = r.key, write = std::move(write)](const C& c, Json& j) { j[k] = write(c); };
    rows_.push_back(std::move(r));
    return *this;
  }

  // A nested object described by its own table (read, written and checked with it).
  template <typename S>
  FieldTable& section(const char* key, S C::*member, const FieldTable<S>& table) {
    Row r = row(key, "", false);
    r.read = [k = r.key, member, &table](const JsonFields& f, C& c) { table.read(f.child(k.c_str()), c.*member); };
    r.write = [k = r.key, member, &table](const C& c, Json& j) { j[k] = table.to_json(c.*member); };
    r.check = [k = r.key, member, &table](const C& c, const std::string& prefix) {
      table.check(c.*member, field_path(prefix, k));
    };
    r.flags = [k = r.key, &table](std::vector<FlagSpec>& out, const std::string& prefix) {
      table.collect_flags(out, field_path(prefix, k));
    };
    rows_.push_back(std::move(r));
    return *this;
  }

  // The fields of a member struct stored flat in this object (no key of its own).
  template <typename S>
  FieldTable& merge(S C::*member, const FieldTable<S>& table) {
    Row r = row("", "", false);
    r.read = [member, &table](const JsonFields& f, C& c) { table.read(f, c.*member); };
    r.write = [member, &table](const C& c, Json& j) { j.update(table.to_json(c.*member)); };
    r.check = [member, &table](const C& c, const std::string& prefix) { table.check(c.*member, prefix); };
    r.flags = [&table](std::vector<FlagSpec>& out, const std::string& prefix) { table.collect_flags(out, prefix); };
    rows_.push_back(std::move(r));
    return *this;
  }

  // The fields of a base class B of C, stored flat in this object.
  template <typename B>
  FieldTable& base(const FieldTable<B>& table) {
    static_assert(std::is_base_of_v<B, C>, "base(): B must be a base class of C");
    Row r = row("", "", false);
    r.read = [&table](const JsonFields& f, C& c) { table.read(f, static_cast<B&>(c)); };
    r.write = [&table](const C& c, Json& j) { j.update(table.to_json(static_cast<const B&>(c))); };
    r.check = [&table](const C& c, const std::string& prefix) { table.check(static_cast<const B&>(c), prefix); };
    r.flags = [&table](std::vector<FlagSpec>& out, const std::string& prefix) { table.collect_flags(out, prefix); };
    rows_.push_back(std::move(r));
    return *this;
  }

  // Binds the field declared last to a command-line flag (see FlagSpec).
  FieldTable& flag(std::string spelling, bool required_flag = false) {
    rows_.back().spelling = std::move(spelling);
    rows_.back().required_flag = required_flag;
    return *this;
  }

  // A check across fields, run after every field's own checks; throws
  // ConfigError naming the keys (`prefix` is the table's dotted position).
  FieldTable& rule(std::function<void(const C&, const std::string& prefix)> check) {
    rules_.push_back(std::move(check));
    return *this;
  }

  Json to_json(const C& c) const {
    Json j = Json::object();
    for (const auto& r : rows_) r.write(c, j);
    return j;
  }
  // Reads the fields present in `f` into `c` (absent ones keep their value);
  // type errors name the key. Does not check values: see check().
  void read(const JsonFields& f, C& c) const {
    for (const auto& r : rows_) r.read(f, c);
  }
  // Every field's checks, then the rules, recursively.
  void check(const C& c, const std::string& prefix) const {
    for (const auto& r : rows_) {
      if (r.check) r.check(c, prefix);
    }
    for (const auto& rule : rules_) rule(c, prefix);
  }
  // read() then check(), starting from `defaults`.
  C from_json(const JsonFields& f, const C& defaults) const {
    C c = defaults;
    read(f, c);
    check(c, f.prefix());
    return c;
  }
  C from_json(const JsonFields& f) const { return from_json(f, C{}); }
  C from_json(const Json& j, const C& defaults) const { return from_json(JsonFields(j, ""), defaults); }
  C from_json(const Json& j) const { return from_json(JsonFields(j, ""), C{}); }

  // The flags of this table and its sections, in declaration order.
  std::vector<FlagSpec> flags() const {
    std::vector<FlagSpec> out;
    collect_flags(out, "");
    return out;
  }
  void collect_flags(std::vector<FlagSpec>& out, const std::string& prefix) const {
    for (const auto& r : rows_) {
      if (r.flags) {
        r.flags(out, prefix);
      } else if (!r.spelling.empty()) {
        out.push_back({r.spelling, field_path(prefix, r.key), r.help, r.required_flag, r.is_bool});
      }
    }
  }

 private:
  struct Row {
    std::string key, help, spelling;
    bool required_flag = false;
    bool is_bool = false;
    std::function<void(const JsonFields&, C&)> read;
    std::function<void(const C&, Json&)> write;
    std::function<void(const C&, const std::string&)> check;
    std::function<void(std::vector<FlagSpec>&, const std::string&)> flags;
  };
  static Row row(const char* key, const char* help, bool is_bool) {
    Row r;
    r.key = key;
    r.help = help;
    r.is_bool = is_bool;
    return r;
  }
  std::vector<Row> rows_;
  std::vector<std::function<void(const C&, const std::string&)>> rules_;
};

// A stage's configuration as the command line sees it: the JSON defaults and
// the flags bound to its keys.
struct ConfigSchema {
  Json defaults;
  std::vector<FlagSpec> flags;
};
template <typename C>
ConfigSchema schema_of(const FieldTable<C>& table, const C& defaults = C{}) {
  return {table.to_json(defaults), table.flags()};
}

}  // namespace kdtext
