// kdtext-recipe --student bilstm|cnn|bag|frontier: students beyond the
// transformer (issue 28). After the teacher and the augmented transfer set
// (the same steps as the transformer route), each student is built from the
// teacher (its embeddings reduced by PCA), distilled in one task stage
// (configs/distill/sentence-student.json: temperature-softened KL, hard
// labels, the sentence-vector term), and a labels-only twin of the same
// shape is trained on the same data for the same epochs and minutes. Every
// model is scored and timed as the transformer route's report does; the
// report is the accuracy-against-speed frontier (distill/frontier.h) with its
// plot (frontier.svg).
#include <cstdio>
#include <filesystem>

#include "kdtext/distill/frontier.h"
#include "kdtext/stages/build_student.h"
#include "kdtext/stages/distill.h"
#include "kdtext/util/atomic.h"
#include "kdtext/util/file.h"
#include "recipe_run.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

std::vector<std::string> recipe_sentence_archs(const std::string& student) {
  if (student == "frontier") return {"bilstm", "cnn", "bag"};
  return {student};
}

fs::path RecipeRun::sentence_init(const std::string& arch, const std::string& teacher, const fs::path& dir) {
  if (fs::exists(dir / "kdtext.json")) return dir;
  say("build the " + arch + " student from the teacher " + teacher);
  const Json s{{"teacher", teacher}, {"output", dir.string()}, {"overwrite", true}, {"student", {{"arch", arch}}}};
  const Json j = stage_config(to_json(BuildStudentConfig{}), "", s, c_.run.seed, true);
  stages_["build_" + arch] =
      in_stage("build-student", c_.run.seed, true, [&] { return run_build_student(build_student_config_from_json(j)); });
  return dir;
}

// The distilled student and its labels-only twin of `arch` under `dir`, each
// given `minutes` (and at most 10 epochs) on the augmented set.
void RecipeRun::sentence_stages(const std::string& arch, const std::string& teacher, const fs::path& dir,
                                double minutes) {
  const auto seed = c_.resolved_task_seed();
  const fs::path init = sentence_init(arch, teacher, dir / "student-init");
  const Json task = task_settings((out_ / "train.aug.jsonl").string());
  const auto distill = [&](const Json& config) {
    return in_stage("distill", seed, false, [&] { return run_distill(distill::distill_config_from_json(config), device_); });
  };
  const std::string budget = distill::minutes_text(minutes) + " min";
  Json s = task;
  s.update(Json{{"teacher", teacher}, {"student", init.string()},
                {"teacher_logits", (out_ / "teacher-sentence-logits.safetensors").string()}, {"epochs", 10},
                {"trainer", {{"max_minutes", minutes}}}});
  train_stage("distil the " + arch + " student (" + budget + ")", arch + ".distilled", dir / "student",
              stage_config(to_json(distill::default_distill_config()), "sentence-student", s, seed, false), distill);
  // The twin: the same stage and settings with the hard-label term alone (the teacher's logits unused).
  s["loss"] = Json{{"output_weight", 0.0}, {"hard_weight", 1.0}, {"sentence_weight", 0.0}};
  s.erase("teacher_logits");
  train_stage("labels-only " + arch + " student (" + budget + ")", arch + ".labels_only", dir / "labels-only",
              stage_config(to_json(distill::default_distill_config()), "sentence-student", s, seed, false), distill);
}

Json RecipeRun::run_sentence_students() {
  convert_splits();
  const std::string teacher = fine_tuned_teacher();
  augment(teacher);
  const auto archs = recipe_sentence_archs(c_.student);
  const bool frontier = archs.size() > 1;
  const double minutes = budget_.task / static_cast<double>(archs.size());
  for (const auto& arch : archs) sentence_stages(arch, teacher, frontier ? out_ / arch : out_, minutes);

  say("evaluate and time the teacher and the students");
  std::vector<Json> models;
  const auto add = [&](const std::string& name, const std::string& kind, const fs::path& checkpoint) {
    Json m = measure(name, checkpoint.string());
    m["kind"] = kind;
    if (kind != "teacher") {
      const Json init = read_json_file(checkpoint.parent_path().parent_path() / "student-init" / "kdtext.json");
      m["parameters"] = init["provenance"]["parameters"];
      m["flops_ratio"] = init["provenance"]["flops_per_sentence"]["ratio"];
    }
    models.push_back(m);
  };
  add("teacher", "teacher", teacher);
  for (const auto& arch : archs) {
    const fs::path dir = frontier ? out_ / arch : out_;
    add(arch, "distilled", dir / "student" / "best");
    add(arch + "-labels-only", "labels_only", dir / "labels-only" / "best");
  }
  if (!c_.peers.empty()) {
    for (auto& m : recipe_peers(c_.peers)) models.push_back(std::move(m));
  }
  Json report = distill::frontier_report(models);
  report["recipe"] = read_json_file(out_ / "recipe.json");
  report["training_rows"] = rows_;
  report["copies"] = copies_;
  report["stages"] = stages_;
  std::string md = "# Distillation report: " + c_.student + "\n\nTeacher `" + teacher + "`; " +
                   std::to_string(rows_) + " training examples + " + std::to_string(copies_) +
                   " augmented copies each. Accuracy in %; sentences/s of kdtext-classify on the dev set at batch 32 "
                   "(best of 3, tokenisation included); speed-up against the teacher. Plot: frontier.svg.\n\n" +
                   distill::frontier_markdown(report);
  write_file_atomic(out_ / "frontier.svg", distill::frontier_svg(report));
  write_file_atomic(out_ / "report.json", report.dump(2) + "\n");
  write_file_atomic(out_ / "report.md", md);
  std::fputs(md.c_str(), stdout);
  std::fflush(stdout);
  return report;
}

}  // namespace kdtext::stages
