// Typed errors thrown by the library. Executables map them to exit codes:
// ConfigError -> 2 (usage or configuration), anything else -> 1 (runtime).
#pragma once

#include <stdexcept>
#include <string>

namespace kdtext {

// A flag, configuration key or argument is wrong. The message names the flag
// or key and the offending value.
class ConfigError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Input data or a file is unusable (malformed line, bad format, unreadable
// file). The message names the file and, where it applies, the line.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A run stopped by SIGINT/SIGTERM after saving a resumable checkpoint. The
// executable exits with 128 + signal.
class Interrupted : public std::runtime_error {
 public:
  Interrupted(int signal, const std::string& what) : std::runtime_error(what), signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

}  // namespace kdtext
