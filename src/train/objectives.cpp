#include "kdtext/train/objectives.h"

namespace kdtext::train {

torch::Tensor masked_lm_loss(model::BertImpl& model, const torch::Tensor& hidden, const torch::Tensor& labels) {
  const auto flat = labels.reshape({-1});
  const auto rows = flat.ne(-100).nonzero().squeeze(1);
  const auto logits = model.mlm_logits(hidden.reshape({-1, hidden.size(-1)}).index_select(0, rows));
  return torch::nn::functional::cross_entropy(logits.to(torch::kFloat32), flat.index_select(0, rows));
}

}  // namespace kdtext::train
