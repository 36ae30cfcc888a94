// Intra-op threads that yield to other processes. Two LibTorch processes that
// each run as many OpenMP threads as there are cores spin against each other
// (a thread that waits at a barrier busy-waits while the thread it waits for
// is descheduled): measured here, a 2-thread kdtext-classify next to another
// 2-thread LibTorch process ran batch-1 inference 7x slower than alone, but
// only 1.9x slower with one thread. Passive waiting (OMP_WAIT_POLICY=PASSIVE)
// cured the contention but made the quiet machine 3.5x slower at batch 1.
// So kdtext measures how many cores the other processes keep busy and runs
// on the rest (at least one thread, at most the requested count).
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace kdtext::infer {

// The rule: the requested count, less the cores others keep busy (rounded
// to the nearest core), at least 1.
int threads_for_load(int requested, int cores, double others_busy_cores);

class AdaptiveThreads {
 public:
  // `requested`: the run's thread count (the maximum). Takes a first reading
  // now (runnable tasks in /proc/loadavg, less this one); call it before the
  // process starts threads of its own.
  explicit AdaptiveThreads(int requested);
  // Call before each batch: at most every 200 ms, re-measures the busy time
  // of the other processes (/proc/stat less this process's CPU time) and sets
  // LibTorch's thread count; a change is logged. Safe to call from several
  // threads (one Classifier shared by a service's threads).
  void update();
  int threads() const { return threads_; }

 private:
  void apply(int threads, double others_busy);
  int requested_, cores_, threads_;
  std::chrono::steady_clock::time_point last_;
  double last_busy_ = 0, last_self_ = 0;  // seconds: all CPUs' busy time, this process's CPU time
  bool readable_ = true;
  std::mutex mutex_;
};

}  // namespace kdtext::infer
