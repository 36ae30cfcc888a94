// A training run's output directory, held for the whole run.
// - Locked (util/lock.h): a second run on the same directory fails at once.
// - `resume`: the newest resumable checkpoint is the starting point
//   (ConfigError if there is none).
// - A non-empty directory without `resume` is refused unless `overwrite`;
//   then the previous run is moved aside to `<dir>.replaced-PID`, not deleted.
//   It is deleted once this run has a complete checkpoint of its own (when the
//   run finishes, stops or is interrupted after saving) and moved back when
//   this run fails before that (a bad setting found late, a full disk), so a
//   failed run never destroys a good one. A copy left by a killed process is
//   settled at the next start on the directory by the same rule: moved back
//   (with a warning) unless the killed run had saved a checkpoint.
// - A run that ends without results (no checkpoint, best/, final/ or
//   summary) removes the directory it started; one killed before its first
//   checkpoint is taken over by the next plain run (nothing to resume).
// - --overwrite replaces only a directory kdtext wrote (check_replaceable).
// - The path is resolved (symbolic links followed) before it is locked.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kdtext/util/json.h"
#include "kdtext/util/lock.h"

namespace kdtext::train {

// What a kind of run leaves in its directory, for the rules above.
struct RunRules {
  // Whether the directory holds results worth keeping: a fresh run that ends
  // without them removes what it wrote, and a killed one is taken over by the
  // next plain run.
  std::function<bool(const std::filesystem::path&)> holds_results;
  // Outputs a run that failed before its first checkpoint keeps for a look
  // (a training run's best/), though they are not results: the next plain run
  // still takes the directory over.
  std::vector<std::string> kept_after_failure;
  // Whether the run got far enough to replace the one --overwrite set aside
  // (otherwise that one is moved back when this one ends or was killed).
  std::function<bool(const std::filesystem::path&)> replaces_previous;
  std::string replaced_when = "its first checkpoint";  // says when, in messages
  std::string settings_file = "config.json";           // a started run writes it first
  std::string marker = "training run";                 // what the output marker says the directory is
  // true: `resume` continues from the newest checkpoint, which must exist.
  // false: `resume` continues in place, whatever is there (a run made of
  // other runs, whose steps know their own state; the caller checked that the
  // directory holds the same run).
  bool resume_needs_checkpoint = true;
};
// A training run's: results are a checkpoint, final/ or a summary (a best/
// alone is kept after a failure, not resumed from); a checkpoint replaces the
// previous run.
RunRules training_run_rules();

// Settles what killed --overwrite runs on `dir` left (the rule above): a
// previous run they had set aside is moved back, or removed when the killed
// run had got far enough to replace it. RunDirectory does it first thing; a
// caller that reads the directory before opening it calls it before reading.
void recover_replaced_runs(const std::filesystem::path& dir, const RunRules& rules);

class RunDirectory {
 public:
  RunDirectory(const std::filesystem::path& dir, bool resume, bool overwrite);  // training_run_rules()
  RunDirectory(const std::filesystem::path& dir, bool resume, bool overwrite, RunRules rules);
  // Drops or restores the previous run (see above).
  ~RunDirectory();
  RunDirectory(const RunDirectory&) = delete;
  RunDirectory& operator=(const RunDirectory&) = delete;

  const std::optional<std::filesystem::path>& resume_from() const { return resume_from_; }

  // The configuration to store as config.json. On a resume it is compared with
  // the stored one, key by key: a changed key that shapes the result (data,
  // model, optimiser, schedule, seed, device...) is a ConfigError naming each
  // key with its old and new value, unless `accept_changes`, which logs them
  // and records them under "changed_on_resume". Keys that do not change the
  // weights may change freely: logging, threads, the stop step and time
  // budget, evaluation and checkpoint frequency, the test file.
  Json settle_config(Json config, bool accept_changes) const;
  const std::filesystem::path& path() const { return dir_; }

 private:
  std::filesystem::path dir_, aside_;
  DirectoryLock lock_;
  RunRules rules_;
  bool fresh_ = false;    // started here (not resumed): emptied again if it ends without results
  bool created_ = false;  // and the directory itself made by this run: then removed
  std::optional<std::filesystem::path> resume_from_;
};

// Where a training run of finetune or distill stands, as the stage itself
// decides it: finished (metrics.json, written last), resumable (a resumable
// checkpoint: rerun with resume), unfinished (a directory without either,
// e.g. killed before its first checkpoint: rerun with overwrite), or absent
// (no directory, or an empty one).
enum class RunState { kAbsent, kFinished, kResumable, kUnfinished };
RunState run_state(const std::filesystem::path& dir);
const char* run_state_name(RunState s);

// config.json's key for the fingerprints of the files and directories a run
// trains on (util/file.h content_fingerprint), compared on --resume like any
// setting: the same path with other content is refused, naming the key.
inline constexpr const char* kInputsFingerprint = "inputs_fingerprint";
// The fingerprint of each of `keys` of `config` that names a path.
Json fingerprint_inputs(const Json& config, const std::vector<std::string>& keys);

// A run directory as every process of a run sees it. The writing process
// (rank 0, or the only one) opens the RunDirectory and runs `prepare` on it
// (settle and write config.json); the others wait for that, then learn the
// checkpoint to resume from (the directory must be shared, as the data is).
struct OpenedRun {
  std::unique_ptr<RunDirectory> directory;             // the writer's; null elsewhere
  std::optional<std::filesystem::path> resume_from;
};
OpenedRun open_run(const std::filesystem::path& dir, bool resume, bool overwrite,
                   const std::function<void(RunDirectory&)>& prepare);

}  // namespace kdtext::train
