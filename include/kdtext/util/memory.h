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

// What a stage needs beyond its model (LibTorch's workspaces, the tokenizer,
// batches): below this, a run is refused at its start instead of failing
// somewhere inside a library (sentencepiece's model parser crashes when an
// allocation fails half-way).
inline constexpr double kWorkingMemoryFloor = 256.0 * 1024 * 1024;

// InputError "<what>: only X of memory available (<limit>); kdtext needs at
// least 256.0 MiB beyond its libraries to run" when available_memory() is
// below the floor (no "<what>: " when `what` is empty).
void check_working_memory(const std::string& what);

// "1.5 GiB", "320.0 MiB".
std::string human_bytes(double bytes);

}  // namespace kdtext
