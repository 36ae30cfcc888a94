#include "kdtext/stages/distill.h"

#include <filesystem>

#include "distill_tasks.h"
#include "kdtext/parallel/group.h"
#include "kdtext/util/log.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

DistillConfig default_distill_config() {
  DistillConfig c;
  c.trainer.max_steps = 0;
  c.trainer.lr = 1e-4;
  c.trainer.warmup_ratio = 0.1;
  c.trainer.log_every = 20;
  return c;
}

Json to_json(const DistillConfig& c) {
  Json j{{"mode", choice_name(c.mode, kDistillModes)},
         {"teacher", c.teacher},
         {"student", c.student},
         {"shards", c.shards},
         {"validation_every", c.validation_every},
         {"eval_sequences", c.eval_sequences},
         {"masking", feed::to_json(c.masking)},
         {"cache_teacher_logits", c.cache_teacher_logits},
         {"teacher_logits", c.teacher_logits},
         {"store", c.store},
         {"loss", distill::to_json(c.loss)}};
  c.add_to_json(j);
  return j;
}

namespace {
// General distillation has no labels or teacher logits.
void validate_general(const DistillConfig& c) {
  const auto& l = c.loss;
  if (c.shards.empty()) throw ConfigError("shards: required for mode general (a kdtext-preprocess output directory)");
  for (const auto& [key, w] : {std::pair<const char*, double>{"output_weight", l.output_weight},
                               {"output_weight_end", l.output_weight_end},
                               {"hard_weight", l.hard_weight},
                               {"hard_weight_end", l.hard_weight_end}}) {
    if (w > 0) {
      throw ConfigError(std::string("loss.") + key +
                        ": general distillation has no labels or teacher logits; set it to 0 "
                        "(configs/distill/tinybert-general.json does)");
    }
  }
  if (l.hidden_weight + l.attention_weight + l.embedding_weight + l.pkd_weight + l.mlm_weight <= 0) {
    throw ConfigError("loss: general distillation needs an intermediate term or loss.mlm_weight above 0");
  }
}
}  // namespace

DistillConfig distill_config_from_json(const Json& j) {
  DistillConfig c = default_distill_config();
  JsonFields f(j, "");
  f.get_choice("mode", c.mode, kDistillModes);
  const bool general = c.mode == DistillMode::kGeneral;
  f.get("store", c.store);
  if (!c.store.empty() && !general) throw ConfigError("store: only for mode general (a task run is not shared)");
  c.read_from_json(f, !general, /*output_required=*/false);
  if (c.output.empty() && c.store.empty()) throw ConfigError("output: required (--output DIR, or --store DIR for mode general)");
  f.get("teacher", c.teacher);
  f.get("student", c.student);
  f.get("shards", c.shards);
  f.get("validation_every", c.validation_every);
  f.get("eval_sequences", c.eval_sequences);
  c.masking = feed::masking_options_from_json(f.child("masking"));
  f.get("cache_teacher_logits", c.cache_teacher_logits);
  f.get("teacher_logits", c.teacher_logits);
  c.loss = distill::loss_options_from_json(f.child("loss"));
  if (c.teacher.empty()) throw ConfigError("teacher: required");
  if (c.student.empty()) throw ConfigError("student: required");
  if (c.validation_every < 2) throw ConfigError("validation_every: must be >= 2");
  if (c.eval_sequences < 1) throw ConfigError("eval_sequences: must be >= 1");
  if (!c.teacher_logits.empty() && (general || c.loss.layer_wise() || c.loss.uses_hidden_states())) {
    throw ConfigError("teacher_logits: a logits cache serves task distillation with output and hard-label terms "
                      "only (this configuration needs the teacher's hidden states or attention every step)");
  }
  if (!c.store.empty() && !c.output.empty()) {
    throw ConfigError("output: leave it out with store, which chooses the run directory (printed on standard output)");
  }
  if (general) {
    validate_general(c);
  } else if (c.loss.mlm_weight > 0) {
    throw ConfigError("loss.mlm_weight: the masked-LM term is for mode general (token shards), not a labelled task");
  }
  return c;
}

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
  if (!c.store.empty()) finish_store_run(out, store.key);  // before metrics.json, which marks it finished
  write_file_atomic(out / "metrics.json", metrics.dump(2) + "\n");
  if (!c.store.empty()) announce_store_run(out);
  log::info("general distillation done: best held-out loss ",
            log::fixed(result.best_metric ? *result.best_metric : 0.0, 4), " -> ", (out / "best").string());
  return metrics;
}

}  // namespace kdtext::stages
