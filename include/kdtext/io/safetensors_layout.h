// The torch-free half of the safetensors reader: the 8-byte header length and
// the JSON header, validated against the file's size. io/safetensors.h turns
// a layout into tensors; the fuzz target tests/fuzz/safetensors.cpp drives
// this parser with arbitrary bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kdtext::io {

// One tensor's entry, checked: known dtype, shape product times element size
// equal to the byte range, range inside the data section.
struct TensorLayout {
  std::string name;
  std::string dtype;          // safetensors name: F32, BF16, I64, ...
  size_t element_bytes = 0;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // relative to the data section
};

struct SafetensorsLayout {
  uint64_t data_start = 0;               // 8 + header length: where the data section begins
  std::vector<TensorLayout> tensors;     // in header order; ranges do not overlap
  std::map<std::string, std::string> metadata;
};

// Bytes per element of a safetensors dtype name; 0 when unknown or unsupported.
size_t safetensors_dtype_bytes(const std::string& name);

// The header length stored in `first8` (little-endian), checked against a
// file of `file_size` bytes. Throws InputError naming `origin`.
uint64_t safetensors_header_length(const char* first8, uint64_t file_size, const std::string& origin);

// Parses the JSON `header` of a file of `file_size` bytes. Throws InputError
// naming `origin` and the tensor on every inconsistency.
SafetensorsLayout parse_safetensors_header(std::string_view header, uint64_t file_size, const std::string& origin);

}  // namespace kdtext::io
