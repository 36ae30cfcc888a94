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

StageApp::StageApp(std::string stage, std::string description, std::string example, Json defaults)
    : stage_(std::move(stage)), defaults_(std::move(defaults)),
      app_(std::make_unique<CLI::App>(description, "kdtext-" + stage_)) {
  defaults_["run"] = to_json(RuntimeOptions{});
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
  option("--device", "run.device", "Device: auto, cpu, cuda or cuda:N");
  option("--threads", "run.threads", "Intra-op CPU threads (0 = OMP_NUM_THREADS or all cores)");
  option("--seed", "run.seed", "Random seed");
  option("--log-level", "run.log_level", "trace, debug, info, warn, error or off");
  option("--log-file", "run.log_file", "Also append log lines to this file");
  flag("quiet", "run.quiet", "Only print warnings and errors");
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

void StageApp::positional(const std::string& name, const std::string& key, const std::string& help, bool required) {
  option(name, key, help, required);
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
    const MemoryBudget b = available_memory();
    log::error("out of memory: an allocation failed with ", human_bytes(b.bytes < 0 ? 0 : b.bytes), " left (", b.limit,
               "); give the run more memory, or lower --batch-size / --max-len or the model's size");
    return 1;
  } catch (const std::exception& e) {
    log::error(e.what());
    return 1;
  }
}

void add_data_format_flags(StageApp& app) {
  app.option("--format", "data.format", "auto, tsv, csv or jsonl (classify also: lines)");
  app.option("--text-column", "data.text_column", "Text column (name or 0-based index)");
  app.option("--pair-column", "data.pair_column", "Second text column for pairs");
  app.option("--label-column", "data.label_column", "Label column (name or index)");
  app.option("--header", "data.header", "auto, yes or no");
  app.option("--bad-lines", "data.bad_lines", "error or skip");
}

void add_training_flags(StageApp& app, bool output_required) {
  app.allow_data_parallel();
  app.option("-o,--output", "output", "Run directory", output_required);
  app.flag("overwrite", "overwrite", "Start over in a non-empty output directory");
  app.flag("resume", "resume", "Continue from the newest checkpoint in the output directory");
  app.flag("accept-changes", "trainer.accept_changes",
           "With --resume: accept settings that differ from the run's config.json and change its result "
           "(recorded there); without it they are refused, naming each");
  app.option("--max-len", "max_len", "Tokens per example (packed sequence length for shards)");
  app.option("--batch-size", "batch_size", "Examples (sequences) per micro-batch");
  app.option("--max-steps", "trainer.max_steps", "Optimiser steps (0: from --epochs where the stage has epochs)");
  app.option("--lr", "trainer.lr", "Peak learning rate");
  app.option("--warmup-ratio", "trainer.warmup_ratio", "Warm-up fraction of the steps");
  app.option("--warmup-steps", "trainer.warmup_steps", "Warm-up steps (-1: --warmup-ratio)");
  app.option("--schedule", "trainer.schedule", "linear, cosine or constant");
  app.option("--grad-accum", "trainer.grad_accum", "Micro-batches per step");
  app.option("--eval-every", "trainer.eval_every", "Evaluate every N steps (0: per epoch, or only at the end)");
  app.option("--early-stopping", "trainer.early_stopping_patience", "Evaluations without improvement before stopping");
  app.option("--log-every", "trainer.log_every", "Progress every N steps");
  app.option("--save-every", "trainer.save_every", "Resumable checkpoint every N steps");
  app.option("--max-minutes", "trainer.max_minutes", "Wall-clock budget in minutes (0: none)");
  app.option("--stop-at-step", "trainer.stop_at_step", "Save and stop at this step (resume later)");
  app.flag("bf16", "trainer.bf16", "bf16 autocast");
}

void add_labelled_training_flags(StageApp& app, bool files_required) {
  app.option("--train", "train", "Labelled training file (tsv, csv or jsonl)", files_required);
  app.option("--dev", "dev", "Labelled development file (selects the best checkpoint)", files_required);
  app.option("--test", "test", "Labelled test file (reported only)");
  add_data_format_flags(app);
  app.option("--epochs", "epochs", "Epochs (when --max-steps is 0)");
  app.option("--evals-per-epoch", "evals_per_epoch", "Evaluations per epoch (when --eval-every is 0)");
  app.option("--metric", "metric", "accuracy or macro_f1 (selects the best checkpoint)");
}

}  // namespace kdtext::cli
