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

}  // namespace kdtext::cli
