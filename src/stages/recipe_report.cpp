// kdtext-recipe's report: every model scored and timed by the classify stage,
// then report.json and report.md (distill/recipe.h builds them).
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "kdtext/stages/classify.h"
#include "kdtext/util/atomic.h"
#include "kdtext/util/file.h"
#include "recipe_run.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

// dev/test accuracy and macro-F1, and sentences/s on the dev set at batch 32 (best of 3).
Json RecipeRun::measure(const std::string& name, const std::string& checkpoint) {
  const fs::path dir = out_ / "report";
  fs::create_directories(dir);
  const Json format{{"format", "jsonl"}, {"text_column", "text"}, {"label_column", "label"},
                    {"pair_column", c_.data.pair_column.empty() ? "" : "pair"}};
  const auto classify = [&](const Json& settings) {
    Json s{{"checkpoint", checkpoint}, {"max_len", c_.max_len}, {"data", format}};
    s.update(settings);
    const Json j = stage_config(to_json(default_classify_config()), "", s, c_.run.seed, true);
    return in_stage("classify", c_.run.seed, true, [&] { return run_classify(classify_config_from_json(j), device_); });
  };
  Json figures{{"model", name}, {"checkpoint", checkpoint}};
  for (const std::string split : {"dev", "test"}) {
    const fs::path input = out_ / (split + ".jsonl");
    if (!fs::exists(input)) {
      figures[split] = nullptr;
      continue;
    }
    const Json m = classify(Json{{"inputs", {input.string()}}, {"eval", true},
                                 {"metrics", (dir / (name + "." + split + ".json")).string()},
                                 {"output", (dir / (name + "." + split + ".tsv")).string()}});
    figures[split] = Json{{"accuracy", m.at("accuracy")}, {"macro_f1", m.at("macro_f1")}};
  }
  double best = 0;
  const fs::path timings = dir / (name + ".timings.json");
  for (int i = 0; i < 3; ++i) {
    classify(Json{{"inputs", {(out_ / "dev.jsonl").string()}}, {"batch_size", 32},
                  {"output", (dir / (name + ".timed.tsv")).string()}, {"timings", timings.string()}});
    const Json t = read_json_file(timings);
    const double seconds = t.at("tokenize_seconds").get<double>() + t.at("model_seconds").get<double>();
    best = std::max(best, t.at("texts").get<double>() / std::max(seconds, 1e-9));
  }
  figures["sentences_per_s"] = best;
  write_file_atomic(dir / (name + ".json"), figures.dump(2) + "\n");
  return figures;
}

Json RecipeRun::write_report(const std::string& teacher) {
  say("evaluate and time the teacher and the students");
  distill::RecipeResults r;
  r.recipe = read_json_file(out_ / "recipe.json");
  r.training_rows = rows_;
  r.copies = copies_;
  r.general_distillation = general_dir_;
  r.provenance = read_json_file(out_ / "student-init" / "kdtext.json").at("provenance");
  r.teacher = measure("teacher", teacher);
  r.student = measure("student", (out_ / "student" / "best").string());
  r.labels_only = measure("labels-only", (out_ / "labels-only" / "best").string());
  const auto seconds = [&](const char* stage) {
    return stages_.contains(stage) ? stages_[stage].value("train_seconds", 0.0) : 0.0;
  };
  r.general_seconds = seconds("general");
  r.intermediate_seconds = seconds("intermediate");
  r.prediction_seconds = seconds("prediction");
  r.labels_only_seconds = seconds("labels_only");
  r.stages = stages_;
  const Json report = distill::recipe_report(r);
  const std::string md = distill::recipe_report_markdown(report);
  write_file_atomic(out_ / "report.json", report.dump(2) + "\n");
  write_file_atomic(out_ / "report.md", md);
  std::fputs(md.c_str(), stdout);
  std::fflush(stdout);
  say("the student: " + (out_ / "student" / "best").string() + " (kdtext-classify -m " +
      (out_ / "student" / "best").string() + " ...)");
  return report;
}

}  // namespace kdtext::stages
