#include "kdtext/stages/predict.h"

#include <chrono>

#include "kdtext/eval/metrics.h"
#include "kdtext/log.h"

namespace kdtext::stages {

torch::Tensor predict_logits(model::BertImpl& model, const std::vector<text::Encoded>& encoded, int64_t batch_size,
                             torch::Device device, std::vector<std::pair<int64_t, double>>* batch_seconds) {
  const auto k = static_cast<int64_t>(model.config.labels.size());
  auto probs = torch::empty({static_cast<int64_t>(encoded.size()), k}, torch::kFloat32);
  if (encoded.empty()) return probs;
  model::ForwardOptions fo;
  for (const auto& rows : text::sorted_batches(encoded, batch_size)) {
    const auto t0 = std::chrono::steady_clock::now();
    auto b = text::make_batch(encoded, rows);
    auto out = model.encode(b.input_ids.to(device), b.attention_mask.to(device), b.token_type_ids.to(device), fo);
    auto p = model.classify(out.pooled).to(torch::kFloat32).to(torch::kCPU);
    auto index = torch::tensor(std::vector<int64_t>(rows.begin(), rows.end()), torch::kLong);
    probs.index_copy_(0, index, p);
    if (batch_seconds) {
      batch_seconds->emplace_back(static_cast<int64_t>(rows.size()),
                                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  return probs;
}

torch::Tensor predict_probabilities(model::BertImpl& model, const std::vector<text::Encoded>& encoded,
                                    int64_t batch_size, torch::Device device,
                                    std::vector<std::pair<int64_t, double>>* batch_seconds) {
  return torch::softmax(predict_logits(model, encoded, batch_size, device, batch_seconds), -1);
}

Json evaluate_classifier_on_file(model::BertImpl& model, const text::Tokenizer& tokenizer,
                                 const text::LabelMap& labels, const text::LabelledFormat& format,
                                 const std::string& path, int64_t max_len, int64_t batch_size, torch::Device device) {
  auto data = text::read_labelled(path, format, true);
  const auto gold = text::encode_labels(data, labels, format.bad_lines == "skip");
  std::vector<text::Encoded> encoded;
  encoded.reserve(data.examples.size());
  for (const auto& e : data.examples) encoded.push_back(text::encode_example(tokenizer, e.text, e.pair, max_len));
  const auto pred = predict_probabilities(model, encoded, batch_size, device).argmax(1);
  const std::vector<int64_t> p(pred.data_ptr<int64_t>(), pred.data_ptr<int64_t>() + pred.numel());
  const auto metrics = eval::classification_metrics(gold, p, labels.size());
  log::info(path, ":\n", metrics.report(labels.names()));
  Json j = metrics.to_json(labels.names());
  j["file"] = path;
  j["skipped_lines"] = data.skipped;
  return j;
}

}  // namespace kdtext::stages
