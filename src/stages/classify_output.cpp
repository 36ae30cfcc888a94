#include "classify_output.h"

#include <cstdio>
#include <filesystem>
#include <iostream>

#include <sys/stat.h>

#include "kdtext/eval/metrics.h"
#include "kdtext/util/atomic.h"
#include "kdtext/util/cpu.h"
#include "kdtext/error.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

namespace {
std::string fmt_prob(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", p);
  return buf;
}
std::string fmt_logit(double z) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", z);  // round-trips a float
  return buf;
}

}  // namespace

PredictionWriter::PredictionWriter(const ClassifyConfig& c, const std::vector<std::string>& names)
    : c_(c), names_(names), k_(std::min<int64_t>(c.top_k, static_cast<int64_t>(names.size()))) {
  if (c.output_format != OutputFormat::kTsv) return;
  out_ += "label\tprobability";
  for (int64_t r = 2; r <= k_; ++r) out_ += "\tlabel_" + std::to_string(r) + "\tprobability_" + std::to_string(r);
  if (c.all_probabilities) {
    for (const auto& n : names) out_ += "\tp_" + n;
  }
  if (c.logits) {
    for (const auto& n : names) out_ += "\tlogit_" + n;
  }
  out_ += "\n";
}

std::vector<int64_t> PredictionWriter::add(const std::string& input, const text::LabelledData& data,
                                           const torch::Tensor& logits, const torch::Tensor& probs) {
  const auto top = probs.topk(k_, 1);
  // Plain accessors: one item() per element would build a tensor each time.
  const auto top_p = std::get<0>(top).accessor<float, 2>();
  const auto top_i = std::get<1>(top).accessor<int64_t, 2>();
  const auto all_p = probs.accessor<float, 2>();
  const auto all_z = logits.accessor<float, 2>();
  std::vector<int64_t> predicted;
  for (int64_t i = 0; i < probs.size(0); ++i) {
    predicted.push_back(top_i[i][0]);
    if (c_.output_format == OutputFormat::kTsv) {
      out_ += names_[top_i[i][0]] + "\t" + fmt_prob(top_p[i][0]);
      for (int64_t r = 1; r < k_; ++r) out_ += "\t" + names_[top_i[i][r]] + "\t" + fmt_prob(top_p[i][r]);
      if (c_.all_probabilities) {
        for (int64_t l = 0; l < probs.size(1); ++l) out_ += "\t" + fmt_prob(all_p[i][l]);
      }
      if (c_.logits) {
        for (int64_t l = 0; l < logits.size(1); ++l) out_ += "\t" + fmt_logit(all_z[i][l]);
      }
    } else {
      out_ += json_row(input, data.examples[i].line, top_p[i], top_i[i], all_p[i], all_z[i], probs.size(1)).dump();
    }
    out_ += "\n";
  }
  return predicted;
}

Json PredictionWriter::json_row(const std::string& input, uint64_t line, const Row& top_p, const Ids& top_i,
                              const Row& all_p, const Row& all_z, int64_t labels) const {
  Json j{{"label", names_[top_i[0]]}, {"probability", top_p[0]}};
  if (input != "-") j["source"] = input;
  j["line"] = line;
  if (k_ > 1) {
    Json topk = Json::array();
    for (int64_t r = 0; r < k_; ++r) topk.push_back({{"label", names_[top_i[r]]}, {"probability", top_p[r]}});
    j["top_k"] = topk;
  }
  if (c_.all_probabilities) {
    Json all = Json::object();
    for (int64_t l = 0; l < labels; ++l) all[names_[l]] = all_p[l];
    j["probabilities"] = all;
  }
  if (c_.logits) {
    Json z = Json::array();
    for (int64_t l = 0; l < labels; ++l) z.push_back(all_z[l]);
    j["logits"] = z;
  }
  return j;
}

// Before any work: every output can be written, and none of them is an input
// (--eval -o on its own labelled file would replace it with predictions).
namespace {
// Where --eval writes its metrics: --metrics, else beside the output.
// Whether standard input is the file `path` names (`-o F < F`).
bool standard_input_is(const std::string& path) {
  struct stat in {}, out {};
  return ::fstat(0, &in) == 0 && S_ISREG(in.st_mode) && ::stat(path.c_str(), &out) == 0 && in.st_dev == out.st_dev &&
         in.st_ino == out.st_ino;
}

std::string metrics_path(const ClassifyConfig& c) {
  return !c.metrics.empty() ? c.metrics : c.output == "-" ? "metrics.json" : c.output + ".metrics.json";
}
}  // namespace

void check_outputs(const ClassifyConfig& c) {
  const std::string metrics = c.eval ? metrics_path(c) : std::string();
  const std::vector<std::pair<std::string, std::string>> outputs = {
      {"--output", c.output}, {"--metrics", metrics}, {"--timings", c.timings}};
  for (size_t i = 0; i < outputs.size(); ++i) {
    const auto& [flag, path] = outputs[i];
    if (path.empty() || path == "-") continue;
    check_output_file(path, flag);
    std::error_code ec;
    for (const auto& input : c.inputs) {
      if (input == "-" && standard_input_is(path)) {
        throw ConfigError(flag + ": " + path + " is also standard input; the predictions would replace it (write "
                          "them elsewhere)");
      }
      if (input != "-" && fs::exists(path, ec) && fs::equivalent(input, path, ec)) {
        throw ConfigError(flag + ": " + path + " is also an input; the predictions would replace it (write them "
                          "elsewhere)");
      }
    }
    for (size_t j = 0; j < i; ++j) {
      if (outputs[j].second == path) throw ConfigError(outputs[j].first + " and " + flag + " name the same file " + path);
    }
  }
}

void write_timings(const ClassifyConfig& c, const infer::LoadedModel& m, const ClassifyTotals& t) {
  const auto& cpu = this_cpu();
  Json j{{"texts", t.texts},
         {"batch_size", c.batch_size},
         {"tokenize_seconds", t.tokenize_seconds},
         {"model_seconds", t.seconds},
         {"threads", torch::get_num_threads()},
         {"cpu", {{"model", cpu.model}, {"flags", cpu.flags}, {"logical_cpus", cpu.logical_cpus}}},
         {"batches", Json::array()}};
  j.update(infer::precision_facts(m));
  for (const auto& [n, s] : t.batch_seconds) j["batches"].push_back({n, s});
  write_file_atomic(c.timings, j.dump() + "\n");
}

void check_evaluable(const ClassifyConfig& c, const ClassifyTotals& t) {
  if (!t.gold.empty()) return;
  std::string inputs;
  for (const auto& i : c.inputs) inputs += (inputs.empty() ? "" : ", ") + i;
  throw InputError(inputs + ": no labelled examples to evaluate (" + std::to_string(t.skipped) + " skipped)");
}

Json write_eval(const ClassifyConfig& c, const infer::LoadedModel& m, const ClassifyTotals& t) {
  const auto& names = m.labels.names();
  check_evaluable(c, t);
  const auto metrics = eval::classification_metrics(t.gold, t.predicted, m.labels.size());
  Json j = metrics.to_json(names);
  j["checkpoint"] = c.checkpoint;
  j.update(infer::precision_facts(m));
  j["inputs"] = c.inputs;
  j["skipped_lines"] = t.skipped;
  const std::string path = metrics_path(c);
  write_file_atomic(path, j.dump(2) + "\n");
  std::cerr << metrics.report(names) << "metrics written to " << path << std::endl;
  return j;
}
}  // namespace kdtext::stages
