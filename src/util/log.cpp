// The only translation unit that includes spdlog (see kdtext/util/log.h).
#include "kdtext/util/log.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "kdtext/error.h"

namespace kdtext::log {
namespace {
spdlog::level::level_enum to_spdlog(Level l) {
  switch (l) {
    case Level::kTrace: return spdlog::level::trace;
    case Level::kDebug: return spdlog::level::debug;
    case Level::kInfo: return spdlog::level::info;
    case Level::kWarn: return spdlog::level::warn;
    case Level::kError: return spdlog::level::err;
    case Level::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}
}  // namespace

Level parse_level(const std::string& name, const std::string& key) {
  static const char* kNames[] = {"trace", "debug", "info", "warn", "error", "off"};
  for (int i = 0; i < 6; ++i) {
    if (name == kNames[i]) return static_cast<Level>(i);
  }
  throw ConfigError(key + ": unknown log level '" + name + "' (expected trace, debug, info, warn, error or off)");
}

void init(const std::string& stage, const LogOptions& options) {
  const auto level = to_spdlog(parse_level(options.level, "--log-level"));
  auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  console->set_level(options.quiet ? std::max(level, spdlog::level::warn) : level);
  std::vector<spdlog::sink_ptr> sinks{console};
  if (!options.file.empty()) {
    try {
      auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file, false);
      file->set_level(level);
      sinks.push_back(file);
    } catch (const spdlog::spdlog_ex& e) {
      throw ConfigError("--log-file: cannot open '" + options.file + "' for writing: " + e.what());
    }
  }
  auto logger = std::make_shared<spdlog::logger>(stage, sinks.begin(), sinks.end());
  logger->set_level(level);
  logger->set_pattern("%Y-%m-%d %H:%M:%S [%n] %^%l%$: %v");
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

bool enabled(Level level) { return spdlog::default_logger_raw()->should_log(to_spdlog(level)); }

void write(Level level, const std::string& message) {
  spdlog::default_logger_raw()->log(to_spdlog(level), "{}", message);
}

std::string fixed(double value, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, value);
  return buf;
}

}  // namespace kdtext::log
