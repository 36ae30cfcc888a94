// The interface between kdtext (parallel/group.cpp) and an engine library
// (libkdtext_engine_mpi.so, libkdtext_engine_nccl.so): one C entry point that
// returns a connected c10d::Backend, or throws std::runtime_error saying why.
#pragma once

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <string>

namespace kdtext::parallel {

struct EngineRequest {
  int rank = 0;
  int size = 1;
  int device_index = -1;                        // CUDA device of this process (NCCL)
  std::chrono::milliseconds timeout{1800000};
  c10::intrusive_ptr<c10d::Store> store;        // rendezvous (NCCL); null for MPI
};

using MakeEngine = c10::intrusive_ptr<c10d::Backend> (*)(const EngineRequest&);
inline constexpr const char* kMakeEngineSymbol = "kdtext_make_engine_v1";

// Ends every process of the run (MPI_Abort) from an engine library; exported
// by the MPI engine only.
using AbortEngine = void (*)(int code);
inline constexpr const char* kAbortEngineSymbol = "kdtext_abort_engine_v1";

}  // namespace kdtext::parallel
