// The trainer's options: JSON form, validation and the learning-rate schedule
// (train/trainer.h).
#include <algorithm>
#include <cmath>

#include "kdtext/train/trainer.h"
#include "kdtext/error.h"

namespace kdtext::train {

const FieldTable<TrainerOptions>& trainer_fields() {
  using T = TrainerOptions;
  // max_steps 0 means "from the epochs" until with_epochs() resolves it;
  // validate() then asks for >= 1.
  static const auto t = FieldTable<T>()
      .field("max_steps", &T::max_steps, "Optimiser steps (0: from --epochs where the stage has epochs)", at_least(0))
      .flag("--max-steps")
      .field("grad_accum", &T::grad_accum, "Micro-batches per step", at_least(1)).flag("--grad-accum")
      .field("lr", &T::lr, "Peak learning rate", above(0)).flag("--lr")
      .field("weight_decay", &T::weight_decay, "AdamW weight decay (never on biases or LayerNorm)", at_least(0))
      .field("adam_beta1", &T::adam_beta1, "Adam beta1", in_half_open(0, 1))
      .field("adam_beta2", &T::adam_beta2, "Adam beta2", in_half_open(0, 1))
      .field("adam_eps", &T::adam_eps, "Adam epsilon", above(0))
      .field("warmup_steps", &T::warmup_steps, "Warm-up steps (-1: --warmup-ratio)").flag("--warmup-steps")
      .field("warmup_ratio", &T::warmup_ratio, "Warm-up fraction of the steps", in_range(0, 1)).flag("--warmup-ratio")
      .choice("schedule", &T::schedule, kSchedules, "linear, cosine or constant").flag("--schedule")
      .field("max_grad_norm", &T::max_grad_norm, "Gradient clipping norm (<= 0: none)")
      .field("bf16", &T::bf16, "bf16 autocast").flag("--bf16")
      .field("log_every", &T::log_every, "Progress every N steps", at_least(1)).flag("--log-every")
      .field("eval_every", &T::eval_every, "Evaluate every N steps (0: per epoch, or only at the end)", at_least(0))
      .flag("--eval-every")
      .field("save_every", &T::save_every, "Resumable checkpoint every N steps", at_least(0)).flag("--save-every")
      .field("keep_last", &T::keep_last, "Resumable checkpoints kept", at_least(1))
      .field("accept_changes", &T::accept_changes,
             "With --resume: accept settings that differ from the run's config.json and change its result "
             "(recorded there); without it they are refused, naming each")
      .flag("--accept-changes")
      .field("early_stopping_patience", &T::early_stopping_patience,
             "Evaluations without improvement before stopping", at_least(0))
      .flag("--early-stopping")
      .field("stop_at_step", &T::stop_at_step, "Save and stop at this step (resume later)", at_least(0))
      .flag("--stop-at-step")
      .field("max_minutes", &T::max_minutes, "Wall-clock budget in minutes (0: none)", at_least(0))
      .flag("--max-minutes");
  return t;
}

Json to_json(const TrainerOptions& o) { return trainer_fields().to_json(o); }
TrainerOptions trainer_options_from_json(const JsonFields& f) { return trainer_fields().from_json(f); }

void validate(const TrainerOptions& o, const std::string& p) {
  trainer_fields().check(o, p);
  if (o.max_steps < 1) throw ConfigError(p + ".max_steps: must be >= 1, got " + std::to_string(o.max_steps));
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
  if (o.schedule == Schedule::kConstant) return 1.0;
  // Progress through the decay, measured before this step's update: the first
  // step after warm-up runs at the peak rate and the last one still learns.
  const double span = static_cast<double>(std::max<int64_t>(1, o.max_steps - warm));
  const double progress = std::clamp(static_cast<double>(step - warm - 1) / span, 0.0, 1.0);
  if (o.schedule == Schedule::kCosine) return 0.5 * (1.0 + std::cos(M_PI * progress));
  return 1.0 - progress;  // linear
}

int64_t schedule_step(const TrainerOptions& o, int64_t step, double elapsed_seconds) {
  if (o.max_minutes <= 0) return step;
  const double spent = std::clamp(elapsed_seconds / (60.0 * o.max_minutes), 0.0, 1.0);
  return std::max(step, static_cast<int64_t>(std::llround(spent * static_cast<double>(o.max_steps))));
}

}  // namespace kdtext::train
