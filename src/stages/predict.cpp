#include "kdtext/stages/predict.h"

#include <chrono>

namespace kdtext::stages {

torch::Tensor predict_probabilities(model::BertImpl& model, const std::vector<text::Encoded>& encoded,
                                    int64_t batch_size, torch::Device device,
                                    std::vector<std::pair<int64_t, double>>* batch_seconds) {
  const auto k = static_cast<int64_t>(model.config.labels.size());
  auto probs = torch::empty({static_cast<int64_t>(encoded.size()), k}, torch::kFloat32);
  if (encoded.empty()) return probs;
  model::ForwardOptions fo;
  for (const auto& rows : text::sorted_batches(encoded, batch_size)) {
    const auto t0 = std::chrono::steady_clock::now();
    auto b = text::make_batch(encoded, rows);
    auto out = model.encode(b.input_ids.to(device), b.attention_mask.to(device), b.token_type_ids.to(device), fo);
    auto p = torch::softmax(model.classify(out.pooled).to(torch::kFloat32), -1).to(torch::kCPU);
    auto index = torch::tensor(std::vector<int64_t>(rows.begin(), rows.end()), torch::kLong);
    probs.index_copy_(0, index, p);
    if (batch_seconds) {
      batch_seconds->emplace_back(static_cast<int64_t>(rows.size()),
                                  std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  return probs;
}

}  // namespace kdtext::stages
