#include "kdtext/distill/recipe.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "kdtext/error.h"

namespace kdtext::distill {

namespace {

// The shortest text that reads back as the same double (as jq and JSON print numbers).
std::string number_text(double x) {
  if (std::isfinite(x) && x == std::round(x) && std::fabs(x) < 1e15) {
    return std::to_string(static_cast<long long>(std::llround(x)));
  }
  char buf[64];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, x);
    if (std::strtod(buf, nullptr) == x) break;
  }
  return buf;
}

double round_to(double x, double scale) { return std::round(x * scale) / scale; }

double round_significant(double x, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, x);
  return std::strtod(buf, nullptr);
}

}  // namespace

std::string minutes_text(double minutes) { return number_text(round_significant(minutes, 4)); }

RecipeBudget split_budget(double total, double general, double task, bool has_corpus) {
  if (!(total > 0)) throw ConfigError("budget: must be above 0 minutes, got " + number_text(total));
  RecipeBudget b;
  b.general = round_significant(general >= 0 ? general : has_corpus ? total / 2 : 0, 4);
  b.task = round_significant(task >= 0 ? task : total - b.general, 4);
  if (!(b.task > 0)) {
    throw ConfigError("no time left for the task stages (--budget " + number_text(total) + ", general " +
                      number_text(b.general) + " min)");
  }
  if (b.general > 0 && !has_corpus) {
    throw ConfigError("--general-minutes " + number_text(b.general) + " needs --corpus (unlabelled text)");
  }
  b.intermediate = round_significant(b.task * 0.6, 4);
  b.prediction = round_significant(b.task * 0.4, 4);
  return b;
}

int64_t auto_copies(int64_t training_rows) {
  if (training_rows < 1) throw InputError("auto copies: the training set has no rows");
  const int64_t copies = 60000 / training_rows - 1;
  return copies > 20 ? 20 : copies < 0 ? 0 : copies;
}

namespace {

Json with_cost(Json figures, const Json& parameters, const Json& flops) {
  figures["parameters"] = parameters;
  figures["flops_per_sentence"] = flops;
  return figures;
}

double accuracy(const Json& figures, const char* split) { return figures.at(split).at("accuracy").get<double>(); }

}  // namespace

Json recipe_report(const RecipeResults& r) {
  const Json& p = r.provenance;
  const Json& flops = p.at("flops_per_sentence");
  Json teacher = with_cost(r.teacher, p.at("teacher_parameters"), flops.at("teacher"));
  Json student = with_cost(r.student, p.at("parameters"), flops.at("student"));
  student["train_seconds"] = Json{{"general", r.general_seconds},
                                  {"intermediate", r.intermediate_seconds},
                                  {"prediction", r.prediction_seconds}};
  Json labels = with_cost(r.labels_only, p.at("parameters"), flops.at("student"));
  labels["train_seconds"] = r.labels_only_seconds;
  const bool test = !r.teacher.at("test").is_null() && !r.student.at("test").is_null();
  Json ratios{{"dev_accuracy", accuracy(r.student, "dev") / accuracy(r.teacher, "dev")},
              {"test_accuracy", test ? Json(accuracy(r.student, "test") / accuracy(r.teacher, "test")) : Json()},
              {"flops", flops.at("ratio")},
              {"speedup", r.student.at("sentences_per_s").get<double>() / r.teacher.at("sentences_per_s").get<double>()}};
  return Json{{"recipe", r.recipe},
              {"training_rows", r.training_rows},
              {"copies", r.copies},
              {"general_distillation", r.general_distillation.empty() ? Json() : Json(r.general_distillation)},
              {"flops_tokens", flops.at("tokens")},
              {"teacher", teacher},
              {"student", student},
              {"labels_only", labels},
              {"student_vs_teacher", ratios},
              {"student_minus_labels_only_dev", accuracy(r.student, "dev") - accuracy(r.labels_only, "dev")},
              {"stages", r.stages}};
}

namespace {

std::string pct(const Json& fraction) { return number_text(round_to(fraction.get<double>() * 100, 100)); }

std::string row(const std::string& name, const Json& m) {
  std::string s = "| " + name + " | " + pct(m["dev"]["accuracy"]) + " | " + pct(m["dev"]["macro_f1"]) + " | ";
  s += m["test"].is_null() ? "- | -" : pct(m["test"]["accuracy"]) + " | " + pct(m["test"]["macro_f1"]);
  return s + " | " + m["parameters"].dump() + " | " + number_text(std::round(m["flops_per_sentence"].get<double>() / 1e6)) +
         " | " + number_text(std::round(m["sentences_per_s"].get<double>())) + " |";
}

std::string seconds(const Json& s) { return number_text(std::round(s.get<double>())); }

}  // namespace

std::string recipe_report_markdown(const Json& rep) {
  const Json& recipe = rep["recipe"];
  const std::string base = recipe.value("base", "");
  const Json& ratio = rep["student_vs_teacher"];
  std::ostringstream md;
  md << "# Distillation report\n\n"
     << "Student `" << recipe.value("preset", "") << "` from `" << (base.empty() ? recipe.value("teacher", "") : base)
     << "`; teacher `" << rep["teacher"]["checkpoint"].get<std::string>() << "`;\n"
     << rep["training_rows"].dump() << " training examples + " << rep["copies"].dump()
     << " augmented copies each. Accuracy and macro-F1 in %;\n"
     << "parameters without the classifier; MFLOP per " << rep["flops_tokens"].dump() << "-token sentence; "
     << "sentences/s of\nkdtext-classify on the dev set at batch 32 (best of 3).\n\n"
     << "| model | dev acc | dev F1 | test acc | test F1 | parameters | MFLOP | sentences/s |\n"
     << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
     << row("teacher", rep["teacher"]) << "\n" << row("student (distilled)", rep["student"]) << "\n"
     << row("student (labels only)", rep["labels_only"]) << "\n\n"
     << "The student keeps " << pct(ratio["dev_accuracy"]) << "% of the teacher's dev accuracy"
     << (ratio["test_accuracy"].is_null() ? "" : " (" + pct(ratio["test_accuracy"]) + "% on test)") << " at "
     << number_text(round_to(ratio["flops"].get<double>(), 1000)) << "x its FLOPs and "
     << number_text(round_to(ratio["speedup"].get<double>(), 100)) << "x its speed;\n"
     << "distillation adds " << number_text(round_to(rep["student_minus_labels_only_dev"].get<double>() * 100, 100))
     << " dev points over labels only.\n";
  const Json& t = rep["student"]["train_seconds"];
  const Json& general = rep["general_distillation"];
  md << "Training: general distillation " << seconds(t["general"]) << " s ("
     << (general.is_null() ? std::string("none") : general.get<std::string>()) << "), intermediate "
     << seconds(t["intermediate"]) << " s, prediction " << seconds(t["prediction"]) << " s; labels only "
     << seconds(rep["labels_only"]["train_seconds"]) << " s.\n";
  return md.str();
}

}  // namespace kdtext::distill
