// data.pkl of a torch.save state dict (pytorch_model.bin), parsed without
// Python or LibTorch (so it is fuzzed like every other reader of outside
// bytes: tests/fuzz/torch_zip.cpp). io/hf.h's read_torch_state_dict turns the
// result into tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kdtext::io {

class ZipArchive;

struct PickledStorage {
  std::string key;  // its record is data/<key>
  std::string type;  // "torch.FloatStorage", ...
  size_t element_bytes = 0;
  int64_t numel = 0;  // checked against its record's size
};
struct PickledTensor {
  size_t storage = 0;  // index into PickledStateDict::storages
  int64_t offset = 0;
  std::vector<int64_t> size, stride;  // the view lies inside its storage (checked)
};
struct PickledStateDict {
  std::vector<PickledStorage> storages;
  std::map<std::string, PickledTensor> tensors;  // a key saved twice: the last, as Python reads it
};

// Bytes per element of a storage class ("torch.FloatStorage": 4); 0 for any other name.
size_t storage_element_bytes(const std::string& type);

// The size of an archive record ("data/0"), nothing when the archive has none.
using RecordSize = std::function<std::optional<uint64_t>(const std::string& record)>;

// Parses `pickle`: the top object must be a dict of tensors, each a view of a
// storage whose record `record_bytes` knows and whose size matches. Any other
// class is refused when named (builtins.eval, os.system...), as are protocols
// above 5, frames past the end, tensors with hooks or metadata, nesting deeper
// than 64, more than 10^6 objects or memo entries, a stack past 4*10^6 and a
// pickle over 32 MiB. InputError naming `origin` (and data.pkl) otherwise.
PickledStateDict parse_state_dict_pickle(std::string_view pickle, const RecordSize& record_bytes,
                                         const std::string& origin);

// The state dict of a torch.save archive: its format version checked against
// [min_version, max_version] (LibTorch's), its byte order, then data.pkl parsed
// against the archive's records (none read but data.pkl and the version).
PickledStateDict read_state_dict_layout(ZipArchive& zip, uint64_t min_version, uint64_t max_version);

}  // namespace kdtext::io
