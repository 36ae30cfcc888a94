#include "kdtext/train/trainer.h"

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
#include "training_run.h"

// The training loop and the optimiser step (training_run.h has the run's state).
namespace kdtext::train {
namespace fs = std::filesystem;
namespace detail {

namespace {
bool no_decay(const std::string& name) {
  return (name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0) || name.find("LayerNorm") != std::string::npos;
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

}  // namespace

std::string step_dir_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%08lld", static_cast<long long>(step));
  return buf;
}

TrainingRun::TrainingRun(const TrainerOptions& o, const fs::path& out, torch::Device device, uint64_t seed, TrainingTask& task)
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
void TrainingRun::share_rank0_weights() {
  if (!group_) return;
  std::vector<torch::Tensor> all = module_.parameters();
  for (const auto& b : module_.buffers()) all.push_back(b);
  group_->broadcast(all, 0);
}

TrainResult TrainingRun::train() {
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

Json TrainingRun::provenance(int64_t s) const {
  return Json{{"stage", task_.stage()}, {"step", s}, {"max_steps", o_.max_steps}, {"seed", seed_}};
}

// Data parallel: every process must hold the same weights (rank 0 saves
// its own). A checksum compared across processes at the end catches a
// divergence (a bug, or an engine whose sums differ between processes).
void TrainingRun::check_processes_agree() {
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
void TrainingRun::optimiser_step() {
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

[[noreturn]] void TrainingRun::fail_non_finite(double value) {
  record({{"event", "error"}, {"step", step_}, {"loss", std::to_string(value)}});
  throw std::runtime_error("non-finite loss (" + std::to_string(value) + ") at step " + std::to_string(step_) +
                           "; stopping. Last good checkpoint: " +
                           (last_good_.empty() ? std::string("none") : last_good_.string()) +
                           ". Try a lower learning rate, more warm-up or gradient clipping.");
}

TrainResult TrainingRun::finish(bool stopped) {
  result_.steps = step_;
  result_.final_loss = last_loss_;
  result_.best_metric = best_;
  result_.stopped = stopped;
  result_.seconds = seconds_since(t0_);
  if (!stopped) record({{"event", "done"}, {"step", step_}, {"seconds", result_.seconds}});
  return result_;
}

}  // namespace detail

using detail::step_dir_name;
using detail::TrainingRun;

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
