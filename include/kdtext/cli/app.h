// The command-line conventions shared by every kdtext-* executable:
//   --config FILE.json (flags override the file), --dump-config,
//   --device, --threads, --seed, --log-level, --log-file, --quiet,
//   --version, --help with an example.
// Exit codes: 0 success, 2 usage or configuration error, 1 runtime error.
//
// A stage describes its configuration with a FieldTable (util/fields.h): the
// JSON defaults and the flags bound to dotted keys of that JSON come from it,
// and the stage receives the resolved JSON: defaults < --config file < flags.
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
  // Every flag of `schema` is bound (in its order); a schema without a "run"
  // section gets the runtime options' defaults and flags.
  StageApp(std::string stage, std::string description, std::string example, ConfigSchema schema);
  ~StageApp();
  StageApp(const StageApp&) = delete;
  StageApp& operator=(const StageApp&) = delete;

  // Parses argv, resolves the configuration, applies the runtime options and
  // calls `body`. Returns the process exit code; never throws.
  int run(int argc, char** argv, const std::function<void(const RunContext&)>& body);

  // Lets the stage run as several processes started by torchrun, mpirun or
  // srun (parallel/group.h): run() connects them before the body. Stages that do
  // not call it refuse such a launch.
  void allow_data_parallel() { data_parallel_ = true; }

  // Resolves the configuration only (used by tests): throws ConfigError.
  Json resolve(int argc, char** argv);

 private:
  struct Binding;
  // An option taking a value, converted to the JSON type of the default at
  // `key` (integer, number, string, boolean, or array of strings for a
  // repeated option); a spelling without '-' is a positional argument.
  void option(const std::string& flags, const std::string& key, const std::string& help, bool required);
  // A boolean switch: "--name" sets true and "--no-name" sets false.
  void flag(const std::string& name, const std::string& key, const std::string& help);
  void bind(const FlagSpec& spec);
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

// Semantic version of this build, e.g. "0.1.0".
const char* version();

}  // namespace kdtext::cli
