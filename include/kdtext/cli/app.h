// The command-line conventions shared by every kdtext-* executable:
//   --config FILE.json (flags override the file), --dump-config,
//   --device, --threads, --seed, --log-level, --log-file, --quiet,
//   --version, --help with an example.
// Exit codes: 0 success, 2 usage or configuration error, 1 runtime error.
//
// A stage describes its configuration as JSON defaults (from its typed
// options struct), binds flags to dotted keys of that JSON, and receives the
// resolved JSON: defaults < --config file < flags.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kdtext/cli/runtime.h"
#include "kdtext/util/json.h"

namespace CLI {
class App;
}  // namespace CLI

namespace kdtext::cli {

struct RunContext {
  Json config;              // the resolved configuration
  RuntimeOptions runtime;   // its "run" section, typed
  c10::Device device{c10::kCPU};
};

class StageApp {
 public:
  // `stage` names the executable (kdtext-<stage>); `example` is shown in --help.
  StageApp(std::string stage, std::string description, std::string example, Json defaults);
  ~StageApp();
  StageApp(const StageApp&) = delete;
  StageApp& operator=(const StageApp&) = delete;

  // Binds an option taking a value to a dotted config key. The value is
  // converted to the JSON type of the default at that key (integer, number,
  // string, boolean, or array of strings for a repeated option).
  // A required option must come from the flags or the --config file.
  void option(const std::string& flags, const std::string& key, const std::string& help, bool required = false);
  // Binds a positional argument (a list when the key holds an array).
  void positional(const std::string& name, const std::string& key, const std::string& help, bool required = false);
  // Binds a boolean switch: "--flag" sets true and "--no-flag" sets false.
  void flag(const std::string& name, const std::string& key, const std::string& help);

  // Parses argv, resolves the configuration, applies the runtime options and
  // calls `body`. Returns the process exit code; never throws.
  int run(int argc, char** argv, const std::function<void(const RunContext&)>& body);

  // Lets the stage run as several processes started by torchrun, mpirun or
  // srun (parallel/group.h): run() connects them before the body. Stages that do
  // not call it refuse such a launch. add_training_flags calls it.
  void allow_data_parallel() { data_parallel_ = true; }

  // Resolves the configuration only (used by tests): throws ConfigError.
  Json resolve(int argc, char** argv);

 private:
  struct Binding;
  Json resolve_parsed();
  void check_required(const Json& config) const;
  int run_body(const RunContext& ctx, const parallel::World& world, const std::function<void(const RunContext&)>& body);
  std::string stage_;
  Json defaults_;
  std::unique_ptr<CLI::App> app_;
  std::vector<std::unique_ptr<Binding>> bindings_;
  std::string config_path_;
  bool dump_config_ = false;
  bool data_parallel_ = false;
};

// Flag sets shared by several stages, each defined once (the keys they bind
// must exist in the stage's JSON defaults).
//
// Labelled-data format: --format, --text-column, --pair-column,
// --label-column, --header, --bad-lines (data.*).
void add_data_format_flags(StageApp& app);
// Every training stage (pretrain, finetune, distill): -o/--output,
// --overwrite, --resume, --max-len, --batch-size and the trainer.* flags
// (--max-steps, --lr, --warmup-ratio, --warmup-steps, --schedule,
// --grad-accum, --eval-every, --early-stopping, --log-every, --save-every,
// --max-minutes, --stop-at-step, --bf16). `output_required`: false where the
// stage can choose the directory itself (the configuration then checks it).
void add_training_flags(StageApp& app, bool output_required = true);
// Stages that train on a labelled set (finetune, distill): --train, --dev,
// --test, the data format, --epochs, --evals-per-epoch, --metric.
// `files_required`: --train and --dev must be given.
void add_labelled_training_flags(StageApp& app, bool files_required);

// Semantic version of this build, e.g. "0.1.0".
const char* version();

}  // namespace kdtext::cli
