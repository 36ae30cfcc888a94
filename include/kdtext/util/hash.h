// FNV-1a 64-bit, fed in pieces: the one content hash of the project (tokenizer
// fingerprints, the distillation store's keys, the inputs a run trains on).
// Identity, not security.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace kdtext {

class Fnv1a64 {
 public:
  void add(std::string_view bytes) {
    for (const unsigned char c : bytes) {
      h_ ^= c;
      h_ *= 1099511628211ULL;
    }
    bytes_ += bytes.size();
  }
  uint64_t value() const { return h_; }
  uint64_t bytes() const { return bytes_; }
  // "fnv1a64:<16 hex digits>"
  std::string hex() const {
    char buf[32];
    std::snprintf(buf, sizeof buf, "fnv1a64:%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  uint64_t h_ = 1469598103934665603ULL, bytes_ = 0;
};

}  // namespace kdtext
