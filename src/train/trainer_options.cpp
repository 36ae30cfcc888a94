// The trainer's options: JSON form, validation and the learning-rate schedule
// (train/trainer.h).
#include <algorithm>
#include <cmath>

#include "kdtext/train/trainer.h"
#include "kdtext/error.h"

namespace kdtext::train {

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
              {"schedule", choice_name(o.schedule, kSchedules)},
              {"max_grad_norm", o.max_grad_norm},
              {"bf16", o.bf16},
              {"log_every", o.log_every},
              {"eval_every", o.eval_every},
              {"save_every", o.save_every},
              {"keep_last", o.keep_last},
              {"accept_changes", o.accept_changes},
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
  f.get_choice("schedule", o.schedule, kSchedules);
  f.get("max_grad_norm", o.max_grad_norm);
  f.get("bf16", o.bf16);
  f.get("log_every", o.log_every);
  f.get("eval_every", o.eval_every);
  f.get("save_every", o.save_every);
  f.get("keep_last", o.keep_last);
  f.get("accept_changes", o.accept_changes);
  f.get("early_stopping_patience", o.early_stopping_patience);
  f.get("stop_at_step", o.stop_at_step);
  f.get("max_minutes", o.max_minutes);
  // Checked as they are read, before any output exists; max_steps 0 means
  // "from the epochs" until with_epochs() resolves it (validate() then).
  TrainerOptions early = o;
  const std::string prefix = f.path("x").substr(0, f.path("x").size() - 2);  // "trainer" (no trailing ".x")
  if (early.max_steps < 0) throw ConfigError(f.path("max_steps") + ": must be >= 0, got " + std::to_string(o.max_steps));
  if (early.max_steps == 0) early.max_steps = 1;
  validate(early, prefix.empty() ? "trainer" : prefix);
  return o;
}

void validate(const TrainerOptions& o, const std::string& p) {
  const auto bad = [&](const std::string& key, const std::string& why) {
    return ConfigError(p + "." + key + ": " + why);
  };
  if (o.max_steps < 1) throw bad("max_steps", "must be >= 1, got " + std::to_string(o.max_steps));
  if (o.grad_accum < 1) throw bad("grad_accum", "must be >= 1");
  if (!(o.lr > 0) || !std::isfinite(o.lr)) throw bad("lr", "must be a finite number > 0");
  if (o.weight_decay < 0) throw bad("weight_decay", "must be >= 0");
  if (!(o.adam_beta1 >= 0 && o.adam_beta1 < 1)) throw bad("adam_beta1", "must be in [0, 1)");
  if (!(o.adam_beta2 >= 0 && o.adam_beta2 < 1)) throw bad("adam_beta2", "must be in [0, 1)");
  if (!(o.adam_eps > 0)) throw bad("adam_eps", "must be > 0");
  if (!(o.warmup_ratio >= 0 && o.warmup_ratio <= 1)) throw bad("warmup_ratio", "must be in [0, 1]");
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
