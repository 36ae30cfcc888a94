#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "kdtext/cli/runtime.h"
#include "kdtext/util/error.h"

using namespace kdtext;

TEST(Device, CpuAndAuto) {
  EXPECT_EQ(cli::resolve_device("cpu"), c10::Device(c10::kCPU));
  const auto a = cli::resolve_device("auto");
  EXPECT_EQ(a.is_cuda(), torch::cuda::device_count() > 0);
}

TEST(Device, MalformedSpecsAreConfigErrors) {
  for (const char* spec : {"gpu", "cuda:", "cuda:x", "cuda0", "CPU", ""}) {
    EXPECT_THROW(cli::resolve_device(spec), ConfigError) << spec;
  }
}

TEST(Device, CudaWithoutGpuIsAClearError) {
  if (torch::cuda::device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  try {
    cli::resolve_device("cuda");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA GPU"), std::string::npos) << e.what();
  }
}

TEST(Device, CudaIndexBeyondDeviceCount) {
  const auto n = torch::cuda::device_count();
  EXPECT_THROW(cli::resolve_device("cuda:" + std::to_string(n)), ConfigError);
  if (n > 0) EXPECT_EQ(cli::resolve_device("cuda:0"), c10::Device(c10::kCUDA, 0));
}
