#include "kdtext/util/line_batches.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

namespace kdtext {

void read_line_batches(int fd, int64_t max_lines, int64_t wait_ms,
                       const std::function<void(const std::string& lines, uint64_t first_line)>& batch) {
  using Clock = std::chrono::steady_clock;
  std::string pending;  // bytes after the last newline
  std::string lines;    // whole lines of the open batch
  int64_t count = 0;
  uint64_t next_line = 1;
  Clock::time_point deadline{};
  const auto emit = [&] {
    if (count == 0) return;
    batch(lines, next_line);
    next_line += static_cast<uint64_t>(count);
    lines.clear();
    count = 0;
  };
  size_t searched = 0;  // pending[0, searched) holds no newline: a line of megabytes is scanned once, not per read
  const auto take_lines = [&] {  // moves whole lines from pending into batches
    size_t start = 0;
    for (size_t nl; (nl = pending.find('\n', std::max(start, searched))) != std::string::npos; start = nl + 1) {
      if (count == 0) deadline = Clock::now() + std::chrono::milliseconds(wait_ms);
      lines.append(pending, start, nl + 1 - start);
      if (++count >= max_lines) emit();
    }
    pending.erase(0, start);
    searched = pending.size();
  };
  char buf[1 << 16];
  for (;;) {
    int timeout = -1;
    if (count > 0) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) {
        emit();
        continue;
      }
      timeout = static_cast<int>(left);
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    }
    if (ready == 0) continue;  // the deadline: emitted above
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw std::runtime_error(std::string("read: ") + std::strerror(errno));
    }
    if (n == 0) break;
    pending.append(buf, static_cast<size_t>(n));
    take_lines();
  }
  if (!pending.empty()) {
    pending += '\n';
    take_lines();
  }
  emit();
}

}  // namespace kdtext
