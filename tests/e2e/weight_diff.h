// Comparing two checkpoints' weights (the device and data-parallel tests).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "kdtext/io/safetensors.h"

namespace kdtext::testing {

// Largest |a - b| over the tensors of two safetensors files (same names), in float64.
inline double max_weight_difference(const std::filesystem::path& a, const std::filesystem::path& b) {
  const auto x = io::load_safetensors(a).tensors, y = io::load_safetensors(b).tensors;
  EXPECT_EQ(x.size(), y.size());
  double worst = 0;
  for (const auto& [name, t] : x) {
    const auto it = y.find(name);
    if (it == y.end()) {
      ADD_FAILURE() << name << " missing from " << b;
      continue;
    }
    worst = std::max(worst, (t.to(torch::kDouble) - it->second.to(torch::kDouble)).abs().max().item<double>());
  }
  return worst;
}

}  // namespace kdtext::testing
