#include "kdtext/infer/threads.h"

#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "kdtext/util/log.h"

namespace kdtext::infer {

int threads_for_load(int requested, int cores, double others_busy_cores) {
  const int free = static_cast<int>(std::lround(static_cast<double>(cores) - std::max(0.0, others_busy_cores)));
  return std::clamp(free, 1, std::max(1, requested));
}

namespace {
// Busy seconds of all CPUs since boot (the "cpu" line of /proc/stat less idle
// and iowait), or a negative number when it cannot be read.
double busy_seconds() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  if (!(in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) || cpu != "cpu") return -1;
  return (user + nice + system + irq + softirq + steal) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double self_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// Runnable tasks on the machine right now (the 4th field of /proc/loadavg,
// "running/total"), or -1.
int runnable_tasks() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c, running;
  if (!(in >> a >> b >> c >> running)) return -1;
  try {
    return std::stoi(running.substr(0, running.find('/')));
  } catch (const std::exception&) {
    return -1;
  }
}
}  // namespace

AdaptiveThreads::AdaptiveThreads(int requested)
    : requested_(std::max(1, requested)),
      cores_(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))),
      threads_(requested_),
      last_(std::chrono::steady_clock::now()),
      last_busy_(busy_seconds()),
      last_self_(self_seconds()) {
  readable_ = last_busy_ >= 0;
  const int runnable = runnable_tasks();
  if (runnable > 0) apply(threads_for_load(requested_, cores_, runnable - 1), runnable - 1);
}

void AdaptiveThreads::update() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!readable_) return;
  const auto now = std::chrono::steady_clock::now();
  const double wall = std::chrono::duration<double>(now - last_).count();
  if (wall < 0.2) return;
  const double busy = busy_seconds(), self = self_seconds();
  if (busy < 0) {
    readable_ = false;
    return;
  }
  const double others = std::max(0.0, (busy - last_busy_) - (self - last_self_)) / wall;
  last_ = now;
  last_busy_ = busy;
  last_self_ = self;
  apply(threads_for_load(requested_, cores_, others), others);
}

void AdaptiveThreads::apply(int threads, double others_busy) {
  if (threads == threads_ && threads == torch::get_num_threads()) return;
  log::info("other processes keep ", log::fixed(others_busy, 1), " of ", cores_, " cores busy: ", threads,
            " intra-op thread(s) of the ", requested_, " requested (--adaptive-threads off keeps them all)");
  threads_ = threads;
  torch::set_num_threads(threads);
}

}  // namespace kdtext::infer
