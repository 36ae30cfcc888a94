// kdtext's CUDA engine: LibTorch's own c10d::ProcessGroupNCCL, the processes
// meeting at the c10d::Store kdtext created (a TCPStore on MASTER_ADDR).
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>

#include <stdexcept>

#include "engine.h"

extern "C" __attribute__((visibility("default"))) c10::intrusive_ptr<c10d::Backend> kdtext_make_engine_v1(
    const kdtext::parallel::EngineRequest& request) {
  if (request.device_index < 0) throw std::runtime_error("NCCL engine: no CUDA device given");
  c10::cuda::set_device(static_cast<c10::DeviceIndex>(request.device_index));
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = request.timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(request.store, request.rank, request.size, options);
}
