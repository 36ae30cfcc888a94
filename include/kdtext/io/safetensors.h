// Reader and writer for the safetensors format: an 8-byte little-endian
// header length N, N bytes of JSON header {name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the raw
// little-endian tensor data (offsets relative to the data section).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace kdtext::io {

using TensorMap = std::map<std::string, torch::Tensor>;

// Writes tensors (moved to CPU, contiguous; F32/F16/BF16/F64/I64/I32) with
// optional string metadata. Atomic: temporary file then rename.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

struct SafetensorsFile {
  TensorMap tensors;                           // CPU tensors in their stored dtype
  std::map<std::string, std::string> metadata;
};

// Reads and validates a file: header length within the file, JSON well
// formed, known dtypes, shapes matching byte ranges, ranges inside the data
// section and not overlapping. Throws InputError naming the file and tensor.
SafetensorsFile load_safetensors(const std::filesystem::path& path);

}  // namespace kdtext::io
