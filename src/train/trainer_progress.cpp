// A training run's progress lines and its evaluations, with best-checkpoint
// selection (training_run.h).
#include <cmath>
#include <fstream>
#include <regex>

#include "kdtext/io/safetensors.h"
#include "kdtext/io/training_state.h"
#include "kdtext/util/atomic.h"
#include "kdtext/util/fault.h"
#include "kdtext/util/log.h"
#include "kdtext/error.h"
#include "training_run.h"

namespace kdtext::train::detail {

void TrainingRun::log_progress() {
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
void TrainingRun::evaluate() {
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
}  // namespace kdtext::train::detail
