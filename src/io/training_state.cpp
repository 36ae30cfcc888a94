#include "kdtext/io/training_state.h"

#include "kdtext/util/atomic.h"
#include "kdtext/util/error.h"

namespace kdtext::io {
namespace fs = std::filesystem;

void save_training_state(const fs::path& checkpoint_dir, torch::optim::Optimizer& optimizer, const Json& state) {
  const fs::path dir = checkpoint_dir / kTrainingStateDir;
  fs::create_directories(dir);
  torch::save(optimizer, (dir / "optimizer.pt").string());
  torch::save(at::detail::getDefaultCPUGenerator().get_state(), (dir / "rng.pt").string());
  write_file_atomic(dir / "state.json", state.dump(2) + "\n");
}

Json load_training_state(const fs::path& checkpoint_dir, torch::optim::Optimizer& optimizer) {
  const fs::path dir = checkpoint_dir / kTrainingStateDir;
  const Json state = read_json_file(dir / "state.json");
  for (const char* name : {"optimizer.pt", "rng.pt"}) {
    if (!fs::exists(dir / name)) throw InputError((dir / name).string() + ": missing; the checkpoint cannot resume");
  }
  torch::load(optimizer, (dir / "optimizer.pt").string());
  torch::Tensor rng;
  torch::load(rng, (dir / "rng.pt").string());
  at::Generator gen = at::detail::getDefaultCPUGenerator();
  gen.set_state(rng);
  return state;
}

bool has_training_state(const fs::path& checkpoint_dir) {
  return fs::exists(checkpoint_dir / kTrainingStateDir / "state.json");
}

}  // namespace kdtext::io
