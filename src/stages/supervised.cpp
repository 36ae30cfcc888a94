#include "kdtext/stages/supervised.h"

#include "kdtext/parallel/group.h"
#include "kdtext/infer/predict.h"
#include "kdtext/util/log.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"

namespace kdtext::stages {

void SupervisedRunOptions::add_to_json(Json& j) const {
  j["train"] = train;
  j["dev"] = dev;
  j["test"] = test;
  j["output"] = output;
  j["overwrite"] = overwrite;
  j["resume"] = resume;
  j["data"] = text::to_json(data);
  j["max_len"] = max_len;
  j["batch_size"] = batch_size;
  j["epochs"] = epochs;
  j["evals_per_epoch"] = evals_per_epoch;
  j["metric"] = metric;
  j["trainer"] = train::to_json(trainer);
  j["run"] = cli::to_json(run);
}

void SupervisedRunOptions::read_from_json(const JsonFields& f, bool labelled, bool output_required) {
  f.get("train", train);
  f.get("dev", dev);
  f.get("test", test);
  f.get("output", output);
  f.get("overwrite", overwrite);
  f.get("resume", resume);
  data = text::labelled_format_from_json(f.child("data"));
  f.get("max_len", max_len);
  f.get("batch_size", batch_size);
  f.get("epochs", epochs);
  f.get("evals_per_epoch", evals_per_epoch);
  f.get("metric", metric);
  trainer = train::trainer_options_from_json(f.child("trainer"));
  run = cli::runtime_options_from_json(f.child("run"));
  if (labelled) {
    if (train.empty()) throw ConfigError("train: required");
    if (dev.empty()) throw ConfigError("dev: required");
  }
  if (output_required && output.empty()) throw ConfigError("output: required");
  text::validate(data, "data");
  if (max_len < 4) throw ConfigError("max_len: must be >= 4, got " + std::to_string(max_len));
  if (batch_size < 1) throw ConfigError("batch_size: must be >= 1");
  if (epochs < 1) throw ConfigError("epochs: must be >= 1");
  if (evals_per_epoch < 1) throw ConfigError("evals_per_epoch: must be >= 1");
  if (metric != "accuracy" && metric != "macro_f1") {
    throw ConfigError("metric: expected accuracy or macro_f1, got '" + metric + "'");
  }
  if (resume && overwrite) throw ConfigError("resume and overwrite exclude each other");
}

train::TrainerOptions SupervisedRunOptions::resolved_trainer(int64_t examples) const {
  // Steps per epoch count global batches: batch_size rows from each process.
  return train::with_epochs(trainer, examples, batch_size * parallel::world_size(), epochs, evals_per_epoch);
}

train::OpenedRun SupervisedRunOptions::begin_run(Json config, const train::TrainerOptions& resolved) const {
  const std::filesystem::path out(output);
  config["trainer"]["max_steps"] = resolved.max_steps;
  config["trainer"]["eval_every"] = resolved.eval_every;
  config["world_size"] = parallel::world_size();
  return train::open_run(out, resume, overwrite, [&](train::RunDirectory& dir) {
    config[train::kInputsFingerprint] = train::fingerprint_inputs(config, {"train", "dev", "from", "teacher", "student", "shards"});
    config = dir.settle_config(std::move(config), resolved.accept_changes);
    write_file_atomic(out / "config.json", config.dump(2) + "\n");
  });
}

Json SupervisedRunOptions::report_best(Json metrics, torch::Device device, const std::string& stage,
                                       bool count_parameters) const {
  const std::filesystem::path out(output);
  const auto best = infer::load_classifier(out / "best", device);
  if (count_parameters) metrics["parameters"] = best.parameters;
  infer::evaluate_on_files(best, {{"dev", dev}, {"test", test}}, data, max_len, batch_size, metrics);
  write_file_atomic(out / "metrics.json", metrics.dump(2) + "\n");
  log::info(stage, " done: dev ", metric, " ", log::fixed(metrics["dev"][metric].get<double>(), 4), " -> ",
            (out / "best").string());
  return metrics;
}

}  // namespace kdtext::stages
