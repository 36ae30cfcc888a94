// Options every stage shares (device, threads, seed, logging), their JSON
// form under the "run" key, and applying them to the process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <c10/core/Device.h>

#include "kdtext/device/device.h"
#include "kdtext/util/log.h"
#include "kdtext/parallel/world.h"
#include "kdtext/util/fields.h"
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

// The "run" section: device, threads, seed and logging flags of every stage.
const FieldTable<RuntimeOptions>& runtime_fields();
Json to_json(const RuntimeOptions& o);
RuntimeOptions runtime_options_from_json(const JsonFields& f);

// The device functions (device/device.h), under the names the stages use.
using device::cuda_device_count;
using device::gpu_driver_present;
using device::load_cuda_runtime;
using device::resolve_device;

// Number of threads the run should use (threads or hardware concurrency).
int effective_threads(const RuntimeOptions& o);

// This process's runtime options in a data-parallel run of `world`: its own
// GPU (--device cuda or auto with GPUs: cuda:LOCAL_RANK, or cuda:0 when the
// process sees one GPU; cuda:N is refused),
// its share of the cores when --threads is 0, and on ranks other than 0
// warnings only (their own log file, FILE.rank-N, when one is set). Each
// change is returned in `notes` for the log. One process: unchanged.
RuntimeOptions for_process(RuntimeOptions o, const parallel::World& world, std::vector<std::string>& notes);

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
