// pytorch_model.bin read without Python (io::read_torch_state_dict). The
// files are written by LibTorch's torch::pickle_save, the zip format Python's
// torch.save writes and torch.load reads; tests/python checks a file written
// by Python itself (m3e-small) against transformers.
#include <gtest/gtest.h>
#include <caffe2/serialize/inline_container.h>
#include <torch/csrc/jit/serialization/pickle.h>
#include <torch/torch.h>

#include <fstream>
#include <functional>

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
  EXPECT_NE(m.find("mixed.bin: 'step' is a int, not a tensor"), std::string::npos) << m;

  torch_state_dict_test::save(dir / "list.bin", c10::List<at::Tensor>({torch::ones({1})}));
  const auto l = torch_state_dict_test::error_of(dir / "list.bin");
  EXPECT_NE(l.find("list.bin: the checkpoint holds a list, not a state dict"), std::string::npos) << l;

  std::ofstream(dir / "junk.bin") << "not a zip file at all";
  const auto j = torch_state_dict_test::error_of(dir / "junk.bin");
  EXPECT_NE(j.find("junk.bin: cannot read as a PyTorch zip checkpoint"), std::string::npos) << j;
  EXPECT_NE(torch_state_dict_test::error_of(dir / "missing.bin").find("missing.bin"), std::string::npos);
}

namespace torch_state_dict_test {

// A pickle written opcode by opcode (the protocol-2 stream Python's torch.save
// writes), so the test states what the file holds independently of any pickler.
struct Pickle {
  std::string b;
  Pickle& op(char c) { b.push_back(c); return *this; }
  Pickle& str(const std::string& s) {
    op('X');
    for (int k = 0; k < 4; ++k) b.push_back(static_cast<char>((s.size() >> (8 * k)) & 255));
    b += s;
    return *this;
  }
  Pickle& global(const std::string& module, const std::string& name) {
    op('c');
    b += module + "\n" + name + "\n";
    return *this;
  }
  Pickle& int1(int v) { return op('K').op(static_cast<char>(v)); }
  Pickle& long8(int64_t v) {  // LONG1 with 8 bytes, little-endian two's complement
    op('\x8a').op('\x08');
    for (int k = 0; k < 8; ++k) b.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * k)) & 255));
    return *this;
  }
  // torch._utils._rebuild_tensor_v2(storage '0' of `numel` floats, offset, size, stride, False, OrderedDict())
  Pickle& tensor(int numel, int offset, std::pair<int, int> size, std::pair<int64_t, int64_t> stride) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").int1(numel).op('t').op('Q');
    int1(offset).int1(size.first).int1(size.second).op('\x86').long8(stride.first).long8(stride.second).op('\x86');
    op('\x89').global("collections", "OrderedDict").op(')').op('R');
    return op('t').op('R');
  }
};

void write_zip(const std::filesystem::path& path, const std::string& pickle, const std::vector<float>& storage) {
  caffe2::serialize::PyTorchStreamWriter w(path.string());
  w.writeRecord("data.pkl", pickle.data(), pickle.size());
  w.writeRecord("data/0", storage.data(), storage.size() * sizeof(float));
  w.writeEndOfFile();
}

// OrderedDict() holding 'w', then its state {'_metadata': OrderedDict()} by BUILD: model.state_dict() as saved.
Pickle state_dict_with(const std::function<void(Pickle&)>& value) {
  Pickle p;
  p.op('\x80').op('\x02').global("collections", "OrderedDict").op('q').op('\0').op(')').op('R');
  p.str("w");
  value(p);
  p.op('s');
  p.op('}').str("_metadata").op('h').op('\0').op(')').op('R').op('s').op('b');
  p.op('.');
  return p;
}

}  // namespace torch_state_dict_test

TEST(TorchStateDict, AnOrderedDictWithMetadataAsPythonSavesAStateDict) {
  TempDir dir;
  using torch_state_dict_test::Pickle;
  // Storage 0..5, offset 1, size (2, 2), stride (1, 2): element [i][j] = 1 + i + 2j -> [[1, 3], [2, 4]].
  const auto p = torch_state_dict_test::state_dict_with([](Pickle& q) { q.tensor(6, 1, {2, 2}, {1, 2}); });
  torch_state_dict_test::write_zip(dir / "sd.bin", p.b, {0, 1, 2, 3, 4, 5});
  const auto got = kdtext::io::read_torch_state_dict(dir / "sd.bin");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(torch::equal(got.at("w"), torch::tensor({{1.f, 3.f}, {2.f, 4.f}})));
}

TEST(TorchStateDict, PickledCallsViewsPastTheStorageAndShortRecordsAreRefused) {
  TempDir dir;
  using torch_state_dict_test::Pickle;
  const auto error = [&](const std::string& name, const std::function<void(Pickle&)>& value, int floats) {
    const auto p = torch_state_dict_test::state_dict_with(value);
    torch_state_dict_test::write_zip(dir / name, p.b, std::vector<float>(static_cast<size_t>(floats), 1.f));
    return torch_state_dict_test::error_of(dir / name);
  };
  auto m = error("code.bin", [](Pickle& q) { q.global("os", "system").op('(').str("true").op('t').op('R'); }, 6);
  EXPECT_NE(m.find("code.bin: data.pkl: refuses to call os.system"), std::string::npos) << m;
  m = error("past.bin", [](Pickle& q) { q.tensor(6, 3, {2, 2}, {2, 1}); }, 6);  // reaches element 3 + 2 + 1 = 6
  EXPECT_NE(m.find("past.bin: data.pkl: torch._utils._rebuild_tensor_v2: the view reaches past its storage of 6"),
            std::string::npos) << m;
  m = error("huge.bin", [](Pickle& q) { q.tensor(6, 0, {3, 2}, {int64_t{1} << 62, 1}); }, 6);  // 2 * 2^62 overflows
  EXPECT_NE(m.find("huge.bin: data.pkl: torch._utils._rebuild_tensor_v2: a size or stride too large"),
            std::string::npos) << m;
  m = error("short.bin", [](Pickle& q) { q.tensor(6, 0, {2, 3}, {3, 1}); }, 5);
  EXPECT_NE(m.find("storage '0' holds 20 bytes, not the 24 its 6 elements take"), std::string::npos) << m;
  m = error("cut.bin", [](Pickle& q) { q.op('X').op('\x40'); }, 6);
  EXPECT_NE(m.find("cut.bin: data.pkl: the pickle ends in the middle of an opcode"), std::string::npos) << m;
}
