#include "kdtext/stages/distill.h"

#include <filesystem>

#include "kdtext/distill/tasks.h"
#include "kdtext/parallel/group.h"
#include "kdtext/util/log.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"

namespace kdtext::stages {
namespace fs = std::filesystem;
using distill::DistillConfig;
using distill::DistillMode;
using distill::kDistillModes;
using distill::StorePlacement;

Json run_distill(const DistillConfig& config, torch::Device device) {
  DistillConfig c = config;
  StorePlacement store;
  if (!c.store.empty()) {
    store = place_in_store(c, device);
    if (store.reused) return *store.reused;
  }
  const bool general = c.mode == DistillMode::kGeneral;
  torch::manual_seed(c.run.seed);
  auto task = make_distill_task(c, device);
  const auto topts = c.resolved_trainer(task->examples());
  task->set_total_steps(topts.max_steps);
  const auto run = c.begin_run(to_json(c), topts);
  const auto& resume_from = run.resume_from;
  log::info("distill (", choice_name(c.mode, kDistillModes), "): ", task->examples(),
            general ? " sequences" : " training examples", " per epoch, ", topts.max_steps, " steps");
  train::Trainer trainer(topts, c.output, device, c.run.seed);
  const auto result = trainer.run(*task, resume_from);
  if (result.stopped) return Json{{"stopped_at_step", result.steps}};  // metrics.json marks a finished run
  if (!parallel::is_writer()) return Json{{"rank", parallel::rank()}, {"steps", result.steps}};

  const fs::path out(c.output);
  Json metrics{{"mode", choice_name(c.mode, kDistillModes)}, {"best_checkpoint", (out / "best").string()},
               {"steps", result.steps}, {"train_seconds", result.seconds}};
  if (!general) return c.report_best(metrics, device, "distill", true);
  for (const auto& [k, v] : result.last_eval) metrics[k] = v;
  metrics["output"] = out.string();  // the store chooses it: callers learn it here
  if (result.best_metric) metrics["best_val_loss"] = *result.best_metric;
  if (!c.store.empty()) distill::finish_store_run(out, store.key);  // before metrics.json, which marks it finished
  write_file_atomic(out / "metrics.json", metrics.dump(2) + "\n");
  if (!c.store.empty()) distill::announce_store_run(out);
  log::info("general distillation done: best held-out loss ",
            log::fixed(result.best_metric ? *result.best_metric : 0.0, 4), " -> ", (out / "best").string());
  return metrics;
}

}  // namespace kdtext::stages
