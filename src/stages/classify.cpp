#include "kdtext/stages/classify.h"

#include <chrono>
#include <cstdio>
#include <iostream>

#include "kdtext/eval/metrics.h"
#include "kdtext/io/atomic.h"
#include "kdtext/io/checkpoint.h"
#include "kdtext/log.h"
#include "kdtext/stages/predict.h"
#include "kdtext/text/batching.h"
#include "kdtext/util/error.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

ClassifyConfig default_classify_config() {
  ClassifyConfig c;
  c.data.header = "auto";
  return c;
}

Json to_json(const ClassifyConfig& c) {
  return Json{{"checkpoint", c.checkpoint},
              {"inputs", c.inputs},
              {"data", text::to_json(c.data)},
              {"output", c.output},
              {"output_format", c.output_format},
              {"all_probabilities", c.all_probabilities},
              {"top_k", c.top_k},
              {"logits", c.logits},
              {"batch_size", c.batch_size},
              {"max_len", c.max_len},
              {"eval", c.eval},
              {"metrics", c.metrics},
              {"timings", c.timings},
              {"run", cli::to_json(c.run)}};
}

ClassifyConfig classify_config_from_json(const Json& j) {
  ClassifyConfig c = default_classify_config();
  JsonFields f(j, "");
  f.get("checkpoint", c.checkpoint);
  f.get("inputs", c.inputs);
  c.data = text::labelled_format_from_json(f.child("data"));
  f.get("output", c.output);
  f.get("output_format", c.output_format);
  f.get("all_probabilities", c.all_probabilities);
  f.get("top_k", c.top_k);
  f.get("logits", c.logits);
  f.get("batch_size", c.batch_size);
  f.get("max_len", c.max_len);
  f.get("eval", c.eval);
  f.get("metrics", c.metrics);
  f.get("timings", c.timings);
  c.run = cli::runtime_options_from_json(f.child("run"));
  if (c.checkpoint.empty()) throw ConfigError("checkpoint: required (--model DIR)");
  if (c.inputs.empty()) c.inputs = {"-"};
  text::validate(c.data, "data");
  if (c.output_format != "tsv" && c.output_format != "jsonl") {
    throw ConfigError("output_format: expected tsv or jsonl, got '" + c.output_format + "'");
  }
  if (c.top_k < 1) throw ConfigError("top_k: must be >= 1");
  if (c.batch_size < 1) throw ConfigError("batch_size: must be >= 1");
  if (c.max_len < 0) throw ConfigError("max_len: must be >= 0");
  if (c.eval && c.data.label_column.empty()) throw ConfigError("eval: needs a label column (data.label_column)");
  return c;
}

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

Json run_classify(const ClassifyConfig& c, torch::Device device) {
  auto ck = io::read_checkpoint(c.checkpoint);
  if (ck.heads != model::Heads::kClassifier) {
    throw InputError(c.checkpoint + ": this checkpoint has no classification head (stage '" +
                     ck.meta.value("stage", std::string("?")) + "'); fine-tune it first with kdtext-finetune");
  }
  const auto& names = ck.config.labels;
  const text::LabelMap labels(names);
  model::Bert m(ck.config, model::Heads::kClassifier);
  io::load_weights(*m, ck.weights, c.checkpoint);
  m->to(device);
  m->eval();
  const int64_t max_len = c.max_len > 0 ? std::min(c.max_len, ck.config.max_position_embeddings)
                                        : ck.config.max_position_embeddings;
  const int64_t k = std::min<int64_t>(c.top_k, static_cast<int64_t>(names.size()));

  std::string out;
  if (c.output_format == "tsv") {
    out += "label\tprobability";
    for (int64_t r = 2; r <= k; ++r) out += "\tlabel_" + std::to_string(r) + "\tprobability_" + std::to_string(r);
    if (c.all_probabilities) {
      for (const auto& n : names) out += "\tp_" + n;
    }
    if (c.logits) {
      for (const auto& n : names) out += "\tlogit_" + n;
    }
    out += "\n";
  }
  std::vector<int64_t> gold_all, pred_all;
  uint64_t skipped = 0, total = 0;
  double seconds = 0, tokenize_seconds = 0;
  std::vector<std::pair<int64_t, double>> batch_seconds;
  for (const auto& input : c.inputs) {
    text::LabelledFormat fmt = c.data;
    if (input == "-" && fmt.format == "auto") fmt.format = c.eval ? "tsv" : "lines";
    auto data = text::read_labelled(input, fmt, c.eval);
    std::vector<int64_t> gold;
    if (c.eval) gold = text::encode_labels(data, labels, fmt.bad_lines == "skip");
    skipped += data.skipped;
    std::vector<text::Encoded> enc;
    enc.reserve(data.examples.size());
    const auto tt = std::chrono::steady_clock::now();
    for (const auto& e : data.examples) enc.push_back(text::encode_example(*ck.tokenizer, e.text, e.pair, max_len));
    tokenize_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - tt).count();
    const auto t0 = std::chrono::steady_clock::now();
    torch::Tensor logits;
    {
      torch::InferenceMode guard;
      logits = predict_logits(*m, enc, c.batch_size, device, c.timings.empty() ? nullptr : &batch_seconds);
    }
    const auto probs = torch::softmax(logits, -1);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    total += enc.size();
    const auto top = probs.topk(k, 1);
    // Plain accessors: one item() per element would build a tensor each time.
    const auto top_p = std::get<0>(top).accessor<float, 2>();
    const auto top_i = std::get<1>(top).accessor<int64_t, 2>();
    const auto all_p = probs.accessor<float, 2>();
    const auto all_z = logits.accessor<float, 2>();
    for (int64_t i = 0; i < probs.size(0); ++i) {
      const int64_t best = top_i[i][0];
      pred_all.push_back(best);
      if (c.output_format == "tsv") {
        out += names[best] + "\t" + fmt_prob(top_p[i][0]);
        for (int64_t r = 1; r < k; ++r) {
          out += "\t" + names[top_i[i][r]] + "\t" + fmt_prob(top_p[i][r]);
        }
        if (c.all_probabilities) {
          for (int64_t l = 0; l < probs.size(1); ++l) out += "\t" + fmt_prob(all_p[i][l]);
        }
        if (c.logits) {
          for (int64_t l = 0; l < logits.size(1); ++l) out += "\t" + fmt_logit(all_z[i][l]);
        }
      } else {
        Json j{{"label", names[best]}, {"probability", top_p[i][0]}};
        if (input != "-") j["source"] = input;
        j["line"] = data.examples[i].line;
        if (k > 1) {
          Json topk = Json::array();
          for (int64_t r = 0; r < k; ++r) {
            topk.push_back({{"label", names[top_i[i][r]]}, {"probability", top_p[i][r]}});
          }
          j["top_k"] = topk;
        }
        if (c.all_probabilities) {
          Json all = Json::object();
          for (int64_t l = 0; l < probs.size(1); ++l) all[names[l]] = all_p[i][l];
          j["probabilities"] = all;
        }
        if (c.logits) {
          Json z = Json::array();
          for (int64_t l = 0; l < logits.size(1); ++l) z.push_back(all_z[i][l]);
          j["logits"] = z;
        }
        out += j.dump();
      }
      out += "\n";
    }
    gold_all.insert(gold_all.end(), gold.begin(), gold.end());
  }
  if (c.output == "-") {
    std::cout << out << std::flush;
  } else {
    io::write_file_atomic(c.output, out);
  }
  log::info("classified ", total, " texts in ", log::fixed(seconds, 2), " s (", log::fixed(total / std::max(seconds, 1e-9), 1),
            " texts/s)", skipped ? log::cat(", skipped ", skipped, " bad lines") : std::string());
  if (!c.timings.empty()) {
    Json t{{"texts", total}, {"batch_size", c.batch_size}, {"tokenize_seconds", tokenize_seconds},
           {"model_seconds", seconds}, {"batches", Json::array()}};
    for (const auto& [n, s] : batch_seconds) t["batches"].push_back({n, s});
    io::write_file_atomic(c.timings, t.dump() + "\n");
  }
  if (!c.eval) return Json();
  const auto metrics = eval::classification_metrics(gold_all, pred_all, labels.size());
  Json j = metrics.to_json(names);
  j["checkpoint"] = c.checkpoint;
  j["inputs"] = c.inputs;
  j["skipped_lines"] = skipped;
  const std::string path = !c.metrics.empty() ? c.metrics : (c.output == "-" ? "metrics.json" : c.output + ".metrics.json");
  io::write_file_atomic(path, j.dump(2) + "\n");
  std::cerr << metrics.report(names) << "metrics written to " << path << std::endl;
  return j;
}

}  // namespace kdtext::stages
