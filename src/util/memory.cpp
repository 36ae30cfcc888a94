#include "kdtext/util/memory.h"

#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "kdtext/error.h"

namespace kdtext {

namespace {
// "<key>: <value> kB" from a /proc file, in bytes; -1 when absent.
double proc_kb(const char* file, const std::string& key) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) != 0) continue;
    std::istringstream s(line.substr(key.size() + 1));
    double kb = -1;
    s >> kb;
    return kb >= 0 ? kb * 1024.0 : -1;
  }
  return -1;
}

double number_file(const char* file) {
  std::ifstream in(file);
  std::string v;
  if (!(in >> v) || v == "max") return -1;
  try {
    return std::stod(v);
  } catch (const std::exception&) {
    return -1;
  }
}
}  // namespace

MemoryBudget available_memory() {
  MemoryBudget b{std::numeric_limits<double>::infinity(), "none"};
  const auto consider = [&](double bytes, const char* name) {
    if (bytes >= 0 && bytes < b.bytes) b = {bytes, name};
  };
  consider(proc_kb("/proc/meminfo", "MemAvailable"), "MemAvailable in /proc/meminfo");
  const double max = number_file("/sys/fs/cgroup/memory.max");
  if (max >= 0) {
    const double used = number_file("/sys/fs/cgroup/memory.current");
    consider(max - (used > 0 ? used : 0), "the cgroup's memory.max");
  }
  struct rlimit rl {};
  if (::getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
    const double vm = proc_kb("/proc/self/status", "VmSize");
    consider(static_cast<double>(rl.rlim_cur) - (vm > 0 ? vm : 0), "the address-space limit (ulimit -v)");
  }
  if (const char* mb = std::getenv("KDTEXT_MEMORY_LIMIT_MB")) {
    const std::string v = mb;
    size_t used = 0;
    double x = -1;
    try {
      x = std::stod(v, &used);
    } catch (const std::exception&) {
    }
    if (v.empty() || used != v.size() || !(x > 0) || !std::isfinite(x)) {
      throw ConfigError("KDTEXT_MEMORY_LIMIT_MB: '" + v.substr(0, 40) + "' is not a positive number of MiB");
    }
    consider(x * 1024.0 * 1024.0, "KDTEXT_MEMORY_LIMIT_MB");
  }
  return b;
}

void check_working_memory(const std::string& what) {
  const MemoryBudget b = available_memory();
  if (b.bytes >= kWorkingMemoryFloor) return;
  const std::string why = (what.empty() ? std::string() : what + ": ") + "only " + human_bytes(b.bytes < 0 ? 0 : b.bytes) +
                          " of memory available (" + b.limit + "); kdtext needs at least " +
                          human_bytes(kWorkingMemoryFloor) + " beyond its libraries to run";
  if (b.limit == "KDTEXT_MEMORY_LIMIT_MB") throw ConfigError(why);  // the user's own setting
  throw InputError(why);
}

std::string human_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 6) {
    bytes /= 1024.0;
    ++u;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
  return buf;
}

}  // namespace kdtext
