#include "kdtext/train/trainer.h"

#include <ATen/autocast_mode.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <regex>

#include "kdtext/io/atomic.h"
#include "kdtext/io/safetensors.h"
#include "kdtext/log.h"
#include "kdtext/util/error.h"
#include "kdtext/util/progress.h"

namespace kdtext::train {
namespace fs = std::filesystem;

// ---------------------------------------------------------------- options

Json to_json(const TrainerOptions& o) {
  return Json{{"max_steps", o.max_steps},
              {"grad_accum", o.grad_accum},
              {"lr", o.lr},
              {"weight_decay", o.weight_decay},
              {"adam_beta1", o.adam_beta1},
              {"adam_beta2", o.adam_beta2},
              {"adam_eps", o.adam_eps},
              {"warmup_steps", o.warmup_steps},
              {"warmup_ratio", o.warmup_ratio},
              {"schedule", o.schedule},
              {"max_grad_norm", o.max_grad_norm},
              {"bf16", o.bf16},
              {"log_every", o.log_every},
              {"eval_every", o.eval_every},
              {"save_every", o.save_every},
              {"keep_last", o.keep_last},
              {"early_stopping_patience", o.early_stopping_patience},
              {"stop_at_step", o.stop_at_step},
              {"max_minutes", o.max_minutes}};
}

TrainerOptions trainer_options_from_json(const JsonFields& f) {
  TrainerOptions o;
  f.get("max_steps", o.max_steps);
  f.get("grad_accum", o.grad_accum);
  f.get("lr", o.lr);
  f.get("weight_decay", o.weight_decay);
  f.get("adam_beta1", o.adam_beta1);
  f.get("adam_beta2", o.adam_beta2);
  f.get("adam_eps", o.adam_eps);
  f.get("warmup_steps", o.warmup_steps);
  f.get("warmup_ratio", o.warmup_ratio);
  f.get("schedule", o.schedule);
  f.get("max_grad_norm", o.max_grad_norm);
  f.get("bf16", o.bf16);
  f.get("log_every", o.log_every);
  f.get("eval_every", o.eval_every);
  f.get("save_every", o.save_every);
  f.get("keep_last", o.keep_last);
  f.get("early_stopping_patience", o.early_stopping_patience);
  f.get("stop_at_step", o.stop_at_step);
  f.get("max_minutes", o.max_minutes);
  return o;
}

void validate(const TrainerOptions& o, const std::string& p) {
  const auto bad = [&](const std::string& key, const std::string& why) {
    return ConfigError(p + "." + key + ": " + why);
  };
  if (o.max_steps < 1) throw bad("max_steps", "must be >= 1, got " + std::to_string(o.max_steps));
  if (o.grad_accum < 1) throw bad("grad_accum", "must be >= 1");
  if (!(o.lr > 0)) throw bad("lr", "must be > 0");
  if (o.weight_decay < 0) throw bad("weight_decay", "must be >= 0");
  if (!(o.adam_beta1 >= 0 && o.adam_beta1 < 1)) throw bad("adam_beta1", "must be in [0, 1)");
  if (!(o.adam_beta2 >= 0 && o.adam_beta2 < 1)) throw bad("adam_beta2", "must be in [0, 1)");
  if (!(o.adam_eps > 0)) throw bad("adam_eps", "must be > 0");
  if (!(o.warmup_ratio >= 0 && o.warmup_ratio <= 1)) throw bad("warmup_ratio", "must be in [0, 1]");
  if (o.schedule != "linear" && o.schedule != "cosine" && o.schedule != "constant") {
    throw bad("schedule", "unknown '" + o.schedule + "' (expected linear, cosine or constant)");
  }
  if (o.log_every < 1) throw bad("log_every", "must be >= 1");
  if (o.eval_every < 0) throw bad("eval_every", "must be >= 0");
  if (o.save_every < 0) throw bad("save_every", "must be >= 0");
  if (o.keep_last < 1) throw bad("keep_last", "must be >= 1");
  if (o.early_stopping_patience < 0) throw bad("early_stopping_patience", "must be >= 0");
  if (o.stop_at_step < 0) throw bad("stop_at_step", "must be >= 0");
  if (o.max_minutes < 0) throw bad("max_minutes", "must be >= 0");
}

TrainerOptions with_epochs(TrainerOptions o, int64_t examples, int64_t batch_size, int64_t epochs,
                           int64_t evals_per_epoch) {
  const int64_t per_epoch = (examples + batch_size - 1) / batch_size;
  if (o.max_steps == 0) o.max_steps = per_epoch * epochs;
  if (o.eval_every == 0) o.eval_every = std::max<int64_t>(1, per_epoch / evals_per_epoch);
  return o;
}

int64_t warmup_steps(const TrainerOptions& o) {
  if (o.warmup_steps >= 0) return o.warmup_steps;
  return static_cast<int64_t>(std::llround(o.warmup_ratio * static_cast<double>(o.max_steps)));
}

double lr_factor(const TrainerOptions& o, int64_t step) {
  const int64_t warm = warmup_steps(o);
  if (warm > 0 && step <= warm) return static_cast<double>(step) / static_cast<double>(warm);
  if (o.schedule == "constant") return 1.0;
  // Progress through the decay, measured before this step's update: the first
  // step after warm-up runs at the peak rate and the last one still learns.
  const double span = static_cast<double>(std::max<int64_t>(1, o.max_steps - warm));
  const double progress = std::clamp(static_cast<double>(step - warm - 1) / span, 0.0, 1.0);
  if (o.schedule == "cosine") return 0.5 * (1.0 + std::cos(M_PI * progress));
  return 1.0 - progress;  // linear
}

// ---------------------------------------------------------------- signals

namespace {

std::atomic<int> g_stop_signal{0};

extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }

// Installs SIGINT/SIGTERM handlers for the duration of a run.
class SignalScope {
 public:
  SignalScope() {
    g_stop_signal.store(0);
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

// bf16 autocast for the device type, restored on exit.
class AutocastScope {
 public:
  AutocastScope(bool enabled, c10::DeviceType type) : enabled_(enabled), type_(type) {
    if (!enabled_) return;
    prev_enabled_ = at::autocast::is_autocast_enabled(type_);
    prev_dtype_ = at::autocast::get_autocast_dtype(type_);
    at::autocast::set_autocast_enabled(type_, true);
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~AutocastScope() {
    if (!enabled_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(type_, prev_enabled_);
    at::autocast::set_autocast_dtype(type_, prev_dtype_);
  }

 private:
  bool enabled_;
  c10::DeviceType type_;
  bool prev_enabled_ = false;
  at::ScalarType prev_dtype_ = at::kBFloat16;
};

bool no_decay(const std::string& name) {
  return name.size() >= 5 && (name.compare(name.size() - 5, 5, ".bias") == 0 || name == "bias" ||
                              name.find("LayerNorm") != std::string::npos);
}

std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

void load_module_weights(torch::nn::Module& module, const fs::path& file) {
  const auto loaded = io::load_safetensors(file).tensors;
  torch::NoGradGuard no_grad;
  for (auto& p : module.named_parameters(true)) {
    auto it = loaded.find(p.key());
    if (it == loaded.end()) throw InputError(file.string() + ": missing weight '" + p.key() + "' for resume");
    if (it->second.sizes() != p.value().sizes()) {
      throw InputError(file.string() + ": weight '" + p.key() + "' has shape " + c10::str(it->second.sizes()) +
                       ", the model needs " + c10::str(p.value().sizes()));
    }
    p.value().copy_(it->second);
  }
}

}  // namespace

void Trainer::request_stop(int signal) { g_stop_signal.store(signal); }

void TrainingTask::load_for_resume(const fs::path& dir) { load_module_weights(module(), dir / "model.safetensors"); }

// ---------------------------------------------------------------- trainer

Trainer::Trainer(TrainerOptions options, fs::path output_dir, torch::Device device, uint64_t seed)
    : options_(std::move(options)), out_(std::move(output_dir)), device_(device), seed_(seed) {
  validate(options_, "trainer");
}

std::optional<fs::path> Trainer::prepare_run_directory(const fs::path& out, bool resume, bool overwrite) {
  std::optional<fs::path> from;
  std::error_code ec;
  if (resume) {
    from = latest_checkpoint(out);
    if (!from) throw ConfigError("--resume: no resumable checkpoint under " + (out / "checkpoints").string());
  } else if (fs::exists(out, ec) && !fs::is_empty(out, ec)) {
    if (!overwrite) {
      throw ConfigError(out.string() + ": output directory exists and is not empty (pass --resume to continue "
                                       "the run, or --overwrite to start over)");
    }
    fs::remove_all(out);
  }
  fs::create_directories(out);
  return from;
}

std::optional<fs::path> Trainer::latest_checkpoint(const fs::path& output_dir) {
  const fs::path dir = output_dir / "checkpoints";
  std::optional<fs::path> best;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return best;
  static const std::regex kName("step-[0-9]{8}");
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (!std::regex_match(name, kName) || !fs::exists(e.path() / "training_state" / "state.json")) continue;
    if (!best || name > best->filename().string()) best = e.path();
  }
  return best;
}

TrainResult Trainer::run(TrainingTask& task, const std::optional<fs::path>& resume_from) {
  const auto t0 = std::chrono::steady_clock::now();
  fs::create_directories(out_ / "checkpoints");
  MetricsLog metrics(out_ / "metrics.jsonl");
  torch::nn::Module& module = task.module();
  module.to(device_);
  module.train();

  // AdamW with two groups: weight decay everywhere except biases and LayerNorm.
  std::vector<torch::Tensor> decay, plain;
  for (auto& p : module.named_parameters(true)) {
    if (!p.value().requires_grad()) continue;
    (no_decay(p.key()) ? plain : decay).push_back(p.value());
  }
  auto adam = torch::optim::AdamWOptions(options_.lr)
                  .betas({options_.adam_beta1, options_.adam_beta2})
                  .eps(options_.adam_eps)
                  .weight_decay(options_.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(adam));
  groups.emplace_back(plain, std::make_unique<torch::optim::AdamWOptions>(adam.weight_decay(0.0)));
  torch::optim::AdamW optimizer(std::move(groups));

  int64_t step = 0;
  int64_t evals_without_improvement = 0;
  std::optional<double> best;
  fs::path last_good;
  if (resume_from) {
    const fs::path state_dir = *resume_from / "training_state";
    const Json state = read_json_file(state_dir / "state.json");
    task.load_for_resume(*resume_from);
    torch::load(optimizer, (state_dir / "optimizer.pt").string());
    torch::Tensor rng;
    torch::load(rng, (state_dir / "rng.pt").string());
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(rng);
    step = state.at("step").get<int64_t>();
    evals_without_improvement = state.value("evals_without_improvement", 0);
    if (state.contains("best_metric") && !state["best_metric"].is_null()) best = state["best_metric"].get<double>();
    task.restore_data_state(state.at("data"));
    last_good = *resume_from;
    log::info("resumed from ", resume_from->string(), " at step ", step);
    metrics.write({{"event", "resume"}, {"step", step}, {"from", resume_from->string()}});
  }

  const auto provenance = [&](int64_t s) {
    return Json{{"stage", task.stage()}, {"step", s}, {"max_steps", options_.max_steps}, {"seed", seed_}};
  };
  const auto save_resumable = [&](int64_t s) {
    const fs::path dir = out_ / "checkpoints" / step_dir_name(s);
    io::StagedDirectory staged(dir, /*overwrite=*/true);
    task.write_model(staged.path(), provenance(s));
    const fs::path state_dir = staged.path() / "training_state";
    fs::create_directories(state_dir);
    torch::save(optimizer, (state_dir / "optimizer.pt").string());
    torch::save(at::detail::getDefaultCPUGenerator().get_state(), (state_dir / "rng.pt").string());
    Json state{{"step", s},
               {"evals_without_improvement", evals_without_improvement},
               {"best_metric", best ? Json(*best) : Json(nullptr)},
               {"data", task.data_state()},
               {"trainer", to_json(options_)}};
    io::write_file_atomic(state_dir / "state.json", state.dump(2) + "\n");
    staged.commit();
    last_good = dir;
    // Keep only the newest `keep_last` resumable checkpoints.
    std::vector<fs::path> all;
    for (const auto& e : fs::directory_iterator(out_ / "checkpoints")) {
      if (e.path().filename().string().rfind("step-", 0) == 0 &&
          e.path().filename().string().find(".partial-") == std::string::npos) {
        all.push_back(e.path());
      }
    }
    std::sort(all.begin(), all.end());
    for (size_t i = 0; i + static_cast<size_t>(options_.keep_last) < all.size(); ++i) fs::remove_all(all[i]);
    metrics.write({{"event", "checkpoint"}, {"step", s}, {"path", dir.string()}});
  };
  const auto save_model_only = [&](const fs::path& dir, Json prov) {
    io::StagedDirectory staged(dir, /*overwrite=*/true);
    task.write_model(staged.path(), prov);
    staged.commit();
  };

  TrainResult result;
  const auto do_eval = [&](int64_t s) {
    module.eval();
    EvalResult r;
    {
      torch::NoGradGuard no_grad;
      AutocastScope autocast(options_.bf16, device_.type());
      r = task.evaluate();
    }
    module.train();
    result.last_eval = r.metrics;
    Json rec{{"event", "eval"}, {"step", s}};
    std::string line = "eval step " + std::to_string(s) + ":";
    for (const auto& [k, v] : r.metrics) {
      rec[k] = v;
      line += " " + k + " " + log::fixed(v, 4);
    }
    const std::string key = task.selection_metric();
    auto it = r.metrics.find(key);
    if (it == r.metrics.end()) throw std::logic_error("evaluation did not report '" + key + "'");
    const bool improved = !best || (task.higher_is_better() ? it->second > *best : it->second < *best);
    if (improved) {
      best = it->second;
      evals_without_improvement = 0;
      Json prov = provenance(s);
      prov["eval"] = r.metrics;
      save_model_only(out_ / "best", prov);
      line += " (best)";
    } else {
      ++evals_without_improvement;
    }
    rec["best"] = improved;
    metrics.write(rec);
    log::info(line);
  };

  SignalScope signals;
  const int64_t start_step = step;
  double loss_sum = 0, tokens_sum = 0;
  int64_t loss_count = 0;
  auto window_start = std::chrono::steady_clock::now();
  const auto run_start = window_start;
  double last_loss = 0;
  log::info(task.stage(), ": training ", options_.max_steps, " steps (", options_.grad_accum,
            " micro-batch(es) each), schedule ", options_.schedule, ", warm-up ", warmup_steps(options_),
            options_.bf16 ? ", bf16 autocast" : "", " on ", device_.str());

  while (step < options_.max_steps) {
    if (const int sig = g_stop_signal.load()) {
      save_resumable(step);
      throw Interrupted(sig, "stopped by signal " + std::to_string(sig) + " at step " + std::to_string(step) +
                                 "; resumable checkpoint: " + last_good.string());
    }
    ++step;
    const double lr = options_.lr * lr_factor(options_, step);
    for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    optimizer.zero_grad();
    double step_loss = 0;
    std::map<std::string, double> terms;
    for (int64_t micro = 0; micro < options_.grad_accum; ++micro) {
      StepOutput out;
      {
        AutocastScope autocast(options_.bf16, device_.type());
        out = task.forward_step();
      }
      const double value = out.loss.item<double>();
      if (!std::isfinite(value)) {
        metrics.write({{"event", "error"}, {"step", step}, {"loss", std::to_string(value)}});
        throw std::runtime_error("non-finite loss (" + std::to_string(value) + ") at step " + std::to_string(step) +
                                 "; stopping. Last good checkpoint: " +
                                 (last_good.empty() ? std::string("none") : last_good.string()) +
                                 ". Try a lower learning rate, more warm-up or gradient clipping.");
      }
      (out.loss / static_cast<double>(options_.grad_accum)).backward();
      step_loss += value / static_cast<double>(options_.grad_accum);
      tokens_sum += static_cast<double>(out.tokens);
      for (const auto& [k, v] : out.terms) terms[k] += v / static_cast<double>(options_.grad_accum);
    }
    double grad_norm = 0;
    if (options_.max_grad_norm > 0) {
      grad_norm = torch::nn::utils::clip_grad_norm_(module.parameters(), options_.max_grad_norm);
    }
    optimizer.step();
    last_loss = step_loss;
    loss_sum += step_loss;
    ++loss_count;

    if (step % options_.log_every == 0 || step == options_.max_steps) {
      const auto now = std::chrono::steady_clock::now();
      const double window = std::chrono::duration<double>(now - window_start).count();
      const double elapsed = std::chrono::duration<double>(now - run_start).count();
      const double tok_s = window > 0 ? tokens_sum / window : 0;
      const double eta = elapsed / static_cast<double>(step - start_step) *
                         static_cast<double>(options_.max_steps - step);
      const double avg = loss_sum / static_cast<double>(loss_count);
      Json rec{{"event", "train"}, {"step", step}, {"loss", avg}, {"lr", lr}, {"grad_norm", grad_norm},
               {"tokens_per_s", tok_s}};
      for (const auto& [k, v] : terms) rec[k] = v;
      metrics.write(rec);
      log::info("step ", step, "/", options_.max_steps, " | loss ", log::fixed(avg, 4), " | lr ",
                log::cat(std::scientific, lr), " | ", log::fixed(tok_s, 0), " tok/s | ETA ", format_duration(eta));
      loss_sum = tokens_sum = 0;
      loss_count = 0;
      window_start = now;
    }
    if (options_.eval_every > 0 && step % options_.eval_every == 0) {
      do_eval(step);
      if (options_.early_stopping_patience > 0 && evals_without_improvement >= options_.early_stopping_patience) {
        log::info("early stopping: ", evals_without_improvement, " evaluations without improvement");
        result.early_stopped = true;
        break;
      }
    }
    if (options_.max_minutes > 0 &&
        std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count() >
            60.0 * options_.max_minutes) {
      log::info("time budget of ", options_.max_minutes, " minutes used up at step ", step);
      result.budget_exhausted = true;
      break;
    }
    if (options_.save_every > 0 && step % options_.save_every == 0 && step < options_.max_steps) save_resumable(step);
    if (options_.stop_at_step > 0 && step == options_.stop_at_step && step < options_.max_steps) {
      save_resumable(step);
      log::info("stop_at_step ", step, " reached; resume with the same output directory");
      result.steps = step;
      result.final_loss = last_loss;
      result.best_metric = best;
      result.stopped = true;
      result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      return result;
    }
  }
  const bool just_evaluated = options_.eval_every > 0 && step % options_.eval_every == 0;
  if (!just_evaluated) do_eval(step);
  save_resumable(step);
  save_model_only(out_ / "final", [&] {
    Json prov = provenance(step);
    prov["eval"] = result.last_eval;
    return prov;
  }());
  result.steps = step;
  result.final_loss = last_loss;
  result.best_metric = best;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  metrics.write({{"event", "done"}, {"step", step}, {"seconds", result.seconds}});
  return result;
}

}  // namespace kdtext::train
