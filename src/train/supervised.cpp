#include "kdtext/train/supervised.h"

#include "kdtext/parallel/group.h"
#include "kdtext/infer/predict.h"
#include "kdtext/util/log.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"

namespace kdtext::train {

namespace {
FieldTable<SupervisedRunOptions> make_supervised_fields(bool required_flags) {
  using S = SupervisedRunOptions;
  return FieldTable<S>()
      .field("train", &S::train, "Labelled training file (tsv, csv or jsonl)").flag("--train", required_flags)
      .field("dev", &S::dev, "Labelled development file (selects the best checkpoint)").flag("--dev", required_flags)
      .field("test", &S::test, "Labelled test file (reported only)").flag("--test")
      .section("data", &S::data, text::labelled_format_fields())
      .field("epochs", &S::epochs, "Epochs (when --max-steps is 0)", at_least(1)).flag("--epochs")
      .field("evals_per_epoch", &S::evals_per_epoch, "Evaluations per epoch (when --eval-every is 0)", at_least(1))
      .flag("--evals-per-epoch")
      .field("metric", &S::metric, "accuracy or macro_f1 (selects the best checkpoint)",
             one_of({"accuracy", "macro_f1"}))
      .flag("--metric")
      .field("output", &S::output, "Run directory").flag("-o,--output", required_flags)
      .field("overwrite", &S::overwrite, "Start over in a non-empty output directory").flag("--overwrite")
      .field("resume", &S::resume, "Continue from the newest checkpoint in the output directory").flag("--resume")
      .field("max_len", &S::max_len, "Tokens per example", at_least(4)).flag("--max-len")
      .field("batch_size", &S::batch_size, "Examples per micro-batch", at_least(1)).flag("--batch-size")
      .parsed<infer::Precision>(
          "eval_precision", &S::eval_precision,
          [](const std::string& v, const std::string& k) { return infer::parse_precision(v, k); }, infer::precision_name,
          "Precision of the best checkpoint's final dev/test report (metrics.json): fp32, bf16, int8 or auto "
          "(kdtext-classify --precision); checkpoints are always selected in fp32")
      .flag("--eval-precision")
      .section("trainer", &S::trainer, train::trainer_fields())
      .section("run", &S::run, cli::runtime_fields())
      .rule([](const S& s, const std::string&) {
        if (s.resume && s.overwrite) throw ConfigError("resume and overwrite exclude each other");
      });
}
}  // namespace

const FieldTable<SupervisedRunOptions>& supervised_fields(bool required_flags) {
  static const auto with = make_supervised_fields(true);
  static const auto without = make_supervised_fields(false);
  return required_flags ? with : without;
}

void SupervisedRunOptions::require(bool labelled, bool output_required) const {
  if (labelled) {
    if (train.empty()) throw ConfigError("train: required");
    if (dev.empty()) throw ConfigError("dev: required");
  }
  if (output_required && output.empty()) throw ConfigError("output: required");
}

TrainerOptions SupervisedRunOptions::resolved_trainer(int64_t examples) const {
  // Steps per epoch count global batches: batch_size rows from each process.
  return train::with_epochs(trainer, examples, batch_size * parallel::world_size(), epochs, evals_per_epoch);
}

OpenedRun SupervisedRunOptions::begin_run(Json config, const TrainerOptions& resolved) const {
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
  std::vector<text::Example> sample;  // the dev texts, for a measured precision's label check
  if (infer::measures_precision(eval_precision, device)) sample = text::read_labelled(dev, data, false).examples;
  const auto best = infer::load_classifier(out / "best", device, eval_precision, batch_size, max_len, &sample);
  if (count_parameters) metrics["parameters"] = best.parameters;
  metrics.update(infer::precision_facts(best));
  infer::evaluate_on_files(best, {{"dev", dev}, {"test", test}}, data, max_len, batch_size, metrics);
  write_file_atomic(out / "metrics.json", metrics.dump(2) + "\n");
  log::info(stage, " done: dev ", metric, " ", log::fixed(metrics["dev"][metric].get<double>(), 4), " -> ",
            (out / "best").string());
  return metrics;
}

}  // namespace kdtext::train
