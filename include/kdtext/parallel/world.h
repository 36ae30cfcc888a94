// Which process of a data-parallel run this is, as the launcher says:
//   torchrun (and anything that sets them): RANK, WORLD_SIZE, LOCAL_RANK,
//     LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT;
//   mpirun (Open MPI): OMPI_COMM_WORLD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE;
//   srun (SLURM job steps): SLURM_PROCID, SLURM_STEP_NUM_TASKS, SLURM_LOCALID,
//     SLURM_STEP_TASKS_PER_NODE.
// None of them: one process (size 1), exactly the single-process behaviour.
#pragma once

#include <functional>
#include <string>

namespace kdtext::parallel {

struct World {
  int rank = 0;
  int size = 1;
  int local_rank = 0;   // rank among the processes of this machine (its GPU)
  int local_size = 1;   // processes on this machine
  std::string launcher; // "torchrun", "mpirun", "srun"; empty for one process
  std::string master_addr;  // rendezvous host for NCCL (empty: not given)
  int master_port = 0;
  // torchrun's agent already serves a TCPStore at MASTER_ADDR:MASTER_PORT
  // (TORCHELASTIC_USE_AGENT_STORE=True): every process connects as a client.
  bool agent_store = false;
  bool distributed() const { return size > 1; }
  // torchrun (or WORLD_SIZE) with one process on a GPU: still a group (NCCL
  // of one), as PyTorch's torchrun --nproc-per-node 1 gives.
  bool group_of_one_on_cuda() const { return size == 1 && (launcher == "torchrun" || launcher == "environment"); }
};

using Getenv = std::function<const char*(const char*)>;

// Reads the launcher's variables (`getenv` for tests). Throws ConfigError
// naming the variable when one is malformed or they contradict each other.
World detect_world(const Getenv& getenv);
World detect_world();

// "rank 1 of 2 (local 1 of 2, torchrun)".
std::string describe(const World& w);

}  // namespace kdtext::parallel
