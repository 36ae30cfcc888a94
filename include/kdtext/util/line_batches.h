// Lines of a stream (a pipe, a terminal, a socket) handed on as they arrive,
// in batches: a batch closes when it holds `max_lines` lines, `wait_ms` after
// its first line arrived, or at end of input, whichever comes first. For
// tools that must answer each line of `tail -f log | tool` without waiting for
// the end of input, while still batching the lines that come together.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace kdtext {

// Reads `fd` until end of input; calls `batch(lines, first_line)` with whole
// lines (each ending in '\n'; a last line without one gets it) and the 1-based
// number of the first. Throws std::runtime_error on a read error.
void read_line_batches(int fd, int64_t max_lines, int64_t wait_ms,
                       const std::function<void(const std::string& lines, uint64_t first_line)>& batch);

}  // namespace kdtext
