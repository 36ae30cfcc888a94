// Options shared by the stages that train a classifier on a labelled set
// (finetune, distill): data files, run directory, batching, epochs and the
// selection metric. Stored flat in each stage's JSON configuration.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "kdtext/cli/runtime.h"
#include "kdtext/infer/precision.h"
#include "kdtext/text/labelled.h"
#include "kdtext/train/run_directory.h"
#include "kdtext/train/trainer.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::train {

struct SupervisedRunOptions {
  std::string train;                 // labelled training file
  std::string dev;                   // labelled development file (model selection)
  std::string test;                  // optional labelled test file (reported, never used to select)
  std::string output;                // run directory
  bool overwrite = false;            // start over in a non-empty run directory
  bool resume = false;               // continue from the newest resumable checkpoint
  text::LabelledFormat data;         // columns, format, header, bad lines
  int64_t max_len = 128;             // tokens per example, [CLS]/[SEP] included
  int64_t batch_size = 32;
  int64_t epochs = 3;                // used when trainer.max_steps is 0
  int64_t evals_per_epoch = 1;       // used when trainer.eval_every is 0
  std::string metric = "accuracy";   // accuracy | macro_f1: selects the best checkpoint
  infer::Precision eval_precision = infer::Precision::kFloat32;  // of the final report (report_best)
  TrainerOptions trainer;
  cli::RuntimeOptions run;

  // Throws ConfigError when train and dev (`labelled`) or output are empty.
  void require(bool labelled, bool output_required) const;
  // The trainer options with max_steps/eval_every derived from epochs when 0.
  TrainerOptions resolved_trainer(int64_t examples) const;

  // Prepares the run directory (resume / overwrite rules) and writes
  // config.json: `config` with the resolved trainer.max_steps and
  // trainer.eval_every. Returns the checkpoint to resume from, if any.
  // Data parallel: the writer does this; every process gets resume_from.
  OpenedRun begin_run(Json config, const TrainerOptions& resolved) const;

  // After training: scores best/ on dev (and test) into `metrics`, writes
  // metrics.json (which marks a finished run) and logs the dev metric.
  // With `count_parameters`, also records the best model's parameter count.
  Json report_best(Json metrics, torch::Device device, const std::string& stage, bool count_parameters) const;
};

// These fields, stored flat in a stage's table (FieldTable::base);
// `required_flags`: --train, --dev and --output are required flags.
const FieldTable<SupervisedRunOptions>& supervised_fields(bool required_flags);

}  // namespace kdtext::train
