// Reader and writer for the safetensors format: an 8-byte little-endian
// header length N, N bytes of JSON header {name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the raw
// little-endian tensor data (offsets relative to the data section).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kdtext {
class AtomicFileWriter;
}

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

// Files too large to hold in memory (a teacher's cached rows on a transfer set
// of millions of sentences, issue 28): written a slice of rows at a time, read
// back as views of a read-only mapping, so the kernel pages them in as they
// are read and may drop them again under memory pressure (clean file pages,
// never swap).
// The file as load_safetensors reads it (same checks, same errors naming the
// file and tensor), but every tensor is a view of a private read-only mapping
// kept alive by the tensors themselves. Writing to one is an error (the
// mapping is read-only: the process faults), so clone() before changing.
SafetensorsFile map_safetensors(const std::filesystem::path& path);

// One tensor of known dtype and shape written to a safetensors file in slices
// along its first dimension, in order: append() [k, shape[1:]...] rows until
// all shape[0] are there, then commit(). Atomic as save_safetensors (a
// temporary file, renamed by commit(); removed when destroyed uncommitted).
// The metadata also records the CRC-32 of the tensor's bytes under
// kDataCrcKey (8 hex digits), so a reader can tell a damaged file.
inline constexpr const char* kDataCrcKey = "kdtext_crc32";
// CRC-32 of a tensor's bytes (contiguous, on the CPU) as 8 hex digits.
std::string data_crc32(const torch::Tensor& t);

class SafetensorsRowWriter {
 public:
  SafetensorsRowWriter(const std::filesystem::path& path, const std::string& name, torch::ScalarType dtype,
                       std::vector<int64_t> shape, const std::map<std::string, std::string>& metadata = {});
  ~SafetensorsRowWriter();
  SafetensorsRowWriter(const SafetensorsRowWriter&) = delete;
  SafetensorsRowWriter& operator=(const SafetensorsRowWriter&) = delete;
  // std::invalid_argument for a wrong dtype, a wrong row shape, or rows past shape[0].
  void append(const torch::Tensor& rows);
  // std::logic_error when rows are missing; std::runtime_error naming the file on write failure.
  void commit();
  int64_t rows_written() const { return written_; }

 private:
  std::filesystem::path path_;
  std::string name_;
  torch::ScalarType dtype_;
  std::vector<int64_t> shape_;
  int64_t written_ = 0;
  uint32_t crc_ = 0;
  uint64_t crc_at_ = 0;  // where the placeholder digits sit in the header
  std::unique_ptr<AtomicFileWriter> out_;
};


using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

struct LoadRules {
  // Target names allowed to be absent from the weights (kept as initialised),
  // by prefix, e.g. "classifier." when a classifier starts from a pretrained encoder.
  std::vector<std::string> allow_missing_prefixes;
  // Stored names allowed to have no target, by prefix, e.g. "cls.".
  std::vector<std::string> allow_unexpected_prefixes;
};

// A stored weight a model may use: floating point (F32, F16, BF16, F64; an
// integer tensor is not converted) and finite (no NaN or infinity). InputError
// naming `origin` and the tensor otherwise. Used by load_tensors and the
// inference engine's loader.
void check_weight(const std::string& origin, const std::string& name, const torch::Tensor& stored);

// The one weight loader: copies `weights` into `targets` by name (converting
// dtype and device). A missing or unexpected name, or a shape mismatch, is an
// InputError naming the tensor and `origin`.
void load_tensors(const NamedTensors& targets, const TensorMap& weights, const std::string& origin,
                  const LoadRules& rules = {});

// Parameters and buffers of any module, by name.
NamedTensors module_tensors(const torch::nn::Module& module);
// Loads a safetensors file written from `module_tensors(module)` back into it.
void load_module_file(torch::nn::Module& module, const std::filesystem::path& file);

}  // namespace kdtext::io
