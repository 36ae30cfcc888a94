// Lazy AdamW for sparse gradients (train/sparse_rows.h), checked against
// LibTorch's own dense AdamW (an independent implementation) and against
// AdamW's rule written out in float64.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "kdtext/train/sparse_rows.h"

namespace sparse_rows_test {

torch::Tensor sparse_rows(const std::vector<int64_t>& rows, const torch::Tensor& values, int64_t n) {
  return torch::sparse_coo_tensor(torch::tensor(rows, torch::kLong).unsqueeze(0), values, {n, values.size(1)});
}

torch::optim::AdamWOptions options() { return torch::optim::AdamWOptions(0.01).betas({0.8, 0.9}).eps(1e-6).weight_decay(0.1); }

TEST(SparseRows, EveryRowTouchedMatchesDenseAdamW) {
  torch::manual_seed(3);
  const auto start = torch::randn({4, 3});
  auto dense = start.clone().requires_grad_(true), lazy = start.clone().requires_grad_(true);
  torch::optim::AdamW dense_opt({dense}, options()), lazy_opt({lazy}, options());
  for (int step = 0; step < 3; ++step) {
    const auto g = torch::randn({4, 3});
    dense.mutable_grad() = g.clone();
    // rows listed out of order, row 2 split in two halves: coalescing sums them
    lazy.mutable_grad() = sparse_rows({3, 2, 0, 1, 2}, torch::stack({g[3], g[2] * 0.25, g[0], g[1], g[2] * 0.75}), 4);
    dense_opt.step();
    kdtext::train::step_sparse_rows(lazy_opt);
    EXPECT_FALSE(lazy.grad().defined());
    lazy_opt.step();  // nothing left for the dense step
    EXPECT_TRUE(torch::allclose(lazy.detach(), dense.detach(), 1e-6, 1e-6)) << "step " << step;
  }
}

TEST(SparseRows, UntouchedRowsAndTheirMomentsStayAsTheyWere) {
  const auto start = torch::tensor({{1.0, -2.0}, {0.5, 3.0}, {-1.0, 4.0}});
  auto p = start.clone().requires_grad_(true);
  torch::optim::AdamW opt({p}, options());
  const double lr = 0.01, b1 = 0.8, b2 = 0.9, eps = 1e-6, wd = 0.1;
  const double g1[2] = {0.3, -0.6}, g2[2] = {-0.2, 0.1};
  p.mutable_grad() = sparse_rows({1}, torch::tensor({{g1[0], g1[1]}}, torch::kFloat), 3);
  kdtext::train::step_sparse_rows(opt);
  p.mutable_grad() = sparse_rows({1}, torch::tensor({{g2[0], g2[1]}}, torch::kFloat), 3);
  kdtext::train::step_sparse_rows(opt);
  for (int j = 0; j < 2; ++j) {  // AdamW by hand, float64, two steps on row 1
    double w = start[1][j].item<double>(), m = 0, v = 0;
    for (int t = 1; t <= 2; ++t) {
      const double g = t == 1 ? g1[j] : g2[j];
      w *= 1 - lr * wd;
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      w -= lr / (1 - std::pow(b1, t)) * m / (std::sqrt(v) / std::sqrt(1 - std::pow(b2, t)) + eps);
    }
    EXPECT_NEAR(p[1][j].item<double>(), w, 1e-6);
  }
  EXPECT_TRUE(torch::equal(p.detach()[0], start[0]));
  EXPECT_TRUE(torch::equal(p.detach()[2], start[2]));
  const auto& s = static_cast<torch::optim::AdamWParamState&>(*opt.state().at(p.unsafeGetTensorImpl()));
  EXPECT_EQ(s.step(), 2);
  EXPECT_EQ(s.exp_avg()[0].abs().sum().item<double>(), 0.0);
}

TEST(SparseRows, DenseGradientsAreLeftToTheOptimiser) {
  auto p = torch::ones({2, 2}).requires_grad_(true);
  torch::optim::AdamW opt({p}, options());
  p.mutable_grad() = torch::ones({2, 2});
  kdtext::train::step_sparse_rows(opt);
  EXPECT_TRUE(p.grad().defined());
  EXPECT_TRUE(torch::equal(p.detach(), torch::ones({2, 2})));
}

TEST(SparseRows, CoalescingAndDensifyingKeepTheGradient) {
  auto p = torch::zeros({3, 2}).requires_grad_(true);
  const auto values = torch::tensor({{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}});
  p.mutable_grad() = sparse_rows({2, 0, 2}, values, 3);
  kdtext::train::coalesce_sparse_grads({p});
  EXPECT_TRUE(p.grad().is_coalesced());
  EXPECT_NEAR(p.grad().norm().item<double>(), std::sqrt(9 + 16 + 36 + 64.0), 1e-5);  // row 0 (3, 4), row 2 (1+5, 2+6)
  kdtext::train::densify_sparse_grads({p});
  EXPECT_FALSE(p.grad().is_sparse());
  EXPECT_TRUE(torch::equal(p.grad(), torch::tensor({{3.0, 4.0}, {0.0, 0.0}, {6.0, 8.0}})));
}

TEST(SparseRows, AmsgradIsRefused) {
  auto p = torch::ones({2, 2}).requires_grad_(true);
  torch::optim::AdamW opt({p}, options().amsgrad(true));
  p.mutable_grad() = sparse_rows({0}, torch::ones({1, 2}), 2);
  EXPECT_THROW(kdtext::train::step_sparse_rows(opt), std::invalid_argument);
}

}  // namespace sparse_rows_test
