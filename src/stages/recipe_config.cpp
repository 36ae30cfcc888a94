// kdtext-recipe's configuration: JSON form and every check that can be made
// before the recipe writes anything.
#include <filesystem>

#include "kdtext/stages/recipe.h"
#include "kdtext/error.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

RecipeConfig default_recipe_config() { return RecipeConfig{}; }

Json to_json(const RecipeConfig& c) {
  return Json{{"train", c.train},
              {"dev", c.dev},
              {"test", c.test},
              {"data", text::to_json(c.data)},
              {"teacher", c.teacher},
              {"base", c.base},
              {"preset", c.preset},
              {"budget", c.budget},
              {"general_minutes", c.general_minutes},
              {"task_minutes", c.task_minutes},
              {"corpus", c.corpus},
              {"store", c.store},
              {"copies", c.copies ? Json(std::to_string(*c.copies)) : Json("auto")},
              {"output", c.output},
              {"overwrite", c.overwrite},
              {"max_len", c.max_len},
              {"batch_size", c.batch_size},
              {"task_seed", c.task_seed ? Json(static_cast<int64_t>(*c.task_seed)) : Json(-1)},
              {"run", cli::to_json(c.run)}};
}

namespace {

// "auto" or a count (a string from the flag, a number from a --config file).
std::optional<int64_t> read_copies(const JsonFields& f, const Json& j) {
  if (!j.contains("copies")) return std::nullopt;
  const Json& v = j["copies"];
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<int64_t>();
  std::string s;
  f.get("copies", s);
  if (s == "auto") return std::nullopt;
  if (!s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos) return std::stoll(s);
  throw ConfigError("copies: expected a count or auto, got '" + s + "'");
}

void check_file(const std::string& flag, const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) throw ConfigError(flag + " " + path + ": no such file");
}

void check_checkpoint(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(fs::path(path) / "kdtext.json", ec)) {
    throw ConfigError(path + ": not a kdtext checkpoint (no kdtext.json)");
  }
}

// --max-len fits the position embeddings of every model that reads it.
void check_max_len(const RecipeConfig& c) {
  if (c.max_len < 8) throw ConfigError("--max-len: must be >= 8, got " + std::to_string(c.max_len));
  for (const auto& d : {c.encoder(), c.teacher}) {
    if (d.empty()) continue;
    const Json config = read_json_file(fs::path(d) / "config.json");
    const auto positions = config.value("max_position_embeddings", int64_t{0});
    if (positions > 0 && c.max_len > positions) {
      throw ConfigError("--max-len " + std::to_string(c.max_len) + " exceeds the max_position_embeddings (" +
                        std::to_string(positions) + ") of " + d);
    }
  }
}

std::string absolute(const std::string& p) { return p.empty() ? p : fs::absolute(p).lexically_normal().string(); }

}  // namespace

RecipeConfig recipe_config_from_json(const Json& j) {
  RecipeConfig c;
  JsonFields f(j, "");
  for (const auto& [key, field] : {std::pair<const char*, std::string*>{"train", &c.train}, {"dev", &c.dev},
                                   {"test", &c.test}, {"teacher", &c.teacher}, {"base", &c.base},
                                   {"preset", &c.preset}, {"store", &c.store}, {"output", &c.output}}) {
    f.get(key, *field);
  }
  c.data = text::labelled_format_from_json(f.child("data"));
  f.get("budget", c.budget);
  f.get("general_minutes", c.general_minutes);
  f.get("task_minutes", c.task_minutes);
  f.get("corpus", c.corpus);
  c.copies = read_copies(f, j);
  f.get("overwrite", c.overwrite);
  f.get("max_len", c.max_len);
  f.get("batch_size", c.batch_size);
  int64_t task_seed = -1;
  f.get("task_seed", task_seed);
  if (task_seed < -1) throw ConfigError("task_seed: a seed (>= 0), or -1 for run.seed");
  if (task_seed >= 0) c.task_seed = static_cast<uint64_t>(task_seed);
  c.run = cli::runtime_options_from_json(f.child("run"));

  for (const auto& [key, v] : {std::pair<const char*, const std::string*>{"train", &c.train}, {"dev", &c.dev},
                               {"output", &c.output}}) {
    if (v->empty()) throw ConfigError(std::string(key) + ": required (--" + key + ")");
  }
  if (c.teacher.empty() && c.base.empty()) {
    throw ConfigError("give --teacher (a fine-tuned classifier) or --base (a pretrained encoder to fine-tune)");
  }
  check_file("--train", c.train);
  check_file("--dev", c.dev);
  if (!c.test.empty()) check_file("--test", c.test);
  for (const auto* d : {&c.teacher, &c.base}) {
    if (!d->empty()) check_checkpoint(*d);
  }
  std::error_code ec;
  for (const auto& p : c.corpus) {
    if (!fs::exists(p, ec)) throw ConfigError("--corpus " + p + ": no such file or directory");
  }
  if (c.budget <= 0) throw ConfigError("budget: must be above 0 minutes");
  for (const auto& [key, v] : {std::pair<const char*, double>{"general_minutes", c.general_minutes},
                               {"task_minutes", c.task_minutes}}) {
    if (v < 0 && v != -1) throw ConfigError(std::string(key) + ": minutes (>= 0), or -1 to derive it from the budget");
  }
  if (c.batch_size < 1) throw ConfigError("--batch-size: must be >= 1, got " + std::to_string(c.batch_size));
  check_max_len(c);
  for (auto* p : {&c.train, &c.dev, &c.test, &c.teacher, &c.base, &c.store, &c.output}) *p = absolute(*p);
  for (auto& p : c.corpus) p = absolute(p);
  return c;
}

}  // namespace kdtext::stages
