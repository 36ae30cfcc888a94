// SIGINT/SIGTERM as a request to stop at the next safe point, for the
// duration of a scope: long stages (training, augmentation) poll it and end
// cleanly (a checkpoint, or no half-written output) instead of dying mid-write.
#pragma once

#include <signal.h>

namespace kdtext {

class StopSignalScope {
 public:
  StopSignalScope();  // clears any earlier request
  ~StopSignalScope();
  StopSignalScope(const StopSignalScope&) = delete;
  StopSignalScope& operator=(const StopSignalScope&) = delete;

  // The signal received since the scope began (0: none).
  static int received();
  // As if `signal` had been received (tests, Trainer::request_stop).
  static void request(int signal);

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

}  // namespace kdtext
