#include "kdtext/cli/runtime.h"

#include <torch/cuda.h>
#include <torch/utils.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <thread>

#include "kdtext/error.h"
#include "kdtext/util/memory.h"

#if defined(__GLIBC__)
#include <malloc.h>
extern char** environ;
#endif

namespace kdtext::cli {

const FieldTable<RuntimeOptions>& runtime_fields() {
  using R = RuntimeOptions;
  static const auto t = FieldTable<R>()
      .field("device", &R::device, "Device: auto, cpu, cuda or cuda:N").flag("--device")
      .field("threads", &R::threads, "Intra-op CPU threads (0 = OMP_NUM_THREADS or all cores)").flag("--threads")
      .field("seed", &R::seed, "Random seed").flag("--seed")
      .field("log_level", &R::log_level, "trace, debug, info, warn, error or off").flag("--log-level")
      .field("log_file", &R::log_file, "Also append log lines to this file").flag("--log-file")
      .field("quiet", &R::quiet, "Only print warnings and errors").flag("--quiet");
  return t;
}

Json to_json(const RuntimeOptions& o) { return runtime_fields().to_json(o); }
RuntimeOptions runtime_options_from_json(const JsonFields& f) { return runtime_fields().from_json(f); }

int effective_threads(const RuntimeOptions& o) {
  if (o.threads > 0) return static_cast<int>(o.threads);
  // 0: OMP_NUM_THREADS when the environment sets it, else every core.
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

RuntimeOptions for_process(RuntimeOptions o, const parallel::World& w, std::vector<std::string>& notes) {
  if (!w.distributed()) return o;
  const std::string own = "cuda:" + std::to_string(w.local_rank);
  if (o.device.rfind("cuda:", 0) == 0) {
    throw ConfigError("--device " + o.device + ": with several processes give --device cuda (or auto); each "
                      "process takes the GPU of its local rank (here " + own + ")");
  }
  if (o.device == "cuda" || (o.device == "auto" && cuda_device_count() > 0)) {
    // One visible GPU (a scheduler's CUDA_VISIBLE_DEVICES per process): that one.
    o.device = cuda_device_count() == 1 ? "cuda:0" : own;
    notes.push_back("device " + o.device + " (local rank " + std::to_string(w.local_rank) + ")");
  }
  if (o.threads == 0 && w.local_size > 1) {
    o.threads = std::max<int64_t>(1, effective_threads(o) / w.local_size);
    notes.push_back(std::to_string(o.threads) + " thread(s): the cores shared by " + std::to_string(w.local_size) +
                    " processes on this machine (--threads sets it)");
  }
  if (w.rank > 0) {
    if (o.log_level != "debug" && o.log_level != "trace") o.log_level = "warn";
    if (!o.log_file.empty()) o.log_file += ".rank-" + std::to_string(w.rank);
  } else {
    notes.push_back(std::string("the other processes log warnings and errors only") +
                    (o.log_file.empty() ? "" : ", each to " + o.log_file + ".rank-N"));
  }
  return o;
}

c10::Device apply_runtime(const std::string& stage, const RuntimeOptions& o) {
  if (o.threads < 0 || o.threads > 4096) {
    throw ConfigError("--threads: must be between 0 (all cores) and 4096, got " + std::to_string(o.threads));
  }
  log::init(stage, log::LogOptions{o.log_level, o.log_file, o.quiet});
  const c10::Device device = resolve_device(o.device);
  torch::set_num_threads(effective_threads(o));
  torch::manual_seed(o.seed);
  return device;
}

bool keep_freed_memory_for_training() {
#if defined(__GLIBC__)
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "MALLOC_", 7) == 0) return false;  // the user tunes malloc
  }
  // The top padding is taken at every growth of the heap: under a tight limit
  // (ulimit -v, a cgroup) a 256 MiB pad would make the first growth fail
  // outright, so it stays at an eighth of what the process may still take.
  double left = 256 << 20;
  try {
    left = available_memory().bytes;
  } catch (const std::exception&) {  // a malformed KDTEXT_MEMORY_LIMIT_MB: the stage refuses it at its start
  }
  const int pad = static_cast<int>(std::max(0.0, std::min<double>(256 << 20, left / 8)));
  return mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1 &&
         mallopt(M_TOP_PAD, pad) == 1;
#else
  return false;
#endif
}

}  // namespace kdtext::cli
