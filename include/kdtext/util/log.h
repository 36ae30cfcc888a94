// Logging front-end. spdlog stays behind this header (compiled in its own
// translation unit: LibTorch bundles a newer {fmt} than Debian's spdlog
// expects, so the two must never meet in one translation unit). Messages are
// built by streaming the arguments: log::info("step ", step, " loss ", loss).
#pragma once

#include <sstream>
#include <string>

namespace kdtext::log {

enum class Level { kTrace = 0, kDebug, kInfo, kWarn, kError, kOff };

struct LogOptions {
  std::string level = "info";  // trace|debug|info|warn|error|off
  std::string file;            // also append log lines to this file when set
  bool quiet = false;          // only warnings and errors on stderr
};

// Installs the process-wide logger for one stage. Throws ConfigError on an
// unknown level or an unwritable log file.
void init(const std::string& stage, const LogOptions& options);
// Parses a level name; throws ConfigError naming `key` when it is unknown.
Level parse_level(const std::string& name, const std::string& key);

bool enabled(Level level);
void write(Level level, const std::string& message);

template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream s;
  (s << ... << args);
  return s.str();
}
// Fixed-point number for messages: fixed(3.14159, 2) == "3.14".
std::string fixed(double value, int digits);

template <typename... Args>
void trace(const Args&... a) { if (enabled(Level::kTrace)) write(Level::kTrace, cat(a...)); }
template <typename... Args>
void debug(const Args&... a) { if (enabled(Level::kDebug)) write(Level::kDebug, cat(a...)); }
template <typename... Args>
void info(const Args&... a) { if (enabled(Level::kInfo)) write(Level::kInfo, cat(a...)); }
template <typename... Args>
void warn(const Args&... a) { if (enabled(Level::kWarn)) write(Level::kWarn, cat(a...)); }
template <typename... Args>
void error(const Args&... a) { if (enabled(Level::kError)) write(Level::kError, cat(a...)); }

}  // namespace kdtext::log
