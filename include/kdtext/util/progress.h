// Progress lines for long stages (done/total, rate, ETA) and machine-readable
// metrics as JSON lines.
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "kdtext/util/json.h"

namespace kdtext {

// Appends one JSON object per line, flushed after each record.
class MetricsLog {
 public:
  MetricsLog() = default;
  explicit MetricsLog(const std::filesystem::path& path);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  // Adds "time" (seconds since the log was opened) and writes the record.
  void write(Json record);

 private:
  std::FILE* file_ = nullptr;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// Rate-limited progress reporting through the logger.
class Progress {
 public:
  // `scale` divides raw units for display (e.g. 1e6 to show MB).
  Progress(std::string what, double total, std::string unit, double scale = 1.0, double interval_s = 2.0);
  // Logs at most every interval (or always with `force`); returns true when it logged.
  bool update(double done, const std::string& extra = "", bool force = false);
  double elapsed_s() const;
  double rate() const;  // raw units per second so far

 private:
  std::string what_, unit_;
  double total_, scale_, interval_s_;
  double done_ = 0;
  std::chrono::steady_clock::time_point start_, last_;
};

// "1:02:03" / "2:03" style durations.
std::string format_duration(double seconds);

// Wall-clock seconds since `t`.
inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace kdtext
