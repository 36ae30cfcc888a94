#include "kdtext/infer/predict.h"

#include <algorithm>
#include <chrono>

#include "kdtext/eval/metrics.h"
#include "kdtext/infer/sentence_engine.h"
#include "kdtext/io/checkpoint.h"
#include "kdtext/io/sentence_checkpoint.h"
#include "kdtext/util/log.h"
#include "kdtext/error.h"
#include "kdtext/util/progress.h"

namespace kdtext::infer {

torch::Tensor predict_rows(const std::vector<feed::Encoded>& encoded, int64_t batch_size, int64_t width,
                           const std::function<torch::Tensor(const feed::Batch&)>& forward,
                           std::vector<std::pair<int64_t, double>>* batch_seconds) {
  auto out = torch::empty({static_cast<int64_t>(encoded.size()), width}, torch::kFloat32);
  if (encoded.empty()) return out;
  for (const auto& rows : feed::sorted_batches(encoded, batch_size)) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto z = forward(feed::make_batch(encoded, rows));
    auto index = torch::tensor(std::vector<int64_t>(rows.begin(), rows.end()), torch::kLong);
    out.index_copy_(0, index, z);
    if (batch_seconds) batch_seconds->emplace_back(static_cast<int64_t>(rows.size()), seconds_since(t0));
  }
  return out;
}

torch::Tensor predict_logits(model::BertImpl& model, const std::vector<feed::Encoded>& encoded, int64_t batch_size,
                             torch::Device device, std::vector<std::pair<int64_t, double>>* batch_seconds) {
  const model::ForwardOptions fo;
  const auto forward = [&](const feed::Batch& b) {
    auto out = model.encode(b.input_ids.to(device), b.attention_mask.to(device), b.token_type_ids.to(device), fo);
    return model.classify(out.pooled).to(torch::kCPU, torch::kFloat32);
  };
  return predict_rows(encoded, batch_size, static_cast<int64_t>(model.config.labels.size()), forward, batch_seconds);
}

torch::Tensor predict_logits(const ClassifierEngine& engine, const std::vector<feed::Encoded>& encoded, int64_t batch_size,
                             std::vector<std::pair<int64_t, double>>* batch_seconds, AdaptiveThreads* threads) {
  const auto forward = [&](const feed::Batch& b) {
    if (threads) threads->update();
    return engine.logits(b.input_ids, b.attention_mask, b.token_type_ids);
  };
  return predict_rows(encoded, batch_size, engine.num_labels(), forward, batch_seconds);
}

torch::Tensor predict_probabilities(model::BertImpl& model, const std::vector<feed::Encoded>& encoded,
                                    int64_t batch_size, torch::Device device) {
  return torch::softmax(predict_logits(model, encoded, batch_size, device), -1);
}

namespace {
// Resolves the precision (measuring when asked) and builds the engine.
void build_engine(LoadedModel& c, const EngineFactory& factory, Precision precision, int64_t batch_size,
                  int64_t max_len, const std::vector<text::Example>* sample) {
  // The caller checks max_len against the model under its own key; here it only shapes the probe.
  const int64_t limit = c.architecture == "bert" ? c.config.max_position_embeddings : kSentenceDefaultMaxLen;
  const int64_t len = std::min(max_len > 0 ? max_len : limit, limit);
  std::vector<feed::Encoded> rows;
  if (sample != nullptr && measures_precision(precision, c.device)) {
    const auto n = std::min<size_t>(sample->size(), static_cast<size_t>(kSampleRows));
    rows = feed::encode_examples(*c.tokenizer, std::vector<text::Example>(sample->begin(), sample->begin() + n), len);
  }
  ProbeShape shape{batch_size, std::min(kProbeTokens, len), rows.empty() ? nullptr : &rows};
  auto r = resolve_precision(precision, factory, c.architecture, c.device, *c.tokenizer, c.dir, shape);
  c.engine = std::move(r.engine);
  c.precision = r.precision;
  c.requested = precision;
  c.measured = std::move(r.measured);
  c.precision_reason = std::move(r.reason);
  c.parameters = c.engine->parameters();
}

LoadedModel load_sentence_classifier(const std::filesystem::path& dir, torch::Device device, Precision precision,
                                     int64_t batch_size, int64_t max_len, const std::vector<text::Example>* sample) {
  auto ck = io::read_sentence_checkpoint(dir);
  LoadedModel c;
  c.dir = dir;
  c.architecture = choice_name(ck.config.arch, model::kSentenceArchs);
  c.sentence = ck.config;
  c.tokenizer = std::move(ck.tokenizer);
  c.labels = text::LabelMap(ck.labels);
  c.device = device;
  const auto origin = (dir / "model.safetensors").string();
  build_engine(c, [&](Precision p) { return std::make_shared<const SentenceEngine>(ck.config, ck.weights, p, device, origin); },
               precision, batch_size, max_len, sample);
  return c;
}
}  // namespace

LoadedModel load_classifier(const std::filesystem::path& dir, torch::Device device, Precision precision,
                            int64_t batch_size, int64_t max_len, const std::vector<text::Example>* sample) {
  if (io::architecture_at(dir) != "bert") {
    return load_sentence_classifier(dir, device, precision, batch_size, max_len, sample);
  }
  auto ck = io::read_checkpoint(dir);
  if (ck.heads != model::Heads::kClassifier) {
    throw InputError(dir.string() + ": this checkpoint has no classification head (stage '" +
                     ck.meta.value("stage", std::string("?")) + "'); fine-tune it first with kdtext-finetune");
  }
  LoadedModel c;
  c.dir = dir;
  c.config = ck.config;
  c.tokenizer = std::move(ck.tokenizer);
  c.labels = text::LabelMap(ck.config.labels);
  c.device = device;
  // Straight from the stored tensors (no model::Bert: its initialisation and copy cost start-up time).
  build_engine(c, [&](Precision p) { return std::make_shared<const Engine>(ck.config, ck.weights, p, device, dir.string()); },
               precision, batch_size, max_len, sample);
  return c;
}

Json precision_facts(const LoadedModel& m) {
  Json j{{"precision", precision_name(m.precision)}, {"precision_requested", precision_name(m.requested)}};
  if (!m.measured.empty()) {
    j["precision_measured"] = Json::array();
    for (const auto& x : m.measured) {
      j["precision_measured"].push_back(
          {{"precision", precision_name(x.precision)}, {"seconds", x.seconds}, {"agreement", x.agreement}});
    }
  }
  if (!m.precision_reason.empty()) j["precision_reason"] = m.precision_reason;
  return j;
}

int64_t checked_max_len(int64_t requested, const model::BertConfig& config, const std::string& key) {
  if (requested > config.max_position_embeddings) {
    throw ConfigError(key + " " + std::to_string(requested) + " exceeds the checkpoint's max_position_embeddings " +
                      std::to_string(config.max_position_embeddings));
  }
  return requested > 0 ? requested : config.max_position_embeddings;
}

int64_t checked_max_len(int64_t requested, const LoadedModel& model, const std::string& key) {
  if (model.architecture == "bert") return checked_max_len(requested, model.config, key);
  return requested > 0 ? requested : kSentenceDefaultMaxLen;
}

Json evaluate_on_file(const LoadedModel& classifier, const text::LabelledFormat& format, const std::string& path,
                      int64_t max_len, int64_t batch_size) {
  torch::InferenceMode guard;
  auto data = text::read_labelled(path, format, true);
  const auto gold = text::encode_labels(data, classifier.labels, format);
  const auto encoded = feed::encode_examples(*classifier.tokenizer, data.examples, max_len);
  const auto pred = predict_logits(*classifier.engine, encoded, batch_size, nullptr, classifier.threads.get()).argmax(1);
  const std::vector<int64_t> p(pred.data_ptr<int64_t>(), pred.data_ptr<int64_t>() + pred.numel());
  const auto& names = classifier.labels.names();
  const auto metrics = eval::classification_metrics(gold, p, classifier.labels.size());
  log::info(path, ":\n", metrics.report(names));
  Json j = metrics.to_json(names);
  j["file"] = path;
  j["skipped_lines"] = data.skipped;
  return j;
}

void evaluate_on_files(const LoadedModel& classifier, const std::vector<std::pair<std::string, std::string>>& files,
                       const text::LabelledFormat& format, int64_t max_len, int64_t batch_size, Json& metrics) {
  for (const auto& [name, path] : files) {
    if (!path.empty()) metrics[name] = evaluate_on_file(classifier, format, path, max_len, batch_size);
  }
}

}  // namespace kdtext::infer
