// The processes of one data-parallel run, connected through LibTorch's c10d:
// a c10d::Backend from one of kdtext's engines, each a shared library loaded
// only when a run has several processes (so a single process never maps MPI
// or NCCL):
//   CUDA: c10d::ProcessGroupNCCL, the processes meeting at a c10d::TCPStore
//         on MASTER_ADDR:MASTER_PORT (rank 0 serves it);
//   CPU:  MPI (Open MPI) behind a c10d::Backend of ours; the processes are
//         started by mpirun (or srun with PMIx), which also wires them up.
// docs/ARCHITECTURE.md ("Data-parallel training") explains the choice.
#pragma once

#include <torch/torch.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "kdtext/parallel/world.h"

namespace c10d {
class Backend;
class Store;
class Work;
}  // namespace c10d

namespace kdtext::parallel {

class Group {
 public:
  // Connects to the other processes of `world` (which must be distributed)
  // for tensors on `device`; a collective that waits more than `timeout`
  // for the others fails this process (which then ends the run). Throws ConfigError for a launch the engine cannot serve (CPU under
  // torchrun, missing MASTER_ADDR) and InputError when the engine's library
  // cannot be loaded or the rendezvous fails.
  static std::shared_ptr<Group> connect(const World& world, torch::Device device, std::chrono::seconds timeout);
  ~Group();

  int rank() const { return world_.rank; }
  int size() const { return world_.size; }
  const World& world() const { return world_; }
  const std::string& engine() const { return engine_; }

  // Sums (in place) across the processes; the tensors live on the group's device.
  void allreduce_sum(std::vector<torch::Tensor>& tensors);
  // Element-wise sum / max of a few numbers (control values: counts, flags).
  std::vector<double> sum(const std::vector<double>& values);
  std::vector<double> max(const std::vector<double>& values);
  // Copies rank `root`'s tensors (in place, on the group's device) to all.
  void broadcast(const std::vector<torch::Tensor>& tensors, int root = 0);
  void barrier();

  // Sums the gradients of `params` across the processes, in buckets of about
  // `bucket_bytes`. A parameter without a gradient on some processes counts
  // zeros there; one without a gradient on every process keeps none (so the
  // optimiser leaves it alone, as in a single process).
  void sum_gradients(const std::vector<torch::Tensor>& params, int64_t bucket_bytes = 25 << 20);

  // Waits for a collective at most the group's timeout; a runtime_error
  // saying so when it is over (the caller's failure then ends the run).
  void wait(c10d::Work& work);

  // Ends the run for every process after an error on this one (MPI_Abort,
  // or NCCL's abort) and exits with `code`. Normal ends just destroy the group.
  [[noreturn]] void abort(int code);

 private:
  Group() = default;
  void bucketed(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes, bool broadcast, int root);
  World world_;
  torch::Device device_{torch::kCPU};
  std::string engine_;
  std::chrono::seconds timeout_{1800};
  c10::intrusive_ptr<c10d::Backend> backend_;
  void* library_ = nullptr;
};

// The rendezvous of a CUDA run: a c10d::TCPStore at MASTER_ADDR:MASTER_PORT
// (127.0.0.1:29500 when every process is on this machine), served by rank 0,
// or by torchrun's agent (World::agent_store; then every process is a
// client), under the prefix "kdtext/". Throws ConfigError without an address
// for a run on several machines, InputError when it cannot be reached in time.
c10::intrusive_ptr<c10d::Store> connect_store(const World& world, std::chrono::seconds timeout);

// How long a collective may wait for the other processes (NCCL; the
// rendezvous): $KDTEXT_DIST_TIMEOUT seconds, 1800 by default (rank 0
// evaluates while the others wait). ConfigError naming it when malformed.
std::chrono::seconds timeout_from_environment();

// The group of this process's run, like torch.distributed's default group:
// set once by the stage app when the launcher started several processes;
// null for one process. The trainer and the stages read it.
Group* process_group();
void set_process_group(std::shared_ptr<Group> group);
// Whether this process writes the run's files: rank 0, or the only process.
inline bool is_writer() { return process_group() == nullptr || process_group()->rank() == 0; }
// This process's rank and the number of processes (0 and 1 for one process).
inline int rank() { return process_group() ? process_group()->rank() : 0; }
inline int world_size() { return process_group() ? process_group()->size() : 1; }

}  // namespace kdtext::parallel
