// The one training loop. pretrain, finetune and distill plug in a
// TrainingTask (objective, data, evaluation, how to save the model); the
// trainer owns optimisation (AdamW, schedules, clipping, accumulation, bf16
// autocast), evaluation cadence, early stopping, checkpoints, exact resume,
// signal handling, progress and metrics.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::train {

enum class Schedule { kLinear, kCosine, kConstant };
inline constexpr std::pair<const char*, Schedule> kSchedules[] = {
    {"linear", Schedule::kLinear}, {"cosine", Schedule::kCosine}, {"constant", Schedule::kConstant}};

struct TrainerOptions {
  int64_t max_steps = 1000;            // optimiser steps
  int64_t grad_accum = 1;              // micro-batches per optimiser step
  double lr = 5e-4;                    // peak learning rate
  double weight_decay = 0.01;          // AdamW decay (never on biases or LayerNorm)
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_eps = 1e-6;
  int64_t warmup_steps = -1;           // -1: warmup_ratio * max_steps
  double warmup_ratio = 0.06;
  Schedule schedule = Schedule::kLinear;  // linear | cosine | constant (after warm-up)
  double max_grad_norm = 1.0;          // <= 0 disables clipping
  bool bf16 = false;                   // bf16 autocast (CPU and CUDA)
  int64_t log_every = 10;              // progress line and metrics record every N steps
  int64_t eval_every = 0;              // evaluate every N steps (0: only at the end)
  int64_t save_every = 0;              // resumable checkpoint every N steps (0: only at the end)
  bool accept_changes = false;         // --resume may change settings that shape the result (recorded)
  int64_t keep_last = 2;               // resumable checkpoints kept (oldest removed)
  int64_t early_stopping_patience = 0; // stop after N evaluations without improvement (0: never)
  int64_t stop_at_step = 0;            // save a resumable checkpoint and stop here (0: never); for split jobs
  double max_minutes = 0;              // wall-clock budget: finish (eval, save) once exceeded (0: none);
                                       // the schedule follows it too (schedule_step)
};

// The "trainer" section of every training stage, and its flags.
const FieldTable<TrainerOptions>& trainer_fields();
Json to_json(const TrainerOptions& o);
// Reads and checks (max_steps 0 allowed: from the epochs).
TrainerOptions trainer_options_from_json(const JsonFields& f);
// The checks once max_steps is resolved (>= 1 then).
void validate(const TrainerOptions& o, const std::string& prefix);

// Fills max_steps (when 0) from epochs and eval_every (when 0) from
// evaluations per epoch, for a data set of `examples` in batches of `batch_size`.
TrainerOptions with_epochs(TrainerOptions o, int64_t examples, int64_t batch_size, int64_t epochs,
                           int64_t evals_per_epoch);

// Learning rate multiplier at `step` (1-based) for the options' schedule.
double lr_factor(const TrainerOptions& o, int64_t step);
// The step the schedule is evaluated at: `step`, or further along when a
// wall-clock budget (max_minutes) is set and `elapsed_seconds` of it are
// spent - max(step, elapsed/budget * max_steps) - so warm-up and decay follow
// whichever of steps or time ends the run, and a budget-limited run finishes
// with a decayed learning rate instead of being cut at its peak.
int64_t schedule_step(const TrainerOptions& o, int64_t step, double elapsed_seconds);
int64_t warmup_steps(const TrainerOptions& o);

struct StepOutput {
  torch::Tensor loss;      // scalar, mean over the micro-batch; undefined: this process had no rows
  int64_t tokens = 0;      // tokens processed (for throughput)
  int64_t examples = 0;
  // What `loss` is the mean over (masked tokens for masked-LM; < 0: the
  // examples). A data-parallel step weighs each process's mean by it, so the
  // step's loss is the mean over the global batch, as one process computes it.
  double weight = -1;
  std::map<std::string, double> terms;  // extra per-term values to log
};

struct EvalResult {
  std::map<std::string, double> metrics;  // must contain the task's selection metric
};

class TrainingTask {
 public:
  virtual ~TrainingTask() = default;
  virtual std::string stage() const = 0;
  // The module whose parameters are trained (and saved).
  virtual torch::nn::Module& module() = 0;
  // Fetches the next micro-batch, runs forward and returns the loss.
  virtual StepOutput forward_step() = 0;
  // Evaluates (the trainer switches to eval mode and disables gradients).
  virtual EvalResult evaluate() = 0;
  // The metric that selects the best checkpoint, and its direction.
  virtual std::string selection_metric() const = 0;
  virtual bool higher_is_better() const = 0;
  // Position in the data (and any sampler RNG) for exact resume.
  virtual Json data_state() const = 0;
  virtual void restore_data_state(const Json& state) = 0;
  // Writes a complete model checkpoint into the (staged) directory `dir`.
  virtual void write_model(const std::filesystem::path& dir, const Json& provenance) = 0;
  // Restores the trained parameters from a checkpoint written by write_model.
  // The default reads model.safetensors by module() parameter name.
  virtual void load_for_resume(const std::filesystem::path& dir);
};

struct TrainResult {
  int64_t steps = 0;
  double final_loss = 0;
  std::optional<double> best_metric;
  std::map<std::string, double> last_eval;
  bool early_stopped = false;
  bool budget_exhausted = false;
  bool stopped = false;  // stop_at_step reached: resumable checkpoint saved, no final/ or best/ promised
  double seconds = 0;
};

// Data parallel (parallel::process_group() set): every process runs this loop on
// its rows of each global batch; gradients are summed across processes before
// clipping and the optimiser step, and every process starts from rank 0's
// weights. Rank 0 alone evaluates and writes checkpoints, metrics and
// progress. A stop (signal, early stopping, time budget) is agreed at the end
// of every step, so all processes stop at the same step. Dropout is seeded
// per step and rank, so a resume with the same number of processes is exact.
//
// Output directory layout:
//   checkpoints/step-NNNNNNNN/  model checkpoint + training_state/ (last K kept)
//   best/                       model checkpoint with the best selection metric
//   final/                      model checkpoint after the last step
//   metrics.jsonl               one record per log/eval event
class Trainer {
 public:
  Trainer(TrainerOptions options, std::filesystem::path output_dir, torch::Device device, uint64_t seed);
  // Trains to max_steps, resuming from `resume_from` (a checkpoints/step-N
  // directory) when given. Throws Interrupted after saving on SIGINT/SIGTERM,
  // and std::runtime_error on a non-finite loss (last good checkpoint kept).
  TrainResult run(TrainingTask& task, const std::optional<std::filesystem::path>& resume_from = {});

  // The newest resumable checkpoint under `output_dir`, if any.
  static std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& output_dir);

  // <output_dir>/checkpoints/step-NNNNNNNN.
  static std::filesystem::path checkpoint_path(const std::filesystem::path& output_dir, int64_t step);

  // For tests: raise the interrupt flag as a signal handler would.
  static void request_stop(int signal);

 private:
  TrainerOptions options_;
  std::filesystem::path out_;
  torch::Device device_;
  uint64_t seed_;
};

}  // namespace kdtext::train
