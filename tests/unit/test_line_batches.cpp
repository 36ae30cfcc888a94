// read_line_batches over a real pipe: lines handed on before the writer is
// done, batches closed by size, by deadline and by end of input.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "kdtext/util/line_batches.h"

using namespace kdtext;
using Clock = std::chrono::steady_clock;

namespace {

struct Batch {
  std::string lines;
  uint64_t first_line;
  Clock::time_point at;
};

// Runs the reader on a pipe fed by `feed(write_fd)` in another thread.
std::vector<Batch> read_pipe(int64_t max_lines, int64_t wait_ms, const std::function<void(int)>& feed) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  std::thread writer([&] {
    feed(fds[1]);
    ::close(fds[1]);
  });
  std::vector<Batch> out;
  read_line_batches(fds[0], max_lines, wait_ms,
                    [&](const std::string& lines, uint64_t first) { out.push_back({lines, first, Clock::now()}); });
  writer.join();
  ::close(fds[0]);
  return out;
}

void put(int fd, const std::string& s) { ASSERT_EQ(::write(fd, s.data(), s.size()), static_cast<ssize_t>(s.size())); }

}  // namespace

TEST(LineBatches, ALineIsHandedOnBeforeTheWriterIsDone) {
  Clock::time_point second_write;
  const auto batches = read_pipe(32, 20, [&](int fd) {
    put(fd, "first\nsecond\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    second_write = Clock::now();
    put(fd, "third\n");
  });
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].lines, "first\nsecond\n");
  EXPECT_EQ(batches[0].first_line, 1u);
  EXPECT_LT(batches[0].at, second_write);  // answered while the writer still held the pipe open
  EXPECT_EQ(batches[1].lines, "third\n");
  EXPECT_EQ(batches[1].first_line, 3u);
}

TEST(LineBatches, SizeClosesABatchAndALastLineWithoutNewlineCounts) {
  const auto batches = read_pipe(2, 10000, [](int fd) { put(fd, "a\nb\nc\nd\ne"); });
  ASSERT_EQ(batches.size(), 3u);
  EXPECT_EQ(batches[0].lines, "a\nb\n");
  EXPECT_EQ(batches[1].lines, "c\nd\n");
  EXPECT_EQ(batches[1].first_line, 3u);
  EXPECT_EQ(batches[2].lines, "e\n");  // at end of input, not after the 10 s deadline
  EXPECT_EQ(batches[2].first_line, 5u);
}

TEST(LineBatches, APartialLineWaitsForItsNewline) {
  const auto batches = read_pipe(32, 10, [](int fd) {
    put(fd, "hel");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    put(fd, "lo\n\nx\n");
  });
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].lines, "hello\n\nx\n");  // blank lines are passed on: numbering stays the file's
}
