// kdtext-recipe: the run directory, what the run is made from, and the
// helpers every step uses. The steps: recipe_steps.cpp; the report:
// recipe_report.cpp.
#include <torch/torch.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "kdtext/util/log.h"
#include "kdtext/stages/build_student.h"
#include "kdtext/train/run_directory.h"
#include "kdtext/util/atomic.h"
#include "kdtext/util/fault.h"
#include "kdtext/error.h"
#include "kdtext/util/file.h"
#include "kdtext/util/paths.h"
#include "recipe_run.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

RecipeRun::RecipeRun(const RecipeConfig& c, torch::Device device, fs::path out, distill::RecipeBudget budget)
    : c_(c), device_(device), out_(std::move(out)), budget_(budget),
      log_file_(c.run.log_file.empty() ? (out_ / "recipe.log").string() : c.run.log_file) {}

Json RecipeRun::stage_config(Json defaults, const std::string& preset, const Json& settings, uint64_t seed,
                             bool quiet) const {
  if (!preset.empty()) {
    const fs::path file = presets_directory() / "distill" / (preset + ".json");
    merge_config(defaults, read_json_file(file), file.string());
  }
  merge_config(defaults, settings, "kdtext-recipe");
  cli::RuntimeOptions run = c_.run;
  run.seed = seed;
  run.log_file = log_file_;
  run.quiet = run.quiet || quiet;
  defaults["run"] = cli::to_json(run);
  return defaults;
}

Json RecipeRun::in_stage(const std::string& stage, uint64_t seed, bool quiet, const std::function<Json()>& body) const {
  log::init(stage, log::LogOptions{c_.run.log_level, log_file_, c_.run.quiet || quiet});
  torch::set_num_threads(cli::effective_threads(c_.run));
  torch::manual_seed(seed);
  crash_point(("recipe." + stage).c_str());  // between two stages (scripts/crash-test.sh)
  Json result = body();
  log::init("recipe", log::LogOptions{c_.run.log_level, log_file_, c_.run.quiet});
  return result;
}

void RecipeRun::say(const std::string& message) const { log::info(message); }

Json RecipeRun::run(const fs::path& probe) {
  log::init("recipe", log::LogOptions{c_.run.log_level, log_file_, c_.run.quiet});
  if (c_.student != "transformer") {
    const auto n = recipe_sentence_archs(c_.student).size();
    say("run directory " + out_.string() + " (log: " + log_file_ + "); budget: " + distill::minutes_text(budget_.task) +
        " min for " + std::to_string(n) + " student(s), each distilled for " +
        distill::minutes_text(budget_.task / static_cast<double>(n)) + " min and its labels-only twin as long");
    return run_sentence_students();
  }
  say("run directory " + out_.string() + " (log: " + log_file_ + "); budget: general " +
      distill::minutes_text(budget_.general) + " min, intermediate " + distill::minutes_text(budget_.intermediate) +
      " min, prediction " + distill::minutes_text(budget_.prediction) + " min");
  convert_splits();
  const std::string teacher = fine_tuned_teacher();
  const fs::path init = student_init(probe);
  const fs::path start = general_distillation(init);
  augment(teacher);
  task_stages(teacher, start);
  return write_report(teacher);
}

namespace {

std::string default_store() { return (cache_root() / "general").string(); }

// recipe.json: what the run is made from. The same command (same settings,
// same input content) continues the run; anything else is another recipe.
Json recipe_identity(const RecipeConfig& c, const distill::RecipeBudget& b) {
  Json id{{"train", c.train}, {"dev", c.dev}, {"test", c.test}, {"teacher", c.teacher}, {"base", c.base},
          {"preset", c.preset}, {"student", c.student}, {"general_minutes", b.general}, {"task_minutes", b.task},
          {"copies", c.copies ? std::to_string(*c.copies) : "auto"}, {"max_len", c.max_len},
          {"batch_size", c.batch_size}, {"seed", c.run.seed}, {"task_seed", c.resolved_task_seed()},
          {"device", c.run.device}, {"store", c.store}, {"corpus", c.corpus}, {"data", text::to_json(c.data)}};
  Json fingerprints = train::fingerprint_inputs(id, {"train", "dev", "test", "teacher", "base"});
  for (size_t i = 0; i < c.corpus.size(); ++i) {
    fingerprints["corpus." + std::to_string(i)] = content_fingerprint(c.corpus[i]);
  }
  id[train::kInputsFingerprint] = fingerprints;
  return id;
}

train::RunRules recipe_rules() {
  train::RunRules r;
  r.holds_results = [](const fs::path& dir) { return fs::exists(dir / "recipe.json"); };
  r.replaces_previous = [](const fs::path& dir) { return fs::exists(dir / "report.json"); };
  r.replaced_when = "its report";
  r.settings_file = "recipe.json";
  r.marker = "kdtext-recipe run";
  r.resume_needs_checkpoint = false;
  return r;
}

// A student built into a temporary directory before anything is written under
// OUT: the build checks --preset against the encoder (and is kept, moved into
// OUT, when it can be).
class StudentProbe {
 public:
  StudentProbe(const RecipeConfig& c, const std::string& out) {
    dir_ = fs::temp_directory_path() / (kPrefix + std::to_string(::getpid())) / "student-init";
    const std::string why = " (the student could not be built: --preset " + c.preset + ", --threads " +
                            std::to_string(c.run.threads) + ", --device " + c.run.device +
                            "); nothing was written to " + out;
    try {
      Json j = to_json(BuildStudentConfig{});
      merge_config(j, Json{{"teacher", c.encoder()}, {"output", dir_.string()}, {"student", recipe_student_spec(c)}},
                   "kdtext-recipe");
      j["run"] = cli::to_json(c.run);
      j["run"]["quiet"] = true;
      log::init("build-student", log::LogOptions{c.run.log_level, c.run.log_file, true});
      torch::manual_seed(c.run.seed);
      run_build_student(build_student_config_from_json(j));
      log::init("recipe", log::LogOptions{c.run.log_level, c.run.log_file, c.run.quiet});
    } catch (const ConfigError& e) {
      remove();
      throw ConfigError(e.what() + why);
    } catch (const std::exception& e) {
      remove();
      throw std::runtime_error(e.what() + why);
    }
  }
  ~StudentProbe() { remove(); }
  const fs::path& path() const { return dir_; }

  static constexpr const char* kPrefix = "kdtext-recipe-";
  // What a recipe killed before moving its probe into place left behind.
  static void remove_probes_of_killed_runs() {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(fs::temp_directory_path(), ec)) {
      const std::string name = e.path().filename().string();
      if (name.rfind(kPrefix, 0) != 0) continue;
      const std::string pid = name.substr(std::string(kPrefix).size());
      if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9) continue;
      if (!process_alive(std::stol(pid))) fs::remove_all(e.path(), ec);
    }
  }

 private:
  void remove() const {
    std::error_code ec;
    fs::remove_all(dir_.parent_path(), ec);
  }
  fs::path dir_;
};

}  // namespace

Json run_recipe(const RecipeConfig& config, torch::Device device) {
  RecipeConfig c = config;
  if (c.store.empty()) c.store = default_store();
  const auto budget = distill::split_budget(c.budget, c.general_minutes, c.task_minutes, !c.corpus.empty());
  const fs::path out = resolved_output_dir(c.output);
  train::recover_replaced_runs(out, recipe_rules());  // a killed --overwrite run's: the run it replaced is back
  const Json identity = recipe_identity(c, budget);
  std::error_code ec;
  const bool exists = fs::exists(out, ec) && !fs::is_empty(out, ec);
  const bool same = fs::exists(out / "recipe.json", ec) && read_json_file(out / "recipe.json") == identity;
  if (exists && !same && !c.overwrite) {
    std::string differs;  // what changed since: the settings and inputs (by content) that differ
    if (fs::exists(out / "recipe.json", ec)) {
      const Json before = read_json_file(out / "recipe.json");
      for (const auto& [k, v] : identity.items()) {
        if (k == train::kInputsFingerprint && before.contains(k) && before[k].is_object()) {
          for (const auto& [f, h] : v.items()) differs += before[k].value(f, Json()) != h ? " " + f + " (its content)" : "";
        } else if (!before.contains(k) || before[k] != v) {
          differs += " " + k;
        }
      }
    }
    throw ConfigError(fs::exists(out / "recipe.json", ec)
                          ? c.output + " was made by another recipe (differs in:" + differs + "; see " +
                                (out / "recipe.json").string() + "); pass --overwrite or use another -o"
                          : c.output + " exists and is not a recipe run; pass --overwrite or use another -o");
  }
  StudentProbe::remove_probes_of_killed_runs();
  std::optional<StudentProbe> probe;
  if (c.student == "transformer" && !(same && !c.overwrite && fs::exists(out / "student-init" / "kdtext.json", ec))) {
    probe.emplace(c, c.output);
  }
  train::RunDirectory dir(out, /*resume=*/same && !c.overwrite, c.overwrite, recipe_rules());
  write_file_atomic(out / "recipe.json", identity.dump(2) + "\n");
  RecipeRun run(c, device, out, budget);
  return run.run(probe ? probe->path() : fs::path());
}

}  // namespace kdtext::stages
