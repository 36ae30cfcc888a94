// kdtext-recipe's configuration: JSON form and every check that can be made
// before the recipe writes anything.
#include <filesystem>

#include "kdtext/stages/recipe.h"
#include "kdtext/error.h"
#include "kdtext/io/sentence_checkpoint.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

RecipeConfig default_recipe_config() { return RecipeConfig{}; }

namespace {

// "auto" or a count (a string from the flag, a number from a --config file).
std::optional<int64_t> read_copies(const JsonFields& f, std::optional<int64_t> current) {
  const Json* v = f.find("copies");
  if (!v) return current;
  if (v->is_number_integer() && v->get<int64_t>() >= 0) return v->get<int64_t>();
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

// Everything that can be checked before the recipe writes a file.
void validate_recipe(const RecipeConfig& c) {
  if (c.teacher.empty() && c.base.empty()) {
    throw ConfigError("give --teacher (a fine-tuned classifier) or --base (a pretrained encoder to fine-tune)");
  }
  check_file("--train", c.train);
  check_file("--dev", c.dev);
  if (!c.test.empty()) check_file("--test", c.test);
  for (const auto* d : {&c.teacher, &c.base}) {
    if (d->empty()) continue;
    check_checkpoint(*d);
    if (const auto arch = io::architecture_at(*d); arch != "bert") {
      throw ConfigError(std::string(d == &c.teacher ? "--teacher " : "--base ") + *d + " is a " + arch +
                        " student; the teacher is a BERT model (a fine-tuned classifier, or --base to fine-tune one)");
    }
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
  if (c.student != "transformer" && c.student != "bilstm" && c.student != "cnn" && c.student != "bag" &&
      c.student != "frontier") {
    throw ConfigError("--student: transformer, bilstm, cnn, bag or frontier, got '" + c.student + "'");
  }
  if (c.student != "transformer" && (!c.corpus.empty() || c.general_minutes > 0)) {
    throw ConfigError("--corpus: general distillation serves the transformer student; --student " + c.student +
                      " is distilled on the task's (augmented) set only");
  }
  if (!c.peers.empty()) {
    if (c.student == "transformer") throw ConfigError("--peers: for --student bilstm, cnn, bag or frontier");
    check_file("--peers", c.peers);
    recipe_peers(c.peers);
  }
    if (c.batch_size < 1) throw ConfigError("--batch-size: must be >= 1, got " + std::to_string(c.batch_size));
  check_max_len(c);
}

void read_task_seed(const JsonFields& f, RecipeConfig& c) {
  int64_t task_seed = c.task_seed ? static_cast<int64_t>(*c.task_seed) : -1;
  f.get("task_seed", task_seed);
  if (task_seed < -1) throw ConfigError("task_seed: a seed (>= 0), or -1 for run.seed");
  c.task_seed = task_seed >= 0 ? std::optional<uint64_t>(static_cast<uint64_t>(task_seed)) : std::nullopt;
}

}  // namespace

std::vector<Json> recipe_peers(const std::string& path) {
  const Json peers = read_json_file(path);
  if (!peers.is_array()) throw ConfigError("--peers " + path + ": a JSON array of models was expected");
  std::vector<Json> out;
  for (size_t i = 0; i < peers.size(); ++i) {
    Json m = peers[i];
    const bool ok = m.is_object() && m.contains("model") && m["model"].is_string() && m.contains("sentences_per_s") &&
                    m["sentences_per_s"].is_number() && m["sentences_per_s"].get<double>() > 0 && m.contains("dev") &&
                    m["dev"].is_object() && m["dev"].contains("accuracy") && m["dev"]["accuracy"].is_number();
    if (!ok) {
      throw ConfigError("--peers " + path + ": model " + std::to_string(i) +
                        " needs \"model\", \"sentences_per_s\" (> 0) and \"dev\": {\"accuracy\"}");
    }
    m["kind"] = "peer";
    if (!m.contains("test")) m["test"] = nullptr;
    out.push_back(m);
  }
  return out;
}

const FieldTable<RecipeConfig>& recipe_fields() {
  using R = RecipeConfig;
  static const auto t = FieldTable<R>()
      .field("train", &R::train, "Labelled training file (tsv, csv or jsonl)", required("--train")).flag("--train", true)
      .field("dev", &R::dev, "Labelled development file (selects checkpoints)", required("--dev")).flag("--dev", true)
      .field("test", &R::test, "Labelled test file (reported only)").flag("--test")
      .section("data", &R::data, text::labelled_format_fields())
      .field("teacher", &R::teacher, "A fine-tuned classifier (kdtext-finetune best/)").flag("--teacher")
      .field("base", &R::base,
             "A pretrained encoder (kdtext-pretrain final/, kdtext-import-hf): the teacher is fine-tuned from it when "
             "--teacher is not given, and the student is built and generally distilled from it")
      .flag("--base")
      .field("preset", &R::preset, "Student shape (kdtext-build-student --preset)").flag("--preset")
      .field("student", &R::student,
             "transformer (the --preset student), bilstm, cnn or bag, or frontier: all three with their labels-only "
             "twins, the accuracy-against-speed front (report.md, frontier.svg)")
      .flag("--student")
      .field("peers", &R::peers,
             "With a frontier: a JSON file [{\"model\", \"sentences_per_s\", \"dev\": {\"accuracy\"}, \"test\": "
             "{\"accuracy\"} or null}, ...] of other models (e.g. fastText) measured elsewhere, plotted beside")
      .flag("--peers")
      .field("budget", &R::budget,
             "Minutes for the student's training stages in all; with a corpus half goes to general distillation; of "
             "the task's share 60% to the intermediate and 40% to the prediction stage (each also stops at its "
             "epochs); with --student bilstm, cnn, bag or frontier: an equal share per student, as much again "
             "for each labels-only twin")
      .flag("--budget")
      .field("general_minutes", &R::general_minutes, "Minutes of general distillation (-1: from --budget)")
      .flag("--general-minutes")
      .field("task_minutes", &R::task_minutes, "Minutes of the task stages (-1: --budget less the general share)")
      .flag("--task-minutes")
      .field("corpus", &R::corpus, "Unlabelled text (file or directory; repeat the flag) for general distillation")
      .flag("--corpus")
      .field("store", &R::store,
             "Where general distillations are kept ($KDTEXT_CACHE/general or ~/.cache/kdtext/general)")
      .flag("--store")
      .custom("copies", "Augmented copies per training example (auto: up to 20, ~60k rows in all)",
              [](const JsonFields& f, R& c) { c.copies = read_copies(f, c.copies); },
              [](const R& c) { return c.copies ? Json(std::to_string(*c.copies)) : Json("auto"); })
      .flag("--copies")
      .field("output", &R::output, "Run directory", required("--output")).flag("-o,--output", true)
      .field("overwrite", &R::overwrite,
             "Start over (the old run is kept aside, and put back if the new run fails)")
      .flag("--overwrite")
      .field("max_len", &R::max_len, "Tokens per example").flag("--max-len")
      .field("batch_size", &R::batch_size, "Examples per micro-batch").flag("--batch-size")
      .custom("task_seed",
              "Seed of augmentation and the task stages (-1: --seed); repeat with other task seeds to measure the "
              "spread (the general distillation is reused from the store)",
              read_task_seed,
              [](const R& c) { return c.task_seed ? Json(static_cast<int64_t>(*c.task_seed)) : Json(-1); })
      .flag("--task-seed")
      .section("run", &R::run, cli::runtime_fields())
      .rule([](const R& c, const std::string&) { validate_recipe(c); });
  return t;
}

Json to_json(const RecipeConfig& c) { return recipe_fields().to_json(c); }

RecipeConfig recipe_config_from_json(const Json& j) {
  RecipeConfig c = recipe_fields().from_json(j);
  for (auto* p : {&c.train, &c.dev, &c.test, &c.teacher, &c.base, &c.store, &c.output, &c.peers}) *p = absolute(*p);
  for (auto& p : c.corpus) p = absolute(p);
  return c;
}

}  // namespace kdtext::stages
