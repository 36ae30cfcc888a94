// pytorch_model.bin without Python: the zip through kdtext's own reader
// (io/zip.h: stored records only, the version record checked, each record read
// only when a kept tensor needs it, its size checked first), data.pkl through
// kdtext's pickle machine (io/pickle.h), the tensors rebuilt here.
#include <caffe2/serialize/versions.h>
#include <torch/torch.h>

#include <map>
#include <string>

#include "kdtext/error.h"
#include "kdtext/io/hf.h"
#include "kdtext/io/pickle.h"
#include "kdtext/io/zip.h"

namespace kdtext::io {
namespace {

torch::ScalarType storage_dtype(const std::string& type) {
  static const std::map<std::string, torch::ScalarType> types = {
      {"torch.FloatStorage", torch::kFloat32}, {"torch.DoubleStorage", torch::kFloat64},
      {"torch.HalfStorage", torch::kFloat16},  {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kInt64},    {"torch.IntStorage", torch::kInt32},
      {"torch.ShortStorage", torch::kInt16},   {"torch.CharStorage", torch::kInt8},
      {"torch.ByteStorage", torch::kUInt8},    {"torch.BoolStorage", torch::kBool}};
  return types.at(type);  // pickle.cpp names no other
}

}  // namespace

TensorMap read_torch_state_dict(const std::filesystem::path& path, const std::function<bool(const std::string&)>& keep,
                                int64_t max_storage_elements) {
  ZipArchive zip(path);
  const std::string& origin = zip.origin();
  const PickledStateDict layout = read_state_dict_layout(zip, caffe2::serialize::kMinSupportedFileFormatVersion,
                                                        caffe2::serialize::kMaxSupportedFileFormatVersion);
  std::map<size_t, torch::Tensor> read;  // storages, each read once, only when a kept tensor needs it
  TensorMap out;
  for (const auto& [key, view] : layout.tensors) {
    if (keep && !keep(key)) continue;
    const PickledStorage& st = layout.storages[view.storage];
    auto it = read.find(view.storage);
    if (it == read.end()) {
      if (st.numel > max_storage_elements) {
        throw InputError(origin + ": data.pkl: storage '" + st.key + "' holds " + std::to_string(st.numel) +
                         " elements, more than the model's largest weight (" + std::to_string(max_storage_elements) + ")");
      }
      torch::Tensor data;
      try {
        data = torch::empty({st.numel}, torch::TensorOptions().dtype(storage_dtype(st.type)));
      } catch (const c10::Error& e) {
        throw InputError(origin + ": storage '" + st.key + "' of " + std::to_string(st.numel) + " elements cannot be held");
      }
      zip.read("data/" + st.key, data.data_ptr());
      it = read.emplace(view.storage, data).first;
    }
    out[key] = it->second.as_strided(view.size, view.stride, view.offset).contiguous();  // inside it: pickle.cpp checked
  }
  return out;
}

}  // namespace kdtext::io
