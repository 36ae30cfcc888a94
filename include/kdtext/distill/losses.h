// Distillation loss terms. Each maps model outputs (student, teacher, and the
// attention mask) to a scalar; none knows about models or training, so each is
// unit-tested on small tensors against an independent computation.
//
// Shapes: logits [B, K]; hidden states [B, T, H]; attention scores or
// probabilities [B, heads, T, T]; mask [B, T] (1 = token, 0 = padding).
#pragma once

#include <torch/torch.h>

namespace kdtext::distill {

// KL(softmax(t/T) || softmax(s/T)), averaged over the batch; multiplied by
// T^2 when `t2_scale` (Hinton et al. keep gradients comparable across T;
// TinyBERT and DistilBERT-style recipes differ, hence the option).
torch::Tensor kl_logits(const torch::Tensor& student, const torch::Tensor& teacher, double temperature,
                        bool t2_scale);
// -sum softmax(t/T) * log_softmax(s/T), averaged over the batch (TinyBERT's
// prediction-layer loss); optionally T^2-scaled.
torch::Tensor soft_cross_entropy(const torch::Tensor& student, const torch::Tensor& teacher, double temperature,
                                 bool t2_scale);
// Mean squared error between logits.
torch::Tensor logit_mse(const torch::Tensor& student, const torch::Tensor& teacher);
// Cross-entropy with the gold labels.
torch::Tensor hard_cross_entropy(const torch::Tensor& student, const torch::Tensor& labels);

// Mean squared error over the hidden units of real (non-padding) tokens.
torch::Tensor hidden_mse(const torch::Tensor& student, const torch::Tensor& teacher, const torch::Tensor& mask);
// 1 - cosine similarity per real token, averaged (DistilBERT's cosine loss).
torch::Tensor hidden_cosine(const torch::Tensor& student, const torch::Tensor& teacher, const torch::Tensor& mask);
// Patient-KD: squared distance between L2-normalised [CLS] vectors, averaged over the batch.
torch::Tensor normalized_cls_mse(const torch::Tensor& student, const torch::Tensor& teacher);

// Sentence vectors [B, D]: mean squared error over every element, and
// 1 - cosine similarity averaged over the batch.
torch::Tensor vector_mse(const torch::Tensor& student, const torch::Tensor& teacher);
torch::Tensor vector_cosine(const torch::Tensor& student, const torch::Tensor& teacher);

// TinyBERT attention loss: MSE between pre-softmax scores over real
// query/key pairs (padded positions contribute nothing). When head counts
// differ, the head-averaged maps are compared.
torch::Tensor attention_score_mse(const torch::Tensor& student, const torch::Tensor& teacher,
                                  const torch::Tensor& mask);
// MiniLM attention loss: KL(teacher row || student row) of attention
// probabilities, averaged over heads and real query rows.
torch::Tensor attention_kl(const torch::Tensor& student, const torch::Tensor& teacher, const torch::Tensor& mask);

}  // namespace kdtext::distill
