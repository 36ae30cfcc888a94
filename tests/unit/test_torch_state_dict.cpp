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
#include "kdtext/io/zip.h"
#include "test_util.h"
#include "torch_zip.h"

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

using kdtext::testing::Pickle;

void write_zip(const std::filesystem::path& path, const std::string& pickle, const std::vector<float>& storage) {
  caffe2::serialize::PyTorchStreamWriter w(path.string());
  w.writeRecord("data.pkl", pickle.data(), pickle.size());
  w.writeRecord("data/0", storage.data(), storage.size() * sizeof(float));
  w.writeEndOfFile();
}

Pickle state_dict_with(const std::function<void(Pickle&)>& value) { return Pickle::state_dict("w", value); }

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
  EXPECT_NE(m.find("code.bin: data.pkl: refuses the class os.system"), std::string::npos) << m;
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

namespace torch_state_dict_test {

using kdtext::testing::ZipRecord;
using kdtext::testing::write_raw_zip;

// A state dict {'w': a [2, 3] view of storage '0'} in a zip with `version` and any further records.
std::vector<ZipRecord> archive(const std::string& version, const std::string& pickle, std::vector<ZipRecord> more = {}) {
  return kdtext::testing::torch_archive(version, pickle, kdtext::testing::float_bytes(6), std::move(more));
}
std::string floats(int n) { return kdtext::testing::float_bytes(n); }
std::string good_pickle() {
  return state_dict_with([](Pickle& q) { q.tensor(6, 0, {2, 3}, {3, 1}); }).b;
}
void put(std::string& b, uint64_t v, int n) {
  for (int k = 0; k < n; ++k) b.push_back(static_cast<char>((v >> (8 * k)) & 255));
}

}  // namespace torch_state_dict_test

TEST(TorchStateDict, Crc32IsTheZipChecksum) {
  EXPECT_EQ(kdtext::io::crc32("123456789", 9), 0xCBF43926u);  // the standard check value of CRC-32/ISO-HDLC
  EXPECT_EQ(kdtext::io::crc32("", 0), 0u);
  const std::string text = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(kdtext::io::crc32(text.data(), text.size()), 0x414FA339u);
  EXPECT_EQ(kdtext::io::crc32(text.data() + 5, text.size() - 5, kdtext::io::crc32(text.data(), 5)), 0x414FA339u);
}

TEST(TorchStateDict, TheVersionRecordIsCheckedBeforeAnythingIsRead) {
  TempDir dir;
  namespace t = torch_state_dict_test;
  using t::Pickle;
  t::write_raw_zip(dir / "ok.bin", t::archive("3\n", t::good_pickle()));
  EXPECT_TRUE(torch::equal(kdtext::io::read_torch_state_dict(dir / "ok.bin").at("w"), torch::ones({2, 3})));
  for (const std::string v : {"11", "0", "-1", "abc", "", "1e3", " 3"}) {
    t::write_raw_zip(dir / "v.bin", t::archive(v, t::good_pickle()));
    const auto m = t::error_of(dir / "v.bin");
    EXPECT_NE(m.find("v.bin: format version '" + v.substr(0, 20)), std::string::npos) << v << ": " << m;
  }
  t::write_raw_zip(dir / "long.bin", t::archive(std::string(1 << 20, '9'), t::good_pickle()));
  EXPECT_NE(t::error_of(dir / "long.bin").find("format version record of 1048576 bytes"), std::string::npos);
  // .data/version, where newer torch.save writes it, counts first.
  t::write_raw_zip(dir / "d.bin", t::archive("3", t::good_pickle(), {{"archive/.data/version", "12"}}));
  EXPECT_NE(t::error_of(dir / "d.bin").find("format version '12'"), std::string::npos);
  auto no_version = t::archive("3", t::good_pickle());
  no_version.erase(no_version.begin() + 1);
  t::write_raw_zip(dir / "n.bin", no_version);
  EXPECT_NE(t::error_of(dir / "n.bin").find("n.bin: no version record"), std::string::npos);
}

TEST(TorchStateDict, TheZipIsReadOnlyAsTorchSaveWritesIt) {
  TempDir dir;
  namespace t = torch_state_dict_test;
  using t::Pickle;
  const auto refused = [&](const std::vector<t::ZipRecord>& records) {
    t::write_raw_zip(dir / "z.bin", records);
    return t::error_of(dir / "z.bin");
  };
  // A compressed record is never inflated: refused by its headers (a 4 GiB record deflated to a few bytes).
  auto m = refused(t::archive("3", t::good_pickle(), {{"archive/data/9", "xx", 8, uint64_t{4} << 30}}));
  EXPECT_NE(m.find("zip record archive/data/9 is compressed (method 8)"), std::string::npos) << m;
  // Two data.pkl records: Python's zipfile reads the last, others the first.
  m = refused(t::archive("3", t::good_pickle(), {{"archive/data.pkl", "junk"}}));
  EXPECT_NE(m.find("zip record archive/data.pkl appears twice"), std::string::npos) << m;
  m = refused(t::archive("3", t::good_pickle(), {{"elsewhere/x", "1"}}));
  EXPECT_NE(m.find("lies outside the archive's folder archive/"), std::string::npos) << m;
  // A record whose bytes do not match its CRC is corrupt, but only a record a kept tensor needs is read.
  auto records = t::archive("3", t::good_pickle());
  records[2].bad_crc = true;
  m = refused(records);
  EXPECT_NE(m.find("zip record archive/data/0 fails its CRC-32 check"), std::string::npos) << m;
  const auto w = kdtext::io::read_torch_state_dict(dir / "z.bin", [](const std::string& k) { return k != "w"; });
  EXPECT_TRUE(w.empty());
  records = t::archive("3", t::good_pickle(), {{"archive/data/7", t::floats(1 << 18), 0, UINT64_MAX, true}});
  t::write_raw_zip(dir / "u.bin", records);  // an unreferenced (and corrupt) megabyte: never read
  EXPECT_EQ(kdtext::io::read_torch_state_dict(dir / "u.bin").size(), 1u);
  // A storage larger than the caller's bound is refused before it is read.
  t::write_raw_zip(dir / "big.bin", t::archive("3", t::good_pickle()));
  try {
    kdtext::io::read_torch_state_dict(dir / "big.bin", {}, 5);
    FAIL() << "a storage over the bound was read";
  } catch (const kdtext::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("storage '0' holds 6 elements, more than the model's largest weight (5)"),
              std::string::npos) << e.what();
  }
  std::ofstream(dir / "tail.bin", std::ios::binary) << std::string(100, '\0') << "PK\x05\x06";
  EXPECT_NE(t::error_of(dir / "tail.bin").find("cannot read as a PyTorch zip checkpoint"), std::string::npos);
}

TEST(TorchStateDict, PickleOpcodesPythonWouldNotReadTheSameWayAreRefused) {
  TempDir dir;
  namespace t = torch_state_dict_test;
  using t::Pickle;
  const auto refused = [&](const std::string& pickle) {
    t::write_raw_zip(dir / "p.bin", t::archive("3", pickle));
    return t::error_of(dir / "p.bin");
  };
  Pickle proto;
  proto.op('\x80').op('\x63').op('}').op('.');
  EXPECT_NE(refused(proto.b).find("pickle protocol 99"), std::string::npos);
  Pickle frame;
  frame.op('\x80').op('\x04').op('\x95');
  t::put(frame.b, uint64_t{1} << 62, 8);
  frame.op('}').op('.');
  EXPECT_NE(refused(frame.b).find("a FRAME of 4611686018427387904 bytes runs past the pickle"), std::string::npos);
  // A class named under a tensor's backward hooks is refused when named, before any call.
  auto hooks = t::state_dict_with([](Pickle& q) {
    q.global("torch._utils", "_rebuild_tensor_v2").op('(');
    q.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").int1(6).op('t').op('Q');
    q.int1(0).int1(2).int1(3).op('\x86').int1(3).int1(1).op('\x86').op('\x89');
    q.op('}').str("hook").global("builtins", "eval").op('s');
    q.op('t').op('R');
  });
  EXPECT_NE(refused(hooks.b).find("refuses the class builtins.eval"), std::string::npos);
  auto empty_hooks_dict = t::state_dict_with([](Pickle& q) {
    q.global("torch._utils", "_rebuild_tensor_v2").op('(');
    q.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").int1(6).op('t').op('Q');
    q.int1(0).int1(2).int1(3).op('\x86').int1(3).int1(1).op('\x86').op('\x89');
    q.op('}').str("hook").int1(1).op('s');
    q.op('t').op('R');
  });
  EXPECT_NE(refused(empty_hooks_dict.b).find("a tensor with backward hooks"), std::string::npos);
  // A storage key with a NUL (or anything but a plain name) is not cut short: refused.
  auto nul = t::state_dict_with([](Pickle& q) {
    q.global("torch._utils", "_rebuild_tensor_v2").op('(');
    q.op('(').str("storage").global("torch", "FloatStorage").str(std::string("0\0x", 3)).str("cpu").int1(6).op('t').op('Q');
    q.int1(0).int1(2).int1(3).op('\x86').int1(3).int1(1).op('\x86').op('\x89');
    q.global("collections", "OrderedDict").op(')').op('R').op('t').op('R');
  });
  EXPECT_NE(refused(nul.b).find("a storage key that is not a plain name"), std::string::npos);
}

TEST(TorchStateDict, HostilePicklesEndInAnErrorInLinearTimeAndBoundedMemory) {
  TempDir dir;
  namespace t = torch_state_dict_test;
  using t::Pickle;
  const auto refused = [&](const std::string& pickle) {
    t::write_raw_zip(dir / "h.bin", t::archive("3", pickle));
    return t::error_of(dir / "h.bin");
  };
  const int n = 1000000;
  // Lists nested a million deep (each appended to the one before): no recursion anywhere.
  std::string deep = std::string(n, ']') + std::string(n - 1, 'a') + ".";
  EXPECT_NE(refused(deep).find("nests collections deeper than 64"), std::string::npos);
  // A tuple of 300,000 items, a state dict of a million entries, a million single APPENDs: linear.
  std::string tuple = "(";
  for (int i = 0; i < 300000; ++i) tuple += "N";
  tuple += "t.";
  EXPECT_NE(refused(tuple).find("the checkpoint holds a tuple"), std::string::npos);
  Pickle dict;
  dict.op('}').op('(');
  for (int i = 0; i < 400000; ++i) dict.str("k" + std::to_string(i)).op('N');
  dict.op('u').op('.');
  EXPECT_NE(refused(dict.b).find("is a None, not a tensor"), std::string::npos);
  std::string appends = "]";
  for (int i = 0; i < n / 2; ++i) appends += "Na";
  appends += ".";
  EXPECT_NE(refused(appends).find("the checkpoint holds a list"), std::string::npos);
  // Ten million MARKs, a million objects, a memo of a million: capped, not grown without end.
  EXPECT_NE(refused(std::string(10000000, '(') + ".").find("the pickle's stack grows past"), std::string::npos);
  EXPECT_NE(refused(std::string(2000000, 'N') + ".").find("the pickle makes more than 1000000 objects"),
            std::string::npos);
  std::string memo = "N";
  for (int i = 0; i < 1100000; ++i) {
    memo += 'r';
    t::put(memo, static_cast<uint64_t>(i), 4);
  }
  EXPECT_NE(refused(memo + ".").find("the pickle's memo grows past"), std::string::npos);
}
