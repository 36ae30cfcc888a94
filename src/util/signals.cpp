#include "kdtext/util/signals.h"

#include <atomic>

namespace kdtext {

namespace {
std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal.store(sig); }
}  // namespace

StopSignalScope::StopSignalScope() {
  g_stop_signal.store(0);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
}

StopSignalScope::~StopSignalScope() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

int StopSignalScope::received() { return g_stop_signal.load(); }
void StopSignalScope::request(int signal) { g_stop_signal.store(signal); }

}  // namespace kdtext
