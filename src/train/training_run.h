// The training loop's state (private to train/: trainer.h is the interface),
// its member functions split by job: trainer.cpp the loop and the optimiser
// step, trainer_checkpoints.cpp resuming, saving and pruning checkpoints,
// trainer_progress.cpp progress lines and evaluation with best-checkpoint
// selection.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kdtext/parallel/group.h"
#include "kdtext/train/trainer.h"
#include "kdtext/util/progress.h"

namespace kdtext::train::detail {
namespace fs = std::filesystem;

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

// "step-00000042": a resumable checkpoint's directory name.
std::string step_dir_name(int64_t step);

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
  TrainingRun(const TrainerOptions& o, const fs::path& out, torch::Device device, uint64_t seed, TrainingTask& task);

  // Every process starts from rank 0's weights (and buffers).
  void share_rank0_weights();

  void record(const Json& j) {
    if (metrics_) metrics_->write(j);
  }

  void resume(const fs::path& from);

  // Records of steps after the checkpoint (a run killed after them) are dropped: this run writes them again.
  void drop_records_after(int64_t step);

  TrainResult train();

 private:
  Json provenance(int64_t s) const;

  // Data parallel: every process must hold the same weights (rank 0 saves
  // its own). A checksum compared across processes at the end catches a
  // divergence (a bug, or an engine whose sums differ between processes).
  void check_processes_agree();

  // One optimiser step over grad_accum micro-batches.
  void optimiser_step();

  [[noreturn]] void fail_non_finite(double value);

  void log_progress();

  // Evaluates, logs, and keeps best/ when the selection metric improved.
  void evaluate();

  void save_model(const fs::path& dir, const Json& prov);

  void save_resumable(int64_t s);

  void write_resumable(const fs::path& dir, int64_t s);

  // Keeps the newest `keep_last` checkpoints. Each old one is renamed away, then deleted: a kill in between
  // leaves a `.pruning-` directory no resume takes (RunDirectory removes it), never a half-deleted step-N.
  void prune_checkpoints();

  TrainResult finish(bool stopped);

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

}  // namespace kdtext::train::detail
