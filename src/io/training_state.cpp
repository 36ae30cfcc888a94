#include "kdtext/io/training_state.h"

#include <torch/cuda.h>

#include <functional>
#include <string_view>

#include "kdtext/util/log.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"

namespace kdtext::io {
namespace fs = std::filesystem;

namespace {

// torch::save through the one atomic writer: LibTorch's own file writer
// aborts the process when a write fails (its destructor throws: a full disk
// or `ulimit -f` gave rc 134); here every byte goes to AtomicFileWriter, whose
// commit() reports a failed write as an error naming the file.
template <typename Value>
void save_atomic(const Value& value, const fs::path& file) {
  AtomicFileWriter out(file);
  const std::function<size_t(const void*, size_t)> sink = [&out](const void* data, size_t n) {
    out.write(std::string_view(static_cast<const char*>(data), n));
    return n;  // a failure shows at commit(), not as an exception inside LibTorch's writer
  };
  torch::save(value, sink);
  out.commit();
}

constexpr const char* kCudaRngFile = "rng_cuda.pt";

at::Generator cuda_generator(size_t index) {
  return at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index)));
}

// The default generator of every CUDA device (dropout and masking on a GPU
// draw from these), when the process sees one.
void save_cuda_generators(const fs::path& file) {
  const size_t n = torch::cuda::device_count();
  if (n == 0) return;
  std::vector<torch::Tensor> states;
  for (size_t i = 0; i < n; ++i) states.push_back(cuda_generator(i).get_state());
  save_atomic(states, file);
}

void load_cuda_generators(const fs::path& file) {
  const size_t n = torch::cuda::device_count();
  if (!fs::exists(file)) {
    if (n > 0) log::info("resume: ", file.string(), " absent (saved without a GPU): the CUDA generators keep their seed");
    return;
  }
  std::vector<torch::Tensor> states;
  torch::load(states, file.string());
  if (states.size() > n) {
    log::info("resume: ", file.string(), " holds ", states.size(), " CUDA generator(s) and this process sees ", n,
              ": ", n == 0 ? "none is" : "only the first are", " restored");
  }
  for (size_t i = 0; i < std::min(n, states.size()); ++i) {
    auto gen = cuda_generator(i);
    gen.set_state(states[i]);
  }
}

}  // namespace

void save_training_state(const fs::path& checkpoint_dir, torch::optim::Optimizer& optimizer, const Json& state) {
  const fs::path dir = checkpoint_dir / kTrainingStateDir;
  fs::create_directories(dir);
  save_atomic(optimizer, dir / "optimizer.pt");
  save_atomic(at::detail::getDefaultCPUGenerator().get_state(), dir / "rng.pt");
  save_cuda_generators(dir / kCudaRngFile);
  write_file_atomic(dir / "state.json", state.dump(2) + "\n");
}

Json load_training_state(const fs::path& checkpoint_dir, torch::optim::Optimizer& optimizer) {
  const fs::path dir = checkpoint_dir / kTrainingStateDir;
  const Json state = read_json_file(dir / "state.json");
  for (const char* name : {"optimizer.pt", "rng.pt"}) {
    if (!fs::exists(dir / name)) throw InputError((dir / name).string() + ": missing; the checkpoint cannot resume");
  }
  torch::Tensor rng;
  for (const char* name : {"optimizer.pt", "rng.pt"}) {
    const auto path = (dir / name).string();
    try {
      if (std::string(name) == "optimizer.pt") {
        torch::load(optimizer, path);
      } else {
        torch::load(rng, path);
      }
    } catch (const c10::Error& e) {
      throw InputError(path + ": not a readable training state (" + e.what_without_backtrace() +
                       "); resume from an earlier checkpoint or start over");
    }
  }
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  gen.set_state(rng);
  load_cuda_generators(dir / kCudaRngFile);
  return state;
}

bool has_training_state(const fs::path& checkpoint_dir) {
  return fs::exists(checkpoint_dir / kTrainingStateDir / "state.json");
}

}  // namespace kdtext::io
