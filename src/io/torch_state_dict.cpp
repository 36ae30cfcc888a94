// pytorch_model.bin without Python: LibTorch's zip reader and its C++
// unpickler (torch/csrc/jit/serialization), which knows how to rebuild
// tensors and containers and nothing else: a pickle naming any other class
// fails instead of running code.
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/import_read.h>

#include "kdtext/error.h"
#include "kdtext/io/hf.h"

namespace kdtext::io {

TensorMap read_torch_state_dict(const std::filesystem::path& path) {
  const std::string origin = path.string();
  c10::IValue top;
  try {
    caffe2::serialize::PyTorchStreamReader reader(origin);
    if (!reader.hasRecord("data.pkl")) throw InputError(origin + ": no data.pkl in the archive (not a torch.save file)");
    top = torch::jit::readArchiveAndTensors("data", "", "data/", std::nullopt, std::nullopt, at::Device(at::kCPU),
                                            reader);
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    const std::string why = e.what();
    throw InputError(origin + ": cannot read as a PyTorch zip checkpoint (torch.save since 1.6; the legacy format is "
                     "not read): " + why.substr(0, why.find('\n')));
  }
  if (!top.isGenericDict()) {
    throw InputError(origin + ": the checkpoint holds a " + top.tagKind() + ", not a state dict of tensors");
  }
  TensorMap out;
  for (const auto& entry : top.toGenericDict()) {
    if (!entry.key().isString()) throw InputError(origin + ": a state-dict key is a " + entry.key().tagKind());
    const auto& name = entry.key().toStringRef();
    if (!entry.value().isTensor()) {
      throw InputError(origin + ": '" + name + "' is a " + entry.value().tagKind() + ", not a tensor");
    }
    out[name] = entry.value().toTensor().contiguous();
  }
  return out;
}

}  // namespace kdtext::io
