// Options every stage shares (device, threads, seed, logging), their JSON
// form under the "run" key, and applying them to the process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "kdtext/log.h"
#include "kdtext/dist/world.h"
#include "kdtext/util/json.h"

namespace kdtext::cli {

struct RuntimeOptions {
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  int64_t threads = 0;          // intra-op threads; 0 = OMP_NUM_THREADS if set, else all cores
  uint64_t seed = 42;           // seeds torch and every sampler of the run
  std::string log_level = "info";
  std::string log_file;         // also log to this file
  bool quiet = false;           // warnings and errors only
};

Json to_json(const RuntimeOptions& o);
RuntimeOptions runtime_options_from_json(const JsonFields& f);

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

// Number of threads the run should use (threads or hardware concurrency).
int effective_threads(const RuntimeOptions& o);

// This process's runtime options in a data-parallel run of `world`: its own
// GPU (--device cuda or auto with GPUs: cuda:LOCAL_RANK, or cuda:0 when the
// process sees one GPU; cuda:N is refused),
// its share of the cores when --threads is 0, and on ranks other than 0
// warnings only (their own log file, FILE.rank-N, when one is set). Each
// change is returned in `notes` for the log. One process: unchanged.
RuntimeOptions for_process(RuntimeOptions o, const dist::World& world, std::vector<std::string>& notes);

// Validates and applies: logging, torch thread count, seeds. Returns the device.
c10::Device apply_runtime(const std::string& stage, const RuntimeOptions& o);

// For the training executables: keeps memory that tensors free inside the
// process (glibc malloc: mmap threshold 32 MiB, no trimming below 1 GiB, 256 MiB
// of top padding) instead of returning it to the system and faulting it in
// again at the next step. Every training step frees and reallocates the same
// activation and optimizer buffers; left to glibc's adaptive thresholds this
// costs millions of page faults per epoch, and how many depends on the
// allocation history of start-up. A no-op when any MALLOC_*_ variable is set
// (the user's tuning wins) and on other C libraries. Returns whether it applied.
bool keep_freed_memory_for_training();

}  // namespace kdtext::cli
