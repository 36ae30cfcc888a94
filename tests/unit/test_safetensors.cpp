#include <gtest/gtest.h>

#include <cstring>

#include "kdtext/io/safetensors.h"
#include "kdtext/error.h"
#include "test_util.h"

using namespace kdtext;
using kdtext::testing::read_file;
using kdtext::testing::TempDir;
using kdtext::testing::write_file;

namespace {
std::string error_of(const std::filesystem::path& p) {
  try {
    io::load_safetensors(p);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// Builds a file by hand: header JSON + data bytes.
std::string make_file(const std::string& header, const std::string& data, int64_t forced_len = -1) {
  uint64_t n = forced_len >= 0 ? static_cast<uint64_t>(forced_len) : header.size();
  std::string out(8, '\0');
  std::memcpy(out.data(), &n, 8);
  return out + header + data;
}
}  // namespace

TEST(Safetensors, RoundTripKeepsDtypesShapesValuesAndMetadata) {
  TempDir dir;
  auto f32 = torch::randn({3, 4});
  auto f16 = torch::randn({5}).to(torch::kFloat16);
  auto bf16 = torch::randn({2, 2, 2}).to(torch::kBFloat16);
  auto i64 = torch::arange(6, torch::kLong).view({2, 3});
  auto scalar = torch::tensor(3.5);
  io::save_safetensors(dir / "m.safetensors",
                       {{"a.weight", f32}, {"half", f16}, {"brain", bf16}, {"ids", i64}, {"s", scalar}},
                       {{"format", "pt"}});
  const auto loaded = io::load_safetensors(dir / "m.safetensors");
  EXPECT_EQ(loaded.metadata.at("format"), "pt");
  EXPECT_TRUE(torch::equal(loaded.tensors.at("a.weight"), f32));
  EXPECT_TRUE(torch::equal(loaded.tensors.at("half"), f16));
  EXPECT_EQ(loaded.tensors.at("brain").scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(loaded.tensors.at("brain"), bf16));
  EXPECT_TRUE(torch::equal(loaded.tensors.at("ids"), i64));
  EXPECT_EQ(loaded.tensors.at("s").dim(), 0);
  // The data section starts 8-byte aligned, as other writers expect.
  const std::string bytes = read_file(dir / "m.safetensors");
  uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ((8 + n) % 8, 0u);
}

TEST(Safetensors, ReadsAHandWrittenFile) {
  TempDir dir;
  const float values[2] = {1.5f, -2.0f};
  std::string data(reinterpret_cast<const char*>(values), 8);
  write_file(dir / "h.safetensors",
             make_file(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}})", data));
  const auto f = io::load_safetensors(dir / "h.safetensors");
  EXPECT_FLOAT_EQ(f.tensors.at("x")[0].item<float>(), 1.5f);
  EXPECT_FLOAT_EQ(f.tensors.at("x")[1].item<float>(), -2.0f);
}

TEST(Safetensors, RowsWrittenInSlicesReadBackMappedAndLoaded) {
  TempDir dir;
  const auto all = torch::randn({7, 3});
  {
    io::SafetensorsRowWriter w(dir / "rows.safetensors", "logits", torch::kFloat32, {7, 3}, {{"key", "v1"}});
    w.append(all.slice(0, 0, 4));
    EXPECT_THROW(w.append(torch::ones({2, 4})), std::invalid_argument);                  // row shape
    EXPECT_THROW(w.append(torch::ones({2, 3}, torch::kFloat64)), std::invalid_argument);  // dtype
    EXPECT_THROW(w.append(torch::ones({4, 3})), std::invalid_argument);                   // past 7 rows
    EXPECT_THROW(w.commit(), std::logic_error);                                           // 4 of 7
    EXPECT_FALSE(std::filesystem::exists(dir / "rows.safetensors"));
    w.append(all.slice(0, 4, 7));
    w.commit();
  }
  // An independent reader (the loader) sees what was written, and the mapping the same.
  const auto loaded = io::load_safetensors(dir / "rows.safetensors");
  EXPECT_EQ(loaded.metadata.at("key"), "v1");
  EXPECT_TRUE(torch::equal(loaded.tensors.at("logits"), all));
  auto mapped = io::map_safetensors(dir / "rows.safetensors");
  EXPECT_EQ(mapped.metadata, loaded.metadata);
  const auto view = mapped.tensors.at("logits");
  mapped = {};  // the tensor keeps the mapping alive
  EXPECT_TRUE(torch::equal(view, all));
  EXPECT_TRUE(torch::equal(view.index_select(0, torch::tensor({6, 0})), torch::stack({all[6], all[0]})));
  // Every dtype save_safetensors writes maps back equal (a scalar and an empty tensor too).
  const auto ids = torch::arange(6, torch::kLong).view({2, 3});
  io::save_safetensors(dir / "m.safetensors", {{"ids", ids}, {"s", torch::tensor(2.5)}, {"e", torch::empty({0, 2})}});
  const auto m = io::map_safetensors(dir / "m.safetensors");
  EXPECT_TRUE(torch::equal(m.tensors.at("ids"), ids));
  EXPECT_EQ(m.tensors.at("s").item<double>(), 2.5);
  EXPECT_EQ(m.tensors.at("e").sizes().vec(), (std::vector<int64_t>{0, 2}));
}

TEST(Safetensors, AnUncommittedRowWriterLeavesNothingAndMappingChecksLikeLoading) {
  TempDir dir;
  {
    io::SafetensorsRowWriter w(dir / "x.safetensors", "logits", torch::kFloat32, {2, 2});
    w.append(torch::ones({1, 2}));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  io::save_safetensors(dir / "ok.safetensors", {{"w", torch::ones({4, 4})}});
  const std::string ok = read_file(dir / "ok.safetensors");
  write_file(dir / "trunc.safetensors", ok.substr(0, ok.size() - 10));
  try {
    io::map_safetensors(dir / "trunc.safetensors");
    ADD_FAILURE() << "a truncated file was mapped";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("trunc.safetensors"), std::string::npos) << e.what();
  }
  EXPECT_THROW(io::map_safetensors(dir / "missing.safetensors"), InputError);
}

TEST(Safetensors, RejectsCorruptFilesWithClearErrors) {
  TempDir dir;
  io::save_safetensors(dir / "ok.safetensors", {{"w", torch::ones({4, 4})}});
  const std::string ok = read_file(dir / "ok.safetensors");

  write_file(dir / "trunc.safetensors", ok.substr(0, ok.size() - 10));
  EXPECT_NE(error_of(dir / "trunc.safetensors").find("outside"), std::string::npos);

  write_file(dir / "short.safetensors", "abc");
  EXPECT_NE(error_of(dir / "short.safetensors").find("shorter"), std::string::npos);

  write_file(dir / "absurd.safetensors", make_file("{}", "", int64_t{1} << 40));
  EXPECT_NE(error_of(dir / "absurd.safetensors").find("header length"), std::string::npos);

  const std::string data(16, '\0');
  write_file(dir / "range.safetensors",
             make_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", data));
  EXPECT_NE(error_of(dir / "range.safetensors").find("'w'"), std::string::npos);

  write_file(dir / "dtype.safetensors",
             make_file(R"({"w":{"dtype":"F8_E9","shape":[4],"data_offsets":[0,4]}})", data));
  const std::string dtype_msg = error_of(dir / "dtype.safetensors");
  EXPECT_NE(dtype_msg.find("unknown or unsupported dtype 'F8_E9'"), std::string::npos) << dtype_msg;

  write_file(dir / "shape.safetensors",
             make_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", data));
  const std::string shape_msg = error_of(dir / "shape.safetensors");
  EXPECT_NE(shape_msg.find("needs 12 bytes"), std::string::npos) << shape_msg;

  write_file(dir / "overlap.safetensors",
             make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                       data));
  EXPECT_NE(error_of(dir / "overlap.safetensors").find("overlap"), std::string::npos);

  write_file(dir / "json.safetensors", make_file("{not json", data));
  EXPECT_NE(error_of(dir / "json.safetensors").find("not valid JSON"), std::string::npos);

  EXPECT_NE(error_of(dir / "missing.safetensors").find("cannot open"), std::string::npos);
}
