// safetensors: the 8-byte header length, the JSON header and every tensor's
// byte range (read here as the loader reads it, so ASan sees a range that
// leaves the buffer).
#include <cstring>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "kdtext/io/safetensors_layout.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string origin = "fuzz.safetensors";
  const char* bytes = reinterpret_cast<const char*>(data);
  fuzz::expect_typed_errors(origin, [&] {
    char first8[8] = {};
    std::memcpy(first8, bytes, size < 8 ? size : 8);
    const uint64_t n = kdtext::io::safetensors_header_length(first8, size, origin);
    const auto layout = kdtext::io::parse_safetensors_header(std::string_view(bytes + 8, n), size, origin);
    fuzz::check(layout.data_start == 8 + n, "data_start");
    for (const auto& t : layout.tensors) {
      uint64_t numel = 1;
      for (int64_t d : t.shape) numel *= static_cast<uint64_t>(d);
      fuzz::check(t.begin <= t.end && layout.data_start + t.end <= size, "range inside the file");
      fuzz::check(numel * t.element_bytes == t.end - t.begin, "shape matches the range");
      std::vector<char> tensor(t.end - t.begin);
      if (!tensor.empty()) std::memcpy(tensor.data(), bytes + layout.data_start + t.begin, tensor.size());
    }
  });
  return 0;
}
