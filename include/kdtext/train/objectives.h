// Training objectives that need a model head. The model maps ids to outputs
// and never knows what it is trained for; the distillation terms, pure
// functions of tensors, live in distill/.
#pragma once

#include <torch/torch.h>

#include "kdtext/model/bert.h"

namespace kdtext::train {

// Mean cross-entropy of the masked-LM head over the positions whose label is
// not -100; only those rows go through the vocabulary projection.
// hidden [B, T, H], labels [B, T].
torch::Tensor masked_lm_loss(model::BertImpl& model, const torch::Tensor& hidden, const torch::Tensor& labels);

}  // namespace kdtext::train
