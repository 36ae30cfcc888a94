#include "kdtext/train/sparse_rows.h"

#include <cmath>
#include <memory>
#include <stdexcept>

namespace kdtext::train {

void coalesce_sparse_grads(const std::vector<torch::Tensor>& params) {
  for (const auto& p : params) {
    if (p.grad().defined() && p.grad().is_sparse()) p.mutable_grad() = p.grad().coalesce();
  }
}

void densify_sparse_grads(const std::vector<torch::Tensor>& params) {
  for (const auto& p : params) {
    if (p.grad().defined() && p.grad().is_sparse()) p.mutable_grad() = p.grad().to_dense();
  }
}

namespace {

torch::optim::AdamWParamState& state_of(torch::optim::AdamW& optimizer, const torch::Tensor& p) {
  auto& slot = optimizer.state()[p.unsafeGetTensorImpl()];
  if (!slot) {
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(0);
    s->exp_avg(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    s->exp_avg_sq(torch::zeros_like(p, torch::MemoryFormat::Preserve));
    slot = std::move(s);
  }
  return static_cast<torch::optim::AdamWParamState&>(*slot);
}

void update_rows(torch::optim::AdamW& optimizer, const torch::optim::AdamWOptions& o, const torch::Tensor& p) {
  const auto grad = p.grad().coalesce();
  const auto rows = grad._indices().select(0, 0);
  const auto g = grad._values();
  auto& s = state_of(optimizer, p);
  s.step(s.step() + 1);
  const auto [beta1, beta2] = o.betas();
  const double correction1 = 1 - std::pow(beta1, static_cast<double>(s.step()));
  const double correction2 = 1 - std::pow(beta2, static_cast<double>(s.step()));
  auto w = p.index_select(0, rows);
  if (o.weight_decay() != 0) w.mul_(1 - o.lr() * o.weight_decay());
  auto m = s.exp_avg().index_select(0, rows).mul_(beta1).add_(g, 1 - beta1);
  auto v = s.exp_avg_sq().index_select(0, rows).mul_(beta2).addcmul_(g, g, 1 - beta2);
  s.exp_avg().index_copy_(0, rows, m);
  s.exp_avg_sq().index_copy_(0, rows, v);
  const auto denom = (v.sqrt() / std::sqrt(correction2)).add_(o.eps());
  w.addcdiv_(m, denom, -o.lr() / correction1);
  p.index_copy_(0, rows, w);
}

}  // namespace

void step_sparse_rows(torch::optim::AdamW& optimizer) {
  torch::NoGradGuard no_grad;
  for (auto& group : optimizer.param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined() || !p.grad().is_sparse()) continue;
      if (o.amsgrad()) throw std::invalid_argument("amsgrad is not supported with sparse gradients");
      update_rows(optimizer, o, p);
      p.mutable_grad() = torch::Tensor();
    }
  }
}

}  // namespace kdtext::train
