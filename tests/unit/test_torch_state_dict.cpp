// pytorch_model.bin read without Python (io::read_torch_state_dict). The
// files are written by LibTorch's torch::pickle_save, the zip format Python's
// torch.save writes and torch.load reads; tests/python checks a file written
// by Python itself (m3e-small) against transformers.
#include <gtest/gtest.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <fstream>

#include "kdtext/error.h"
#include "kdtext/io/hf.h"
#include "test_util.h"

using kdtext::testing::TempDir;

namespace torch_state_dict_test {

void save(const std::filesystem::path& path, const c10::IValue& v) {
  const auto bytes = torch::pickle_save(v);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string error_of(const std::filesystem::path& path) {
  try {
    kdtext::io::read_torch_state_dict(path);
  } catch (const kdtext::InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace torch_state_dict_test

TEST(TorchStateDict, TensorsOfEveryDtypeComeBackByName) {
  TempDir dir;
  c10::Dict<std::string, at::Tensor> d;
  const auto w = torch::randn({3, 4});
  const auto ids = torch::arange(5, torch::kLong).view({1, 5});
  const auto half = torch::randn({2}).to(torch::kFloat16);
  d.insert("encoder.layer.0.weight", w);
  d.insert("embeddings.position_ids", ids);
  d.insert("h", half);
  torch_state_dict_test::save(dir / "pytorch_model.bin", d);
  const auto got = kdtext::io::read_torch_state_dict(dir / "pytorch_model.bin");
  ASSERT_EQ(got.size(), 3u);
  EXPECT_TRUE(torch::equal(got.at("encoder.layer.0.weight"), w));
  EXPECT_TRUE(torch::equal(got.at("embeddings.position_ids"), ids));
  EXPECT_EQ(got.at("h").scalar_type(), torch::kFloat16);
  EXPECT_TRUE(torch::equal(got.at("h"), half));
}

TEST(TorchStateDict, AnythingButADictOfTensorsIsRefusedNamingFileAndKey) {
  TempDir dir;
  c10::impl::GenericDict mixed(c10::StringType::get(), c10::AnyType::get());
  mixed.insert("w", torch::ones({2}));
  mixed.insert("step", int64_t{7});
  torch_state_dict_test::save(dir / "mixed.bin", mixed);
  const auto m = torch_state_dict_test::error_of(dir / "mixed.bin");
  EXPECT_NE(m.find("mixed.bin: 'step' is a Int, not a tensor"), std::string::npos) << m;

  torch_state_dict_test::save(dir / "list.bin", c10::List<at::Tensor>({torch::ones({1})}));
  const auto l = torch_state_dict_test::error_of(dir / "list.bin");
  EXPECT_NE(l.find("list.bin: the checkpoint holds a GenericList, not a state dict"), std::string::npos) << l;

  std::ofstream(dir / "junk.bin") << "not a zip file at all";
  const auto j = torch_state_dict_test::error_of(dir / "junk.bin");
  EXPECT_NE(j.find("junk.bin: cannot read as a PyTorch zip checkpoint"), std::string::npos) << j;
  EXPECT_NE(torch_state_dict_test::error_of(dir / "missing.bin").find("missing.bin"), std::string::npos);
}
