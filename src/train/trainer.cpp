#include "kdtext/train/trainer.h"

#include <ATen/autocast_mode.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <regex>

#include "kdtext/parallel/group.h"
#include "kdtext/io/safetensors.h"
#include "kdtext/io/training_state.h"
#include "kdtext/train/sparse_rows.h"
#include "kdtext/util/log.h"
#include "kdtext/util/atomic.h"
#include "kdtext/util/signals.h"
#include "kdtext/error.h"
#include "kdtext/util/fault.h"
#include "kdtext/util/progress.h"

namespace kdtext::train {
namespace fs = std::filesystem;

// ---------------------------------------------------------------- signals

namespace {

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
  return (name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0) || name.find("LayerNorm") != std::string::npos;
}

std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

// AdamW with two groups: weight decay everywhere except biases and LayerNorm.
std::unique_ptr<torch::optim::AdamW> make_optimizer(torch::nn::Module& module, const TrainerOptions& o) {
  std::vector<torch::Tensor> decay, plain;
  for (auto& p : module.named_parameters(true)) {
    if (!p.value().requires_grad()) continue;
    (no_decay(p.key()) ? plain : decay).push_back(p.value());
  }
  auto adam = torch::optim::AdamWOptions(o.lr).betas({o.adam_beta1, o.adam_beta2}).eps(o.adam_eps);
  adam.weight_decay(o.weight_decay);
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, std::make_unique<torch::optim::AdamWOptions>(adam));
  groups.emplace_back(plain, std::make_unique<torch::optim::AdamWOptions>(adam.weight_decay(0.0)));
  return std::make_unique<torch::optim::AdamW>(std::move(groups));
}

// Loss, tokens and logged terms accumulated between two progress lines.
struct ProgressWindow {
  double loss_sum = 0, tokens = 0;
  double comm_seconds = 0;  // data parallel: waiting for collectives (gradients, batch weights)
  int64_t steps = 0;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
};

// One training run: the loop's state, and the parts the loop is made of
// (step, progress, evaluation with best-checkpoint selection, checkpoints).
class TrainingRun {
 public:
  TrainingRun(const TrainerOptions& o, const fs::path& out, torch::Device device, uint64_t seed, TrainingTask& task)
      : o_(o), out_(out), device_(device), seed_(seed), task_(task), module_(task.module()),
        group_(parallel::process_group()), writer_(parallel::is_writer()) {
    if (writer_) {
      fs::create_directories(out_ / "checkpoints");
      metrics_ = std::make_unique<MetricsLog>(out_ / "metrics.jsonl");
    }
    module_.to(device_);
    module_.train();
    optimizer_ = make_optimizer(module_, o_);
    for (const auto& p : module_.parameters()) {
      if (p.requires_grad()) trained_.push_back(p);
    }
    share_rank0_weights();
  }

  // Every process starts from rank 0's weights (and buffers).
  void share_rank0_weights() {
    if (!group_) return;
    std::vector<torch::Tensor> all = module_.parameters();
    for (const auto& b : module_.buffers()) all.push_back(b);
    group_->broadcast(all, 0);
  }

  void record(const Json& j) {
    if (metrics_) metrics_->write(j);
  }

  void resume(const fs::path& from) {
    const Json state = io::load_training_state(from, *optimizer_);
    task_.load_for_resume(from);
    step_ = state.at("step").get<int64_t>();
    evals_without_improvement_ = state.value("evals_without_improvement", 0);
    if (state.contains("best_metric") && !state["best_metric"].is_null()) best_ = state["best_metric"].get<double>();
    task_.restore_data_state(state.at("data"));
    last_good_ = from;
    const int64_t saved_world = state.value("world_size", 1);
    if (saved_world != parallel::world_size()) {
      log::warn("resuming a run of ", saved_world, " process(es) with ", parallel::world_size(),
                ": the global batch and the data each process reads change from here, so the result differs from "
                "an uninterrupted run (with the same number of processes a resume is exact)");
    }
    if (state.value("time_budget_stopped_at", Json()).is_number_integer()) {
      budget_stop_ = step_;  // the time budget had ended this run here: the same step, whatever the clock says now
      result_.budget_exhausted = true;
    }
    if (writer_) drop_records_after(step_);
    log::info("resumed from ", from.string(), " at step ", step_, result_.budget_exhausted ? " (where its time budget ended)" : "");
    record({{"event", "resume"}, {"step", step_}, {"from", from.string()}, {"world_size", parallel::world_size()}});
  }

  // Records of steps after the checkpoint (a run killed after them) are dropped: this run writes them again.
  void drop_records_after(int64_t step) {
    const fs::path path = out_ / "metrics.jsonl";
    metrics_.reset();
    std::ifstream in(path);
    std::string kept, line;
    int64_t dropped = 0;
    while (std::getline(in, line)) {
      try {
        const Json j = Json::parse(line);
        if (j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() > step) {
          ++dropped;
          continue;
        }
      } catch (const nlohmann::json::exception&) {
        ++dropped;  // a line cut short by the kill
        continue;
      }
      kept += line + "\n";
    }
    in.close();
    if (dropped > 0) {
      write_file_atomic(path, kept);
      log::info("metrics.jsonl: dropped ", dropped, " record(s) of steps after step ", step,
                " (written by a run killed after its last checkpoint)");
    }
    metrics_ = std::make_unique<MetricsLog>(path);
  }

  TrainResult train() {
    log::info(task_.stage(), ": training ", o_.max_steps, " steps (", o_.grad_accum, " micro-batch(es) each), schedule ",
              choice_name(o_.schedule, kSchedules), ", warm-up ", warmup_steps(o_), o_.bf16 ? ", bf16 autocast" : "",
              " on ", device_.str());
    if (o_.max_minutes > 0) {
      log::info("time budget ", o_.max_minutes, " minutes: the learning-rate schedule follows steps or time, ",
                "whichever is further along");
    }
    StopSignalScope signals;
    start_step_ = step_;
    run_start_ = window_.start;
    while (step_ < std::min(o_.max_steps, budget_stop_)) {
      if (const int sig = group_ ? agreed_signal_ : StopSignalScope::received()) {
        save_resumable(step_);
        throw Interrupted(sig, "stopped by signal " + std::to_string(sig) + " at step " + std::to_string(step_) +
                                   "; resumable checkpoint: " + last_good_.string());
      }
      optimiser_step();
      if (writer_ && (step_ % o_.log_every == 0 || step_ == o_.max_steps)) log_progress();
      bool early = false;
      if (o_.eval_every > 0 && step_ % o_.eval_every == 0 && writer_) {
        evaluate();
        early = o_.early_stopping_patience > 0 && evals_without_improvement_ >= o_.early_stopping_patience;
      }
      bool budget = writer_ && o_.max_minutes > 0 && seconds_since(run_start_) > 60.0 * o_.max_minutes;
      if (group_) {  // rank 0 decides early stopping and the budget; any process may have been signalled
        const auto agreed = group_->max(
            {double(StopSignalScope::received()), double(early), double(budget), seconds_since(run_start_)});
        agreed_signal_ = static_cast<int>(agreed[0]);
        early = agreed[1] > 0;
        budget = agreed[2] > 0;
        agreed_elapsed_ = agreed[3];  // one clock for the time-following schedule (max_minutes)
      }
      if (early) {
        log::info("early stopping: ", evals_without_improvement_, " evaluations without improvement");
        result_.early_stopped = true;
        break;
      }
      if (budget) {  // recorded in the checkpoint at once: a resumed run stops at this step too
        log::info("time budget of ", o_.max_minutes, " minutes used up at step ", step_);
        result_.budget_exhausted = true;
        save_resumable(step_);
        break;
      }
      if (o_.save_every > 0 && step_ % o_.save_every == 0 && step_ < o_.max_steps) save_resumable(step_);
      if (o_.stop_at_step > 0 && step_ == o_.stop_at_step && step_ < o_.max_steps) {
        save_resumable(step_);
        log::info("stop_at_step ", step_, " reached; resume with the same output directory");
        return finish(/*stopped=*/true);
      }
    }
    check_processes_agree();
    const bool just_evaluated = o_.eval_every > 0 && step_ % o_.eval_every == 0;
    if (!just_evaluated && writer_) evaluate();
    if (!result_.budget_exhausted || last_good_.filename() != step_dir_name(step_)) save_resumable(step_);
    Json prov = provenance(step_);
    prov["eval"] = result_.last_eval;
    save_model(out_ / "final", prov);
    return finish(/*stopped=*/false);
  }

 private:
  Json provenance(int64_t s) const {
    return Json{{"stage", task_.stage()}, {"step", s}, {"max_steps", o_.max_steps}, {"seed", seed_}};
  }

  // Data parallel: every process must hold the same weights (rank 0 saves
  // its own). A checksum compared across processes at the end catches a
  // divergence (a bug, or an engine whose sums differ between processes).
  void check_processes_agree() {
    if (!group_) return;
    double sum = 0;
    for (const auto& p : trained_) sum += p.detach().to(torch::kFloat64).sum().item<double>();
    const auto range = group_->max({sum, -sum});
    if (range[0] != -range[1]) {
      log::warn("the processes' weights differ at step ", step_, " (checksums from ", -range[1], " to ", range[0],
                "): rank 0's are saved; please report this");
    }
  }

  // One optimiser step over grad_accum micro-batches.
  void optimiser_step() {
    ++step_;
    if (group_) torch::manual_seed(seed_ + 1000003ULL * static_cast<uint64_t>(step_) + 7919ULL * group_->rank());
    // Data parallel: every process must use the same rate, so the schedule reads
    // the elapsed time agreed at the end of the previous step.
    const double elapsed = group_ ? agreed_elapsed_ : seconds_since(run_start_);
    lr_ = o_.lr * lr_factor(o_, schedule_step(o_, step_, elapsed));
    for (auto& group : optimizer_->param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr_);
    optimizer_->zero_grad();
    double step_loss = 0;
    terms_.clear();
    const double accum = static_cast<double>(o_.grad_accum);
    for (int64_t micro = 0; micro < o_.grad_accum; ++micro) {
      StepOutput out;
      {
        AutocastScope autocast(o_.bf16, device_.type());
        out = task_.forward_step();
      }
      double value = out.loss.defined() ? out.loss.item<double>() : 0.0;
      double scale = 1.0, tokens = static_cast<double>(out.tokens);
      if (group_) {  // the global batch's mean: each process's mean weighed by its share
        const double weight = !out.loss.defined() ? 0.0 : out.weight >= 0 ? out.weight : double(out.examples);
        const auto t0 = std::chrono::steady_clock::now();
        const auto global = group_->sum({weight, weight * value, tokens});
        window_.comm_seconds += seconds_since(t0);
        scale = global[0] > 0 ? weight / global[0] : 0.0;
        value = global[0] > 0 ? global[1] / global[0] : 0.0;
        tokens = global[2];
      }
      if (!std::isfinite(value)) fail_non_finite(value);
      if (out.loss.defined() && scale > 0) (out.loss * (scale / accum)).backward();
      step_loss += value / accum;
      window_.tokens += tokens;
      for (const auto& [k, v] : out.terms) terms_[k] += v / accum;
    }
    if (group_) {
      const auto t0 = std::chrono::steady_clock::now();
      densify_sparse_grads(trained_);
      group_->sum_gradients(trained_);
      window_.comm_seconds += seconds_since(t0);
    }
    coalesce_sparse_grads(trained_);
    grad_norm_ = o_.max_grad_norm > 0 ? torch::nn::utils::clip_grad_norm_(module_.parameters(), o_.max_grad_norm) : 0;
    step_sparse_rows(*optimizer_);
    optimizer_->step();
    last_loss_ = step_loss;
    window_.loss_sum += step_loss;
    ++window_.steps;
  }

  [[noreturn]] void fail_non_finite(double value) {
    record({{"event", "error"}, {"step", step_}, {"loss", std::to_string(value)}});
    throw std::runtime_error("non-finite loss (" + std::to_string(value) + ") at step " + std::to_string(step_) +
                             "; stopping. Last good checkpoint: " +
                             (last_good_.empty() ? std::string("none") : last_good_.string()) +
                             ". Try a lower learning rate, more warm-up or gradient clipping.");
  }

  void log_progress() {
    const double window = seconds_since(window_.start), elapsed = seconds_since(run_start_);
    const double tok_s = window > 0 ? window_.tokens / window : 0;
    double eta = elapsed / static_cast<double>(step_ - start_step_) * static_cast<double>(o_.max_steps - step_);
    if (o_.max_minutes > 0) eta = std::clamp(60.0 * o_.max_minutes - elapsed, 0.0, eta);  // the budget ends it first
    const double avg = window_.loss_sum / static_cast<double>(window_.steps);
    Json rec{{"event", "train"}, {"step", step_},         {"loss", avg},
             {"lr", lr_},        {"grad_norm", grad_norm_}, {"tokens_per_s", tok_s}};
    for (const auto& [k, v] : terms_) rec[k] = v;
    if (group_) {
      rec["world_size"] = group_->size();
      rec["comm_fraction"] = window > 0 ? window_.comm_seconds / window : 0.0;  // rank 0's wait for the others
    }
    record(rec);
    log::info("step ", step_, "/", o_.max_steps, " | loss ", log::fixed(avg, 4), " | lr ", log::cat(std::scientific, lr_),
              " | ", log::fixed(tok_s, 0), " tok/s | ETA ", format_duration(eta));
    window_ = ProgressWindow{};
  }

  // Evaluates, logs, and keeps best/ when the selection metric improved.
  void evaluate() {
    module_.eval();
    EvalResult r;
    {
      torch::NoGradGuard no_grad;
      AutocastScope autocast(o_.bf16, device_.type());
      r = task_.evaluate();
    }
    module_.train();
    result_.last_eval = r.metrics;
    Json rec{{"event", "eval"}, {"step", step_}};
    std::string line = "eval step " + std::to_string(step_) + ":";
    for (const auto& [k, v] : r.metrics) {
      rec[k] = v;
      line += " " + k + " " + log::fixed(v, 4);
    }
    const std::string key = task_.selection_metric();
    auto it = r.metrics.find(key);
    if (it == r.metrics.end()) throw std::logic_error("evaluation did not report '" + key + "'");
    const bool improved = !best_ || (task_.higher_is_better() ? it->second > *best_ : it->second < *best_);
    if (improved) {
      best_ = it->second;
      evals_without_improvement_ = 0;
      Json prov = provenance(step_);
      prov["eval"] = r.metrics;
      save_model(out_ / "best", prov);
      line += " (best)";
    } else {
      ++evals_without_improvement_;
    }
    rec["best"] = improved;
    record(rec);
    log::info(line);
  }

  void save_model(const fs::path& dir, const Json& prov) {
    if (!writer_) return;
    StagedDirectory staged(dir, /*overwrite=*/true, /*lock=*/false);  // inside a locked run
    task_.write_model(staged.path(), prov);
    staged.commit();
  }

  void save_resumable(int64_t s) {
    const fs::path dir = out_ / "checkpoints" / step_dir_name(s);
    last_good_ = dir;
    if (writer_) write_resumable(dir, s);
    // Every process goes on (or exits, after a signal) only once the checkpoint
    // exists: a launcher that sees one process end stops the others. (A writer
    // that fails here ends the run instead: StageApp aborts the group.)
    if (group_) group_->barrier();
  }

  void write_resumable(const fs::path& dir, int64_t s) {
    StagedDirectory staged(dir, /*overwrite=*/true, /*lock=*/false);  // inside a locked run
    task_.write_model(staged.path(), provenance(s));
    io::save_training_state(staged.path(), *optimizer_,
                            Json{{"step", s},
                                 {"evals_without_improvement", evals_without_improvement_},
                                 {"best_metric", best_ ? Json(*best_) : Json(nullptr)},
                                 {"data", task_.data_state()},
                                 {"world_size", parallel::world_size()},
                                 {"time_budget_stopped_at", result_.budget_exhausted ? Json(s) : Json(nullptr)},
                                 {"trainer", to_json(o_)}});
    staged.commit();
    last_good_ = dir;
    prune_checkpoints();
    record({{"event", "checkpoint"}, {"step", s}, {"path", dir.string()}});
  }

  // Keeps the newest `keep_last` checkpoints. Each old one is renamed away, then deleted: a kill in between
  // leaves a `.pruning-` directory no resume takes (RunDirectory removes it), never a half-deleted step-N.
  void prune_checkpoints() {
    static const std::regex kName("step-[0-9]{8}");
    std::vector<fs::path> all;
    for (const auto& e : fs::directory_iterator(out_ / "checkpoints")) {
      if (std::regex_match(e.path().filename().string(), kName)) all.push_back(e.path());
    }
    std::sort(all.begin(), all.end());
    for (size_t i = 0; i + static_cast<size_t>(o_.keep_last) < all.size(); ++i) {
      const fs::path away = all[i].string() + ".pruning-" + std::to_string(::getpid());
      fs::rename(all[i], away);
      crash_point("prune.renamed");
      fs::remove_all(away);
    }
  }

  TrainResult finish(bool stopped) {
    result_.steps = step_;
    result_.final_loss = last_loss_;
    result_.best_metric = best_;
    result_.stopped = stopped;
    result_.seconds = seconds_since(t0_);
    if (!stopped) record({{"event", "done"}, {"step", step_}, {"seconds", result_.seconds}});
    return result_;
  }

  const std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  TrainerOptions o_;
  fs::path out_;
  torch::Device device_;
  uint64_t seed_;
  TrainingTask& task_;
  torch::nn::Module& module_;
  std::unique_ptr<MetricsLog> metrics_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  int64_t step_ = 0, start_step_ = 0, evals_without_improvement_ = 0, budget_stop_ = INT64_MAX;
  std::optional<double> best_;
  fs::path last_good_;
  TrainResult result_;
  ProgressWindow window_;
  std::chrono::steady_clock::time_point run_start_;
  double lr_ = 0, grad_norm_ = 0, last_loss_ = 0;
  std::map<std::string, double> terms_;
  parallel::Group* group_;                // null: one process
  bool writer_;                       // rank 0 or the only process: writes files, evaluates
  std::vector<torch::Tensor> trained_;
  int agreed_signal_ = 0;             // data parallel: the stop signal all processes agreed on
  double agreed_elapsed_ = 0;         // data parallel: the slowest process's seconds since the start
};

}  // namespace

fs::path Trainer::checkpoint_path(const fs::path& output_dir, int64_t step) {
  return output_dir / "checkpoints" / step_dir_name(step);
}

void Trainer::request_stop(int signal) { StopSignalScope::request(signal); }

void TrainingTask::load_for_resume(const fs::path& dir) { io::load_module_file(module(), dir / "model.safetensors"); }

// ---------------------------------------------------------------- trainer

Trainer::Trainer(TrainerOptions options, fs::path output_dir, torch::Device device, uint64_t seed)
    : options_(std::move(options)), out_(std::move(output_dir)), device_(device), seed_(seed) {
  validate(options_, "trainer");
}

namespace {
// Every file a resume reads is there (a kill can only leave a checkpoint
// incomplete under another name, but a copy or a damaged disk may).
bool complete_checkpoint(const fs::path& dir) {
  for (const char* f : {"model.safetensors", "training_state/state.json", "training_state/optimizer.pt"}) {
    if (!fs::exists(dir / f)) return false;
  }
  return io::has_training_state(dir);
}
}  // namespace

std::optional<fs::path> Trainer::latest_checkpoint(const fs::path& output_dir) {
  const fs::path dir = output_dir / "checkpoints";
  std::optional<fs::path> best;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return best;
  static const std::regex kName("step-[0-9]{8}");
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (!std::regex_match(name, kName) || !complete_checkpoint(e.path())) continue;
    if (!best || name > best->filename().string()) best = e.path();
  }
  return best;
}

TrainResult Trainer::run(TrainingTask& task, const std::optional<fs::path>& resume_from) {
  TrainingRun run(options_, out_, device_, seed_, task);
  if (resume_from) run.resume(*resume_from);
  return run.train();
}

}  // namespace kdtext::train
