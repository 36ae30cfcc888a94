// Shared by the libFuzzer targets. The contract every parser is fuzzed
// against: arbitrary bytes either parse, or are refused with kdtext's typed
// errors (InputError, ConfigError) whose message names the input; anything
// else (another exception, a sanitizer report, a broken invariant) is a finding.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "kdtext/error.h"

namespace fuzz {

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "FINDING: %s\n", what.c_str());
  std::abort();
}

inline void check(bool ok, const std::string& what) {
  if (!ok) finding("broken invariant: " + what);
}

// Runs `f`; a typed error is the expected way to refuse bytes, and must name
// `origin` (the file name the caller passed) unless `origin` is empty.
template <typename F>
void expect_typed_errors(const std::string& origin, F&& f) {
  try {
    f();
  } catch (const kdtext::InputError& e) {
    if (!origin.empty() && std::string(e.what()).find(origin) == std::string::npos) {
      finding(std::string("InputError without the file name: ") + e.what());
    }
  } catch (const kdtext::ConfigError& e) {
    if (!origin.empty() && std::string(e.what()).find(origin) == std::string::npos) {
      finding(std::string("ConfigError without the file name: ") + e.what());
    }
  }
}

// An in-memory file holding `bytes`, reachable by path (/proc/self/fd/N),
// for the readers that open a path.
class MemFile {
 public:
  MemFile(const uint8_t* data, size_t size) : fd_(memfd_create("kdtext-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) finding("memfd_create failed");
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::write(fd_, data + done, size - done);
      if (n <= 0) finding("write to memfd failed");
      done += static_cast<size_t>(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

// The first input byte as option bits; the rest as the payload.
struct Split {
  uint8_t flags = 0;
  std::string payload;
};
inline Split split_flags(const uint8_t* data, size_t size) {
  Split s;
  if (size > 0) {
    s.flags = data[0];
    s.payload.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  }
  return s;
}

}  // namespace fuzz
