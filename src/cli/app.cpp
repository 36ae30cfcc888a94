#include "kdtext/cli/app.h"

#include <CLI/CLI.hpp>
#include <torch/cuda.h>
#include <torch/version.h>

#include <cmath>
#include <csignal>
#include <iostream>

#include "kdtext/parallel/group.h"
#include "kdtext/util/log.h"
#include "kdtext/error.h"
#include "kdtext/util/memory.h"
#include "kdtext/version.h"

namespace kdtext::cli {

const char* version() { return KDTEXT_VERSION; }

struct StageApp::Binding {
  std::string key;          // dotted config key
  std::string flag;         // for error messages
  CLI::Option* option = nullptr;
  bool required = false;
  std::vector<std::string> values;  // list options
  std::string scalar;               // single-value options
  bool is_switch = false;
  bool switch_value = false;
};

namespace {

Json::json_pointer pointer_of(const std::string& dotted) {
  std::string p;
  size_t start = 0;
  while (true) {
    const size_t dot = dotted.find('.', start);
    p += "/" + dotted.substr(start, dot - start);
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return Json::json_pointer(p);
}

Json convert(const std::string& flag, const Json& like, const std::vector<std::string>& values) {
  if (like.is_array()) return Json(values);
  const std::string& v = values.back();
  const auto bad = [&](const char* what) {
    return ConfigError(flag + ": expected " + what + ", got '" + v + "'");
  };
  if (like.is_boolean()) {
    if (v == "true" || v == "1" || v == "yes") return true;
    if (v == "false" || v == "0" || v == "no") return false;
    throw bad("true or false");
  }
  if (like.is_number_integer()) {
    size_t used = 0;
    try {
      if (like.is_number_unsigned()) {
        if (!v.empty() && v[0] == '-') throw bad("a non-negative integer");
        const unsigned long long x = std::stoull(v, &used);
        if (used == v.size()) return x;
      } else {
        const long long x = std::stoll(v, &used);
        if (used == v.size()) return x;
      }
    } catch (const std::logic_error&) {
    }
    throw bad("an integer");
  }
  if (like.is_number()) {
    size_t used = 0;
    double x = 0;
    try {
      x = std::stod(v, &used);
    } catch (const std::logic_error&) {
      used = 0;
    }
    if (used != v.size() || v.empty()) throw bad("a number");
    if (!std::isfinite(x)) throw bad("a finite number");
    return x;
  }
  return v;
}

}  // namespace

StageApp::StageApp(std::string stage, std::string description, std::string example, ConfigSchema schema)
    : stage_(std::move(stage)), defaults_(std::move(schema.defaults)),
      app_(std::make_unique<CLI::App>(description, "kdtext-" + stage_)) {
  app_->footer("Example:\n  " + example +
               "\n\nExit codes: 0 success, 2 usage or configuration error, 1 runtime error.");
  app_->set_version_flag("--version",
                         [this] {
                           return "kdtext-" + stage_ + " " + version() + " (LibTorch " + TORCH_VERSION +
                                  ", CUDA devices: " + std::to_string(cuda_device_count()) + ")";
                         },
                         "Print the version and exit");
  app_->add_option("--config", config_path_, "JSON configuration file; flags override its values");
  app_->add_flag("--dump-config", dump_config_, "Print the resolved configuration as JSON and exit");
  if (!defaults_.contains("run")) {
    defaults_["run"] = to_json(RuntimeOptions{});
    runtime_fields().collect_flags(schema.flags, "run");
  }
  for (const auto& spec : schema.flags) bind(spec);
}

void StageApp::bind(const FlagSpec& spec) {
  if (spec.is_switch) {
    flag(spec.spelling.substr(spec.spelling.find_first_not_of('-')), spec.key, spec.help);
  } else {
    option(spec.spelling, spec.key, spec.help, spec.required);
  }
}

StageApp::~StageApp() = default;

void StageApp::option(const std::string& flags, const std::string& key, const std::string& help, bool required) {
  auto b = std::make_unique<Binding>();
  b->key = key;
  b->required = required;
  b->flag = flags.substr(0, flags.find(','));
  const Json& like = defaults_.at(pointer_of(key));  // a wrong key is a programming error: throws
  std::string text = help;
  if (!like.is_array() && !(like.is_string() && like.get<std::string>().empty())) {
    text += " [default: " + (like.is_string() ? like.get<std::string>() : like.dump()) + "]";
  }
  if (like.is_array()) {
    b->option = app_->add_option(flags, b->values, text)->type_name("TEXT");
  } else {
    // A scalar takes exactly one value; repeating the flag keeps the last one.
    b->option = app_->add_option(flags, b->scalar, text)
                    ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
                    ->type_name(like.is_boolean() ? "BOOL" : like.is_number_integer() ? "INT"
                                : like.is_number() ? "NUMBER" : "TEXT");
  }
  bindings_.push_back(std::move(b));
}

// Required values may come from flags or the --config file, so the check runs
// on the resolved configuration rather than in CLI11.
void StageApp::check_required(const Json& config) const {
  for (const auto& b : bindings_) {
    if (!b->required) continue;
    const Json& v = config.at(pointer_of(b->key));
    if ((v.is_string() && v.get<std::string>().empty()) || (v.is_array() && v.empty())) {
      throw ConfigError(b->flag + " is required (or set '" + b->key + "' in the --config file)");
    }
  }
}

void StageApp::flag(const std::string& name, const std::string& key, const std::string& help) {
  auto b = std::make_unique<Binding>();
  b->key = key;
  b->flag = "--" + name;
  b->is_switch = true;
  const bool def = defaults_.at(pointer_of(key)).get<bool>();
  Binding* raw = b.get();
  b->option = app_->add_flag_function(
      "--" + name + ",!--no-" + name,
      [raw](int64_t count) { raw->switch_value = count > 0; },
      help + (def ? " [default: on]" : " [default: off]"));
  bindings_.push_back(std::move(b));
}

Json StageApp::resolve_parsed() {
  Json config = defaults_;
  if (!config_path_.empty()) {
    Json file;
    try {
      file = read_json_file(config_path_);
    } catch (const InputError& e) {
      throw ConfigError(std::string("--config: ") + e.what());
    }
    // A run's own config.json, given back as --config: what the run recorded
    // about itself (not settings) is left out, so the file reproduces the run.
    for (const char* recorded : {"inputs_fingerprint", "world_size", "changed_on_resume"}) {
      if (file.is_object() && file.erase(recorded) > 0) {
        log::info(config_path_, ": '", recorded, "' is recorded by a run, not a setting: not read");
      }
    }
    merge_config(config, file, config_path_);
  }
  for (const auto& b : bindings_) {
    if (b->option->count() == 0) continue;
    const auto ptr = pointer_of(b->key);
    if (b->is_switch) {
      config[ptr] = b->switch_value;
    } else {
      const Json& like = defaults_.at(ptr);
      config[ptr] = convert(b->flag, like, like.is_array() ? b->values : std::vector<std::string>{b->scalar});
    }
  }
  if (!dump_config_) check_required(config);
  return config;
}

Json StageApp::resolve(int argc, char** argv) {
  try {
    app_->parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    throw ConfigError(e.what());
  }
  return resolve_parsed();
}

int StageApp::run(int argc, char** argv, const std::function<void(const RunContext&)>& body) {
  try {
    app_->parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app_->exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app_->exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app_->exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "kdtext-" << stage_ << ": error: " << e.what() << "\nRun with --help for usage.\n";
    return 2;
  }
  // A write past the file-size limit (ulimit -f) fails with EFBIG, reported
  // with its path like a full disk, instead of killing the process silently.
  ::signal(SIGXFSZ, SIG_IGN);
  RunContext ctx;
  parallel::World world;
  try {
    ctx.config = resolve_parsed();
    if (dump_config_) {
      std::cout << ctx.config.dump(2) << std::endl;
      return 0;
    }
    ctx.runtime = runtime_options_from_json(JsonFields(ctx.config.at("run"), "run"));
    world = parallel::detect_world();
    if (world.distributed() && !data_parallel_) {
      throw ConfigError("kdtext-" + stage_ + " runs as one process, but " + world.launcher + " started " +
                        std::to_string(world.size) + " (data-parallel runs: pretrain, finetune, distill)");
    }
    std::vector<std::string> notes;
    ctx.runtime = for_process(ctx.runtime, world, notes);
    check_working_memory("");  // the message already starts "kdtext-<stage>: error:"
    ctx.device = apply_runtime(stage_, ctx.runtime);
    for (const auto& n : notes) log::info("data-parallel: ", n);
  } catch (const ConfigError& e) {
    std::cerr << "kdtext-" << stage_ << ": error: " << e.what() << std::endl;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "kdtext-" << stage_ << ": error: " << e.what() << std::endl;
    return 1;
  }
  const int code = run_body(ctx, world, body);
  // One process of several that failed alone ends the others (they would
  // wait for it in their next collective); agreed ends (success, a signal
  // every process stopped for) close the group normally.
  if (code != 0 && code < 128 && parallel::process_group() != nullptr) parallel::process_group()->abort(code);
  parallel::set_process_group(nullptr);
  return code;
}

int StageApp::run_body(const RunContext& ctx, const parallel::World& world,
                       const std::function<void(const RunContext&)>& body) {
  try {
    if (world.distributed() || (world.group_of_one_on_cuda() && ctx.device.is_cuda())) {
      parallel::set_process_group(parallel::Group::connect(world, ctx.device, parallel::timeout_from_environment()));
    }
    body(ctx);
    return 0;
  } catch (const Interrupted& e) {
    log::warn(e.what());
    return 128 + e.signal();
  } catch (const ConfigError& e) {
    log::error(e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    MemoryBudget b{0, "unknown"};
    try {
      b = available_memory();
    } catch (const std::exception&) {
    }
    log::error("out of memory: an allocation failed with ", human_bytes(b.bytes < 0 ? 0 : b.bytes), " left (", b.limit,
               "); give the run more memory, or lower --batch-size / --max-len or the model's size");
    return 1;
  } catch (const std::exception& e) {
    log::error(e.what());
    return 1;
  }
}

}  // namespace kdtext::cli
