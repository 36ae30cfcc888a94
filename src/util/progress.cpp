#include "kdtext/util/progress.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "kdtext/util/log.h"

namespace kdtext {

MetricsLog::MetricsLog(const std::filesystem::path& path) {
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) throw std::runtime_error(path.string() + ": cannot open metrics log: " + std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::write(Json record) {
  if (!file_) return;
  record["time"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const std::string line = record.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<long long>(std::llround(seconds));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  }
  return buf;
}

Progress::Progress(std::string what, double total, std::string unit, double scale, double interval_s)
    : what_(std::move(what)), unit_(std::move(unit)), total_(total), scale_(scale), interval_s_(interval_s),
      start_(std::chrono::steady_clock::now()), last_(start_) {}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double Progress::rate() const {
  const double t = elapsed_s();
  return t > 0 ? done_ / t : 0.0;
}

bool Progress::update(double done, const std::string& extra, bool force) {
  done_ = done;
  const auto now = std::chrono::steady_clock::now();
  if (!force && std::chrono::duration<double>(now - last_).count() < interval_s_) return false;
  last_ = now;
  const double r = rate();
  std::string line = what_ + ": " + log::fixed(done / scale_, 1);
  if (total_ > 0) {
    const double eta = r > 0 ? (total_ - done) / r : NAN;
    line += "/" + log::fixed(total_ / scale_, 1) + " " + unit_ + " (" + log::fixed(100.0 * done / total_, 0) +
            "%) | " + log::fixed(r / scale_, 2) + " " + unit_ + "/s | ETA " + format_duration(eta);
  } else {
    line += " " + unit_ + " | " + log::fixed(r / scale_, 2) + " " + unit_ + "/s";
  }
  if (!extra.empty()) line += " | " + extra;
  log::info(line);
  return true;
}

}  // namespace kdtext
