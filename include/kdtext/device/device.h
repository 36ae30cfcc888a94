// Devices: which exist, loading LibTorch's CUDA half on first need, and
// --device parsing. Used by the command line (cli/runtime.h) and the C++ API
// (classifier.h) alike.
#pragma once

#include <cstddef>
#include <string>

#include <c10/core/Device.h>

namespace kdtext::device {

// LibTorch's CUDA half (libtorch_cuda.so, with cuBLAS, cuDNN, ...) is not
// linked into the executables: it is loaded on first need, so a run on the
// CPU never pays for mapping it (about 0.3 s and 350 MB of RSS at start-up).
// LibTorch decides once whether CUDA exists, at its first CUDA query: load it
// before anything touches CUDA (resolve_device does, first thing).
//
// Whether a GPU driver is installed (libcuda.so.1 loads).
bool gpu_driver_present();
// Loads libtorch_cuda.so from beside libtorch_cpu.so (once); false with the
// reason in `error` when it cannot be loaded (e.g. a CPU-only LibTorch).
bool load_cuda_runtime(std::string* error = nullptr);
// CUDA devices LibTorch sees; loads the CUDA half only when a driver is present.
size_t cuda_device_count();

// Parses --device. "cpu" never loads CUDA; "auto" picks cuda:0 when a driver
// is present and LibTorch sees a GPU, else cpu; "cuda[:N]" loads CUDA and
// needs that device. Throws ConfigError for a malformed spec, or for CUDA
// when it cannot be loaded or no GPU is present.
c10::Device resolve_device(const std::string& spec);

}  // namespace kdtext::device
