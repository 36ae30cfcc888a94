#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <fstream>
#include <string>

#include "kdtext/cli/runtime.h"
#include "kdtext/error.h"

using namespace kdtext;

TEST(Device, CpuAndAuto) {
  EXPECT_EQ(cli::resolve_device("cpu"), c10::Device(c10::kCPU));
  const auto a = cli::resolve_device("auto");
  EXPECT_EQ(a.is_cuda(), cli::cuda_device_count() > 0);
}

TEST(Device, MalformedSpecsAreConfigErrors) {
  for (const char* spec : {"gpu", "cuda:", "cuda:x", "cuda0", "CPU", ""}) {
    EXPECT_THROW(cli::resolve_device(spec), ConfigError) << spec;
  }
}

TEST(Device, CudaWithoutGpuIsAClearError) {
  if (cli::cuda_device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  try {
    cli::resolve_device("cuda");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA GPU"), std::string::npos) << e.what();
  }
}

TEST(Device, CudaIndexBeyondDeviceCount) {
  const auto n = cli::cuda_device_count();
  EXPECT_THROW(cli::resolve_device("cuda:" + std::to_string(n)), ConfigError);
  if (n > 0) EXPECT_EQ(cli::resolve_device("cuda:0"), c10::Device(c10::kCUDA, 0));
}

namespace {
bool mapped(const std::string& library) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find(library) != std::string::npos) return true;
  }
  return false;
}
}  // namespace

TEST(Device, TheCudaHalfOfLibTorchLoadsOnlyWhenAsked) {
  if (cli::gpu_driver_present()) GTEST_SKIP() << "a GPU driver is present: the tests load CUDA at start";
  if (mapped("libtorch_cuda.so")) GTEST_SKIP() << "loaded by an earlier test of this process (ctest runs each alone)";
  // Not linked: a CPU run (and auto without a driver) never maps it.
  EXPECT_EQ(cli::resolve_device("cpu"), c10::Device(c10::kCPU));
  EXPECT_EQ(cli::resolve_device("auto"), c10::Device(c10::kCPU));
  EXPECT_FALSE(mapped("libtorch_cuda.so"));
  std::string error;
  if (cli::load_cuda_runtime(&error)) {
    EXPECT_TRUE(mapped("libtorch_cuda.so"));
  } else {  // a CPU-only LibTorch: the reason names the library
    EXPECT_NE(error.find("libtorch_cuda.so"), std::string::npos) << error;
  }
}
