// A minimal parallel loop for CPU-bound text work (normalising, encoding).
#pragma once

#include <algorithm>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace kdtext {

// Runs `fn(i)` for i in [0, n) on up to `threads` threads, in contiguous blocks.
template <typename Fn>
void parallel_for(size_t n, int threads, Fn&& fn) {
  const size_t t = std::min<size_t>(std::max(1, threads), std::max<size_t>(1, n / 64));
  if (t <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::vector<std::thread> pool;
  std::exception_ptr error;
  std::mutex error_mutex;
  const size_t block = (n + t - 1) / t;
  for (size_t w = 0; w < t; ++w) {
    pool.emplace_back([&, w] {
      try {
        for (size_t i = w * block; i < std::min(n, (w + 1) * block); ++i) fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace kdtext
