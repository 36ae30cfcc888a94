#include "kdtext/distill/losses.h"

namespace kdtext::distill {
namespace F = torch::nn::functional;

namespace {
void check_same(const torch::Tensor& a, const torch::Tensor& b, const char* what) {
  TORCH_CHECK(a.sizes() == b.sizes(), what, ": student ", a.sizes(), " and teacher ", b.sizes(), " differ");
}
torch::Tensor float_mask(const torch::Tensor& mask, const torch::Tensor& like) {
  return mask.to(like.scalar_type());
}
// Head-averages both maps when head counts differ.
std::pair<torch::Tensor, torch::Tensor> align_heads(const torch::Tensor& s, const torch::Tensor& t) {
  if (s.size(1) == t.size(1)) return {s, t};
  return {s.mean(1, true), t.mean(1, true)};
}
}  // namespace

torch::Tensor kl_logits(const torch::Tensor& s, const torch::Tensor& t, double T, bool t2_scale) {
  check_same(s, t, "kl_logits");
  const auto log_p_s = torch::log_softmax(s / T, -1);
  const auto log_p_t = torch::log_softmax(t / T, -1);
  auto kl = (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1).mean();
  return t2_scale ? kl * (T * T) : kl;
}

torch::Tensor soft_cross_entropy(const torch::Tensor& s, const torch::Tensor& t, double T, bool t2_scale) {
  check_same(s, t, "soft_cross_entropy");
  auto ce = -(torch::softmax(t / T, -1) * torch::log_softmax(s / T, -1)).sum(-1).mean();
  return t2_scale ? ce * (T * T) : ce;
}

torch::Tensor logit_mse(const torch::Tensor& s, const torch::Tensor& t) {
  check_same(s, t, "logit_mse");
  return (s - t).pow(2).mean();
}

torch::Tensor hard_cross_entropy(const torch::Tensor& s, const torch::Tensor& labels) {
  return F::cross_entropy(s, labels);
}

torch::Tensor hidden_mse(const torch::Tensor& s, const torch::Tensor& t, const torch::Tensor& mask) {
  check_same(s, t, "hidden_mse");
  const auto m = float_mask(mask, s).unsqueeze(-1);  // [B, T, 1]
  const auto denom = m.sum() * s.size(-1);
  return ((s - t).pow(2) * m).sum() / denom.clamp_min(1);
}

torch::Tensor hidden_cosine(const torch::Tensor& s, const torch::Tensor& t, const torch::Tensor& mask) {
  check_same(s, t, "hidden_cosine");
  const auto m = float_mask(mask, s);
  const auto cos = F::cosine_similarity(s, t, F::CosineSimilarityFuncOptions().dim(-1).eps(1e-8));
  return ((1 - cos) * m).sum() / m.sum().clamp_min(1);
}

torch::Tensor normalized_cls_mse(const torch::Tensor& s, const torch::Tensor& t) {
  const auto cs = s.dim() == 3 ? s.select(1, 0) : s;
  const auto ct = t.dim() == 3 ? t.select(1, 0) : t;
  check_same(cs, ct, "normalized_cls_mse");
  const auto ns = cs / cs.norm(2, -1, true).clamp_min(1e-12);
  const auto nt = ct / ct.norm(2, -1, true).clamp_min(1e-12);
  return (ns - nt).pow(2).sum(-1).mean();
}

torch::Tensor vector_mse(const torch::Tensor& s, const torch::Tensor& t) {
  check_same(s, t, "vector_mse");
  return (s - t).pow(2).mean();
}

torch::Tensor vector_cosine(const torch::Tensor& s, const torch::Tensor& t) {
  check_same(s, t, "vector_cosine");
  return (1 - torch::cosine_similarity(s, t, -1, 1e-8)).mean();
}

torch::Tensor attention_score_mse(const torch::Tensor& student, const torch::Tensor& teacher,
                                  const torch::Tensor& mask) {
  auto [s, t] = align_heads(student, teacher);
  check_same(s, t, "attention_score_mse");
  const auto m = float_mask(mask, s);
  const auto pair = (m.unsqueeze(2) * m.unsqueeze(1)).unsqueeze(1);  // [B, 1, T, T]
  const auto denom = pair.sum() * s.size(1);
  return ((s - t).pow(2) * pair).sum() / denom.clamp_min(1);
}

torch::Tensor attention_kl(const torch::Tensor& student, const torch::Tensor& teacher, const torch::Tensor& mask) {
  auto [s, t] = align_heads(student, teacher);
  check_same(s, t, "attention_kl");
  const auto m = float_mask(mask, s);
  const auto key = m.unsqueeze(1).unsqueeze(2);                                   // [B,1,1,T]
  const auto log_s = torch::log(s.clamp_min(1e-12));
  const auto log_t = torch::log(t.clamp_min(1e-12));
  const auto row_kl = (t * (log_t - log_s) * key).sum(-1);                       // [B, heads, T]
  const auto q = m.unsqueeze(1);                                                  // [B,1,T]
  return (row_kl * q).sum() / (q.sum() * s.size(1)).clamp_min(1);
}

}  // namespace kdtext::distill
