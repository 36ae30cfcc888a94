#include "kdtext/train/run_directory.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kdtext/parallel/group.h"
#include "kdtext/util/log.h"
#include "kdtext/train/trainer.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"
#include "kdtext/util/file.h"

namespace kdtext::train {
namespace fs = std::filesystem;

// `<dir>.replaced-PID` siblings whose process is gone: copies of a previous run
// that a killed --overwrite run had moved aside.
void recover_replaced_runs(const fs::path& dir, const RunRules& rules) {
  const std::string prefix = dir.filename().string() + ".replaced-";
  std::vector<std::pair<fs::path, long>> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir.parent_path(), ec)) {
    const auto name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    try {
      const long pid = std::stol(name.substr(prefix.size()));
      if (!process_alive(pid)) found.emplace_back(e.path(), pid);
    } catch (const std::exception&) {
    }
  }
  for (const auto& [aside, pid] : found) {
    std::error_code rc;
    if (fs::exists(dir, rc) && rules.replaces_previous(dir)) {
      fs::remove_all(aside, rc);  // the replacing run got as far as a checkpoint: it has replaced this one
      log::info("removed ", aside.string(), ": the --overwrite run that replaced it (PID ", pid,
                ") was killed after ", rules.replaced_when);
      continue;
    }
    fs::remove_all(dir, rc);
    fs::rename(aside, dir, rc);
    if (rc) {
      log::warn(aside.string(), " holds the run that a killed --overwrite run (PID ", pid,
                ") had replaced, and could not be moved back (", rc.message(), "): move it back over ", dir.string());
    } else {
      log::warn("moved back ", aside.string(), " -> ", dir.string(), ": the --overwrite run that replaced it (PID ",
                pid, ") was killed before ", rules.replaced_when);
    }
  }
}

namespace {

// What killed writers leave inside a run (staged checkpoints, a best/ moved
// aside, temporary files, checkpoints being pruned): removed at the start of
// the next run, which holds the lock, so no live writer owns them.
void remove_partial_outputs(const fs::path& dir) {
  static const std::regex kLeftover(R"(.*\.(partial|old|tmp|pruning)-[0-9]+)");
  std::vector<fs::path> found;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!std::regex_match(it->path().filename().string(), kLeftover)) continue;
    found.push_back(it->path());
    it.disable_recursion_pending();
  }
  for (const auto& p : found) {
    if (!restore_moved_aside(p)) fs::remove_all(p, ec);  // an .old- output whose replacement never arrived: back
  }
  if (!found.empty()) log::info("removed ", found.size(), " leftover(s) of a killed run under ", dir.string());
}
}  // namespace

namespace {
// What a finished, stopped or checkpointed training run leaves: anything worth keeping.
// A best/ alone (an evaluation before the first checkpoint, then a kill) is not:
// nothing can resume from it, and a plain rerun takes the directory over.
bool training_results(const fs::path& dir) {
  std::error_code ec;
  if (Trainer::latest_checkpoint(dir)) return true;
  for (const char* name : {"final", "summary.json", "metrics.json"}) {
    if (fs::exists(dir / name, ec)) return true;
  }
  return false;
}

// A run directory (marked as kdtext's) whose run ended before its first
// checkpoint (killed, or failed in a way that skipped its cleanup): no
// results, so a plain rerun may take it over.
bool failed_run_leftover(const fs::path& dir, const RunRules& rules) {
  std::error_code ec;
  return fs::exists(dir / kOutputMarker, ec) && fs::exists(dir / rules.settings_file, ec) &&
         !rules.holds_results(dir);
}
}  // namespace

RunRules training_run_rules() {
  RunRules r;
  r.holds_results = training_results;
  r.kept_after_failure = {"best"};
  r.replaces_previous = [](const fs::path& dir) { return Trainer::latest_checkpoint(dir).has_value(); };
  return r;
}

RunDirectory::RunDirectory(const fs::path& dir, bool resume, bool overwrite)
    : RunDirectory(dir, resume, overwrite, training_run_rules()) {}

RunDirectory::RunDirectory(const fs::path& dir, bool resume, bool overwrite, RunRules rules)
    : dir_(resolved_output_dir(dir)), lock_(dir_), rules_(std::move(rules)) {
  recover_replaced_runs(dir_, rules_);
  std::error_code ec;
  if (fs::exists(dir_, ec) && !fs::is_directory(dir_, ec)) {
    throw ConfigError(dir_.string() + ": exists and is not a directory (a run needs a directory; choose another "
                      "--output)");
  }
  if (fs::is_directory(dir_, ec)) remove_partial_outputs(dir_);
  const bool leftover = fs::is_directory(dir_, ec) && failed_run_leftover(dir_, rules_);
  if (resume && !rules_.resume_needs_checkpoint) {
    // continued in place: the caller checked that the directory holds this run
  } else if (resume) {
    resume_from_ = Trainer::latest_checkpoint(dir_);
    if (!resume_from_) {
      throw ConfigError("--resume: no resumable checkpoint under " + (dir_ / "checkpoints").string() +
                        (leftover ? " (the run there ended before its first checkpoint: run the command without "
                                    "--resume to start it again)"
                                  : ""));
    }
  } else if (leftover) {
    fs::remove_all(dir_, ec);
    if (ec) throw InputError(dir_.string() + ": cannot remove the leftover of a failed run: " + ec.message());
    log::info(dir_.string(), ": held a run that ended before its first checkpoint (nothing to resume); starting "
              "it again");
  } else if (fs::exists(dir_, ec) && !fs::is_empty(dir_, ec)) {
    if (!overwrite) {
      throw ConfigError(dir_.string() + ": output directory exists and is not empty (pass --resume to continue "
                                        "the run, or --overwrite to start over)");
    }
    check_replaceable(dir_);
    aside_ = dir_.parent_path() / (dir_.filename().string() + ".replaced-" + std::to_string(::getpid()));
    fs::rename(dir_, aside_, ec);
    if (ec) throw InputError(dir_.string() + ": cannot move the previous run aside: " + ec.message());
    log::info("--overwrite: the previous run is kept at ", aside_.string(), " until this one has ",
              rules_.replaced_when);
  }
  fresh_ = !resume;
  created_ = !fs::exists(dir_, ec);
  fs::create_directories(dir_, ec);
  if (ec) throw InputError(dir_.string() + ": cannot create the output directory: " + ec.message());
  if (!fs::exists(dir_ / kOutputMarker, ec)) write_output_marker(dir_, rules_.marker);
}

RunDirectory::~RunDirectory() {
  std::error_code ec;
  bool kept = false;
  for (const auto& name : rules_.kept_after_failure) kept = kept || fs::exists(dir_ / name, ec);
  if (fresh_ && !rules_.holds_results(dir_) && kept && aside_.empty()) {
    log::info(dir_.string(), ": the run ended before its first checkpoint; what it evaluated best is kept for a "
              "look (the same command starts the run again)");
  } else if (fresh_ && !rules_.holds_results(dir_)) {
    // This run ended before its first checkpoint (an error, a full disk): what
    // it wrote (config.json, a metrics line) is worth nothing and would only
    // make the rerun ask for --resume or --overwrite. A directory that was
    // there (empty) before the run stays, emptied.
    if (created_) {
      fs::remove_all(dir_, ec);
    } else {
      for (const auto& e : fs::directory_iterator(dir_, ec)) fs::remove_all(e.path(), ec);
    }
    if (!ec && aside_.empty()) log::info("removed ", dir_.string(), ": the run ended before its first checkpoint");
  }
  if (aside_.empty()) return;
  if (rules_.replaces_previous(dir_)) {
    fs::remove_all(aside_, ec);  // replaced: this run can be resumed or is finished
    return;
  }
  fs::remove_all(dir_, ec);
  fs::rename(aside_, dir_, ec);
  if (ec) {
    log::warn("could not move the previous run back from ", aside_.string(), " to ", dir_.string(), ": ",
              ec.message());
  } else {
    log::warn("this run failed before ", rules_.replaced_when, ": the previous run is back in ", dir_.string());
  }
}

namespace {
// Leaves of a JSON object by dotted key (arrays are compared whole).
void flatten(const Json& j, const std::string& prefix, std::map<std::string, Json>& out) {
  if (!j.is_object()) {
    out[prefix] = j;
    return;
  }
  for (auto it = j.begin(); it != j.end(); ++it) flatten(*it, prefix.empty() ? it.key() : prefix + "." + it.key(), out);
}

bool changes_the_weights(const std::string& key) {
  static const std::set<std::string> kFree = {
      "resume",           "overwrite",          "output",           "test",
      "evals_per_epoch",  "changed_on_resume",  "run.threads",      "run.log_level",
      "run.log_file",     "run.quiet",          "trainer.log_every", "trainer.eval_every",
      "trainer.save_every", "trainer.keep_last", "trainer.stop_at_step", "trainer.max_minutes",
      "trainer.accept_changes", "world_size",  // another world size: the trainer warns on resume
      "eval_precision"};  // the final report's precision (absent from runs before issue 30)
  return kFree.count(key) == 0 && key.rfind("changed_on_resume.", 0) != 0;
}
}  // namespace

Json RunDirectory::settle_config(Json config, bool accept_changes) const {
  const auto stored_path = dir_ / "config.json";
  if (!resume_from_ || !fs::exists(stored_path)) return config;
  Json stored;
  try {
    stored = Json::parse(read_file(stored_path, "run config"));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(stored_path.string() + ": not valid JSON: " + e.what());
  }
  std::map<std::string, Json> was, now;
  flatten(stored, "", was);
  flatten(config, "", now);
  std::set<std::string> keys;
  for (const auto& [k, v] : was) keys.insert(k);
  for (const auto& [k, v] : now) keys.insert(k);
  Json changed = Json::object();
  std::string listed;
  const bool fingerprinted = stored.contains(kInputsFingerprint);
  if (!fingerprinted) {
    log::info("resume: ", stored_path.string(), " has no input fingerprints (an earlier kdtext): the data files "
              "are not checked against the run's");
  }
  for (const auto& k : keys) {
    const Json a = was.count(k) ? was[k] : Json(), b = now.count(k) ? now[k] : Json();
    if (!fingerprinted && k.rfind(std::string(kInputsFingerprint) + ".", 0) == 0) continue;
    if (a == b || !changes_the_weights(k)) continue;
    changed[k] = Json{{"was", a}, {"now", b}};
    listed += "\n  " + k + ": " + a.dump() + " -> " + b.dump();
  }
  if (changed.empty()) {
    if (stored.contains("changed_on_resume")) config["changed_on_resume"] = stored["changed_on_resume"];
    return config;
  }
  if (!accept_changes) {
    const bool data = listed.find(kInputsFingerprint) != std::string::npos;
    throw ConfigError("--resume with settings that change the result (" + stored_path.string() + " holds the run's):" +
                      listed + (data ? "\n(" + std::string(kInputsFingerprint) + ": the content of that input file "
                                       "or directory changed since the run started)" : std::string()) +
                      "\npass them as they were, or --accept-changes to continue with them (recorded)");
  }
  log::warn("resuming with changed settings (--accept-changes; recorded in config.json):", listed);
  config["changed_on_resume"] = stored.value("changed_on_resume", Json::array());
  config["changed_on_resume"].push_back(Json{{"from_checkpoint", resume_from_->filename().string()}, {"keys", changed}});
  return config;
}

RunState run_state(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec) || fs::is_empty(dir, ec)) return RunState::kAbsent;
  if (fs::exists(dir / "metrics.json", ec)) return RunState::kFinished;
  if (Trainer::latest_checkpoint(dir)) return RunState::kResumable;
  return RunState::kUnfinished;
}

const char* run_state_name(RunState s) {
  switch (s) {
    case RunState::kAbsent: return "absent";
    case RunState::kFinished: return "finished";
    case RunState::kResumable: return "resumable";
    case RunState::kUnfinished: return "unfinished";
  }
  return "?";
}

Json fingerprint_inputs(const Json& config, const std::vector<std::string>& keys) {
  Json out = Json::object();
  for (const auto& key : keys) {
    if (!config.contains(key) || !config[key].is_string()) continue;
    const std::string path = config[key].get<std::string>();
    if (!path.empty()) out[key] = content_fingerprint(path);
  }
  return out;
}

namespace {
int64_t checkpoint_step(const fs::path& checkpoint) {
  return std::stoll(checkpoint.filename().string().substr(5));  // step-NNNNNNNN
}
}  // namespace

OpenedRun open_run(const fs::path& dir, bool resume, bool overwrite,
                   const std::function<void(RunDirectory&)>& prepare) {
  OpenedRun run;
  double step = -1;
  if (parallel::is_writer()) {
    run.directory = std::make_unique<RunDirectory>(dir, resume, overwrite);
    prepare(*run.directory);
    run.resume_from = run.directory->resume_from();
    if (run.resume_from) step = static_cast<double>(checkpoint_step(*run.resume_from));
  }
  if (auto* group = parallel::process_group()) {
    step = group->max({step})[0];  // also holds the others until the writer has settled the directory
    if (!parallel::is_writer() && step >= 0) run.resume_from = Trainer::checkpoint_path(dir, static_cast<int64_t>(step));
  }
  return run;
}

}  // namespace kdtext::train
