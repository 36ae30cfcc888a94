#include "kdtext/device/device.h"

#include <dlfcn.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <filesystem>
#include <string>

#include "kdtext/error.h"

namespace kdtext::device {

namespace {

struct CudaRuntime {
  bool tried = false, loaded = false;
  std::string error;
};

CudaRuntime& cuda_runtime() {
  static CudaRuntime r;
  return r;
}

}  // namespace

bool gpu_driver_present() {
  // The driver's library, as LibTorch's CUDA half would load it; kept loaded.
  return dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL) != nullptr;
}

bool load_cuda_runtime(std::string* error) {
  auto& r = cuda_runtime();
  if (!r.tried) {
    r.tried = true;
    // libtorch_cuda.so from beside the libtorch_cpu.so this process runs, so the two always match.
    std::string path = "libtorch_cuda.so";
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&at::globalContext), &info) != 0 && info.dli_fname != nullptr) {
      path = (std::filesystem::path(info.dli_fname).parent_path() / "libtorch_cuda.so").string();
    }
    if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) != nullptr) {
      r.loaded = true;
    } else {
      const char* e = dlerror();
      r.error = e ? e : path + ": cannot be loaded";
    }
  }
  if (!r.loaded && error) *error = r.error;
  return r.loaded;
}

size_t cuda_device_count() {
  if (!cuda_runtime().tried && !gpu_driver_present()) return 0;
  return load_cuda_runtime() ? torch::cuda::device_count() : 0;
}

c10::Device resolve_device(const std::string& spec) {
  if (spec == "cpu") return c10::Device(c10::kCPU);
  if (spec == "auto") return cuda_device_count() > 0 ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  if (spec.rfind("cuda", 0) == 0) {
    int index = 0;
    if (spec.size() > 4) {
      const std::string num = spec.substr(5);
      if (spec[4] != ':' || num.empty() || num.find_first_not_of("0123456789") != std::string::npos ||
          num.size() > 4) {
        throw ConfigError("--device: malformed '" + spec + "' (expected auto, cpu, cuda or cuda:N)");
      }
      index = std::stoi(num);
    }
    std::string error;
    if (!load_cuda_runtime(&error)) {
      throw ConfigError("--device " + spec + ": LibTorch's CUDA library cannot be loaded (" + error +
                        "); a CPU-only LibTorch has none: use --device cpu");
    }
    const size_t gpus = torch::cuda::device_count();
    if (gpus == 0) {
      throw ConfigError("--device " + spec +
                        ": no CUDA GPU is usable on this machine (no driver or no device); "
                        "use --device cpu or --device auto");
    }
    if (static_cast<size_t>(index) >= gpus) {
      throw ConfigError("--device " + spec + ": this machine has " + std::to_string(gpus) +
                        " CUDA device(s), numbered from 0");
    }
    return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  throw ConfigError("--device: unknown device '" + spec + "' (expected auto, cpu, cuda or cuda:N)");
}

}  // namespace kdtext::device
