// How much memory this process may still take, read before a large
// allocation so that "too big" is an error naming the setting, not an abort
// inside the allocator.
#pragma once

#include <cstdint>
#include <string>

namespace kdtext {

struct MemoryBudget {
  double bytes = 0;   // the smallest of the limits below
  std::string limit;  // which one: "MemAvailable", "cgroup memory.max", "ulimit -v"
};

// The smallest of: MemAvailable (/proc/meminfo), the cgroup's memory.max less
// its memory.current, and RLIMIT_AS (ulimit -v) less this process's VmSize.
// KDTEXT_MEMORY_LIMIT_MB, where set, is one more limit (for tests).
MemoryBudget available_memory();

// "1.5 GiB", "320.0 MiB".
std::string human_bytes(double bytes);

}  // namespace kdtext
