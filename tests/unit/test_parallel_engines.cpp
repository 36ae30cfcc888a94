// The data-parallel engine libraries this build made load with every symbol
// resolved against the LibTorch the executables run with (a wrong header,
// flag or library would show here, before any GPU or launcher is involved),
// and export the entry point kdtext looks up.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "kdtext/cli/runtime.h"
#include "test_util.h"

namespace fs = std::filesystem;

namespace {
fs::path engine(const std::string& name) {
  return fs::path(kdtext::testing::bin("kdtext-pretrain")).parent_path().parent_path() / "lib" / "kdtext" /
         ("libkdtext_engine_" + name + ".so");
}

void expect_loads(const fs::path& path) {
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  EXPECT_NE(dlsym(lib, "kdtext_make_engine_v1"), nullptr) << path;
}
}  // namespace

TEST(DistEngines, MpiEngineLoads) {
  const auto path = engine("mpi");
  // Built wherever Open MPI is installed, which scripts/setup.sh does.
  ASSERT_TRUE(fs::exists(path)) << path << " was not built (Debian: libopenmpi-dev)";
  expect_loads(path);
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  EXPECT_NE(dlsym(lib, "kdtext_abort_engine_v1"), nullptr);
}

TEST(DistEngines, NcclEngineLoadsWithLibTorchsCudaHalf) {
  const auto path = engine("nccl");
  if (!fs::exists(path)) GTEST_SKIP() << "no NCCL engine in this build (no CUDA toolkit or nccl.h)";
  std::string error;
  if (!kdtext::cli::load_cuda_runtime(&error)) GTEST_SKIP() << "LibTorch's CUDA half does not load: " << error;
  expect_loads(path);
}
