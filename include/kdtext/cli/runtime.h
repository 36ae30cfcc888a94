// Options every stage shares (device, threads, seed, logging), their JSON
// form under the "run" key, and applying them to the process.
#pragma once

#include <cstdint>
#include <string>

#include <c10/core/Device.h>

#include "kdtext/log.h"
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

// Parses --device. "auto" picks cuda:0 when a GPU is usable, else cpu.
// Throws ConfigError for a malformed spec, or for CUDA when no GPU is present.
c10::Device resolve_device(const std::string& spec);

// Number of threads the run should use (threads or hardware concurrency).
int effective_threads(const RuntimeOptions& o);

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
