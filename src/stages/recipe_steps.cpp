// kdtext-recipe's steps, each a stage's run_* function with the settings the
// recipe gives it; each is kept when it finished in an earlier run.
#include <filesystem>

#include "kdtext/io/checkpoint_meta.h"
#include "kdtext/stages/augment.h"
#include "kdtext/stages/build_student.h"
#include "kdtext/stages/distill.h"
#include "kdtext/stages/finetune.h"
#include "kdtext/stages/preprocess.h"
#include "kdtext/train/run_directory.h"
#include "kdtext/error.h"
#include "kdtext/util/file.h"
#include "kdtext/util/lock.h"
#include "recipe_run.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

namespace {
// The JSON lines every step after the conversion reads (text, pair, label).
Json jsonl_format(const text::LabelledFormat& user) {
  return Json{{"format", "jsonl"}, {"text_column", "text"}, {"label_column", "label"},
              {"pair_column", user.pair_column.empty() ? "" : "pair"}};
}

int64_t count_lines(const fs::path& file) {
  const std::string text = read_file(file, "training set");
  int64_t n = 0;
  for (const char ch : text) n += ch == '\n';
  return n;
}
}  // namespace

Json RecipeRun::task_settings(const std::string& train) const {
  Json s{{"train", train}, {"dev", (out_ / "dev.jsonl").string()}, {"data", jsonl_format(c_.data)},
         {"max_len", c_.max_len}, {"batch_size", c_.batch_size}};
  if (!c_.test.empty()) s["test"] = (out_ / "test.jsonl").string();
  return s;
}

Json RecipeRun::train_stage(const std::string& what, const std::string& key, const fs::path& dir, Json config,
                            const std::function<Json(const Json&)>& run) {
  const auto state = train::run_state(dir);
  if (state == train::RunState::kFinished) {
    { const DirectoryLock unused(dir); }  // removes the lock file a run killed as it ended left
    say(what + ": done before, kept (" + dir.string() + ")");
    return stages_[key] = read_json_file(dir / "metrics.json");
  }
  config["output"] = dir.string();
  config["resume"] = state == train::RunState::kResumable;
  config["overwrite"] = state == train::RunState::kUnfinished;
  say(what + (state == train::RunState::kResumable ? ": resuming (" + dir.string() + ")" : ""));
  return stages_[key] = run(config);
}

void RecipeRun::convert_splits() {
  // One format for every stage (the augmented set is JSON lines): the user's files are converted once.
  for (const auto& [split, source] : {std::pair<std::string, std::string>{"train", c_.train}, {"dev", c_.dev},
                                      {"test", c_.test}}) {
    const fs::path target = out_ / (split + ".jsonl");
    if (source.empty() || fs::exists(target)) continue;
    Json s{{"input", source}, {"teacher", c_.encoder()}, {"output", target.string()},
           {"data", text::to_json(c_.data)}, {"augment", {{"copies", 0}}}};
    const Json j = stage_config(to_json(AugmentConfig{}), "", s, c_.run.seed, true);
    stages_["convert_" + split] =
        in_stage("augment", c_.run.seed, true, [&] { return run_augment(augment_config_from_json(j), device_); });
  }
  rows_ = count_lines(out_ / "train.jsonl");
}

std::string RecipeRun::fine_tuned_teacher() {
  if (!c_.teacher.empty()) return c_.teacher;
  Json s = task_settings((out_ / "train.jsonl").string());
  s.update(Json{{"from", c_.base}, {"epochs", 3}, {"evals_per_epoch", 2}, {"trainer", {{"lr", 1e-4}}}});
  const Json j = stage_config(to_json(default_finetune_config()), "", s, c_.run.seed, false);
  train_stage("fine-tune the teacher from " + c_.base, "teacher", out_ / "teacher", j, [&](const Json& config) {
    return in_stage("finetune", c_.run.seed, false,
                    [&] { return run_finetune(finetune_config_from_json(config), device_); });
  });
  return (out_ / "teacher" / "best").string();
}

fs::path RecipeRun::student_init(const fs::path& probe) {
  const fs::path dir = out_ / "student-init";
  std::error_code ec;
  if (fs::exists(dir / "kdtext.json", ec)) return dir;
  std::string how;
  const Json student = recipe_student_spec(c_, &how);
  if (!probe.empty() && fs::exists(probe / "kdtext.json", ec)) {
    fs::remove_all(dir, ec);
    fs::rename(probe, dir, ec);  // fails across file systems: built again below
    if (!ec) {
      say("built the " + c_.preset + " student from " + c_.encoder() + " (" + how + ")");
      return dir;
    }
  }
  say("build the " + c_.preset + " student from " + c_.encoder() + " (" + how + ")");
  const Json s{{"teacher", c_.encoder()}, {"output", dir.string()}, {"overwrite", true}, {"student", student}};
  const Json j = stage_config(to_json(BuildStudentConfig{}), "", s, c_.run.seed, true);
  stages_["build_student"] =
      in_stage("build-student", c_.run.seed, true, [&] { return run_build_student(build_student_config_from_json(j)); });
  return dir;
}

fs::path RecipeRun::general_distillation(const fs::path& init) {
  if (budget_.general <= 0) return init;
  if (!fs::exists(out_ / "corpus" / "stats.json")) {
    say("preprocess the corpus with the teacher's tokenizer");
    const Json s{{"inputs", c_.corpus}, {"tokenizer", (fs::path(c_.encoder()) / "tokenizer").string()},
                 {"clean", {{"min_chars", 20}}}, {"output", (out_ / "corpus").string()}, {"overwrite", true}};
    const PreprocessConfig defaults;  // named: GCC 12 warns (wrongly) about a temporary's strings
    const Json j = stage_config(to_json(defaults), "", s, c_.run.seed, true);
    stages_["preprocess"] =
        in_stage("preprocess", c_.run.seed, true, [&] { return run_preprocess(preprocess_config_from_json(j)); });
  }
  say("general distillation (" + distill::minutes_text(budget_.general) + " min; reused from " + c_.store +
      " when done before)");
  const Json s{{"mode", "general"}, {"teacher", c_.encoder()}, {"student", init.string()},
               {"shards", (out_ / "corpus").string()}, {"store", c_.store}, {"epochs", 100},
               {"max_len", c_.max_len}, {"batch_size", c_.batch_size}, {"loss", {{"layer_map", "spread"}}},
               {"trainer", {{"max_minutes", budget_.general}, {"eval_every", 200}, {"save_every", 200}}}};
  const Json j = stage_config(to_json(distill::default_distill_config()), "tinybert-general", s, c_.run.seed, false);
  const Json result =
      in_stage("distill", c_.run.seed, false, [&] { return run_distill(distill::distill_config_from_json(j), device_); });
  stages_["general"] = result;
  general_dir_ = result.value("output", "");
  if (general_dir_.empty() || !fs::exists(fs::path(general_dir_) / "best" / "model.safetensors")) {
    throw InputError("general distillation gave no student (" + general_dir_ + ")");
  }
  return fs::path(general_dir_) / "best";
}

void RecipeRun::augment(const std::string& teacher) {
  copies_ = c_.copies ? *c_.copies : distill::auto_copies(rows_);
  const fs::path target = out_ / "train.aug.jsonl";
  if (fs::exists(target)) return;
  // A base with a masked-LM head proposes single-piece replacements in context (TinyBERT); the
  // teacher's embedding neighbours serve the other words, or all of them when there is no such head.
  std::string mlm;
  if (!c_.base.empty()) {
    const fs::path meta = fs::path(c_.base) / io::kCheckpointMetaFile;
    if (io::parse_checkpoint_meta(read_json_file(meta), meta.string()).heads == "masked_lm") mlm = c_.base;
  }
  say("augment: " + std::to_string(copies_) + " copies of each of " + std::to_string(rows_) + " training examples" +
      (mlm.empty() ? "" : " (masked-LM candidates from " + mlm + ")"));
  const Json s{{"input", (out_ / "train.jsonl").string()}, {"teacher", teacher}, {"mlm", mlm},
               {"output", target.string()}, {"data", jsonl_format(c_.data)}, {"augment", {{"copies", copies_}}}};
  const auto seed = c_.resolved_task_seed();
  const Json j = stage_config(to_json(AugmentConfig{}), "", s, seed, true);
  stages_["augment"] = in_stage("augment", seed, true, [&] { return run_augment(augment_config_from_json(j), device_); });
}

void RecipeRun::task_stages(const std::string& teacher, const fs::path& start) {
  const auto seed = c_.resolved_task_seed();
  const Json task = task_settings((out_ / "train.aug.jsonl").string());
  const auto distill = [&](const Json& config) {
    return in_stage("distill", seed, false, [&] { return run_distill(distill::distill_config_from_json(config), device_); });
  };
  Json s = task;
  s.update(Json{{"teacher", teacher}, {"student", start.string()}, {"loss", {{"layer_map", "spread"}}},
                {"epochs", 10}, {"trainer", {{"max_minutes", budget_.intermediate}}}});
  train_stage("intermediate-layer distillation (" + distill::minutes_text(budget_.intermediate) + " min)",
              "intermediate", out_ / "intermediate",
              stage_config(to_json(distill::default_distill_config()), "tinybert-intermediate", s, seed, false), distill);
  s = task;
  s.update(Json{{"teacher", teacher}, {"student", (out_ / "intermediate" / "final").string()},
                {"teacher_logits", (out_ / "teacher-logits.safetensors").string()}, {"epochs", 3},
                {"evals_per_epoch", 2}, {"trainer", {{"max_minutes", budget_.prediction}}}});
  train_stage("prediction-layer distillation (" + distill::minutes_text(budget_.prediction) + " min)", "prediction",
              out_ / "student", stage_config(to_json(distill::default_distill_config()), "tinybert-prediction", s, seed, false),
              distill);
  s = task;
  s.update(Json{{"from", (out_ / "student-init").string()}, {"epochs", 3}, {"evals_per_epoch", 2},
                {"trainer", {{"lr", 3e-4}, {"max_minutes", budget_.prediction}}}});
  train_stage("label-only student (" + distill::minutes_text(budget_.prediction) + " min)", "labels_only",
              out_ / "labels-only", stage_config(to_json(default_finetune_config()), "", s, seed, false),
              [&](const Json& config) {
                return in_stage("finetune", seed, false,
                                [&] { return run_finetune(finetune_config_from_json(config), device_); });
              });
}

}  // namespace kdtext::stages
