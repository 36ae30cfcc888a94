#include "kdtext/io/safetensors_layout.h"

#include <algorithm>
#include <cstring>

#include "kdtext/error.h"
#include "kdtext/util/json.h"

namespace kdtext::io {

namespace {

constexpr std::pair<const char*, size_t> kDTypeBytes[] = {{"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8},
                                                          {"I64", 8}, {"I32", 4}, {"I16", 2},  {"I8", 1},
                                                          {"U8", 1},  {"BOOL", 1}};

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

// Validates the header entry `e` of tensor `name`; `fail` builds the error.
template <typename Fail>
TensorLayout parse_entry(const std::string& name, const Json& e, uint64_t data_size, const Fail& fail) {
  if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets")) {
    throw fail("tensor '" + name + "': entry needs dtype, shape and data_offsets");
  }
  if (!e["dtype"].is_string()) throw fail("tensor '" + name + "': dtype is not a string");
  TensorLayout entry;
  entry.name = name;
  entry.dtype = e["dtype"].get<std::string>();
  entry.element_bytes = safetensors_dtype_bytes(entry.dtype);
  if (entry.element_bytes == 0) throw fail("tensor '" + name + "': unknown or unsupported dtype '" + entry.dtype + "'");
  uint64_t numel = 1;
  if (!e["shape"].is_array()) throw fail("tensor '" + name + "': shape is not an array");
  for (const auto& dim : e["shape"]) {
    if (!dim.is_number_unsigned()) throw fail("tensor '" + name + "': shape has a non-integer or negative entry");
    const uint64_t v = dim.get<uint64_t>();
    if (v > (uint64_t{1} << 62) || (v != 0 && numel > (uint64_t{1} << 62) / v)) {
      throw fail("tensor '" + name + "': shape too large");
    }
    numel *= v;
    entry.shape.push_back(static_cast<int64_t>(v));
  }
  const auto& off = e["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned()) {
    throw fail("tensor '" + name + "': data_offsets must be two non-negative integers");
  }
  entry.begin = off[0].get<uint64_t>();
  entry.end = off[1].get<uint64_t>();
  if (entry.begin > entry.end || entry.end > data_size) {
    throw fail("tensor '" + name + "': data_offsets [" + std::to_string(entry.begin) + ", " +
               std::to_string(entry.end) + "] fall outside the " + std::to_string(data_size) +
               "-byte data section (truncated file?)");
  }
  if (numel > data_size || entry.end - entry.begin != numel * entry.element_bytes) {
    const std::string needs = numel > data_size ? "more than " + std::to_string(data_size)
                                                : std::to_string(numel * entry.element_bytes);
    throw fail("tensor '" + name + "': shape " + e["shape"].dump() + " of " + entry.dtype + " needs " + needs +
               " bytes but data_offsets span " + std::to_string(entry.end - entry.begin));
  }
  return entry;
}

}  // namespace

size_t safetensors_dtype_bytes(const std::string& name) {
  for (const auto& [n, bytes] : kDTypeBytes) {
    if (name == n) return bytes;
  }
  return 0;
}

uint64_t safetensors_header_length(const char* first8, uint64_t file_size, const std::string& origin) {
  if (file_size < 8) throw InputError(origin + ": not a safetensors file (shorter than its 8-byte header length)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(first8[i]);
  if (n > file_size - 8 || n > kMaxHeaderBytes) {
    throw InputError(origin + ": header length " + std::to_string(n) + " is impossible for a file of " +
                     std::to_string(file_size) + " bytes (truncated or not safetensors)");
  }
  return n;
}

SafetensorsLayout parse_safetensors_header(std::string_view h, uint64_t file_size, const std::string& origin) {
  const auto fail = [&](const std::string& why) { return InputError(origin + ": " + why); };
  if (8 + h.size() > file_size) throw fail("header longer than the file");
  Json header;
  try {
    header = Json::parse(h.begin(), h.end());
  } catch (const nlohmann::json::exception& e) {  // syntax, or a number out of range
    throw fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) throw fail("header is not a JSON object");
  SafetensorsLayout out;
  out.data_start = 8 + h.size();
  const uint64_t data_size = file_size - out.data_start;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() != "__metadata__") {
      out.tensors.push_back(parse_entry(it.key(), *it, data_size, fail));
      continue;
    }
    if (!it->is_object()) throw fail("__metadata__ must be an object of strings");
    for (auto m = it->begin(); m != it->end(); ++m) {
      if (!m->is_string()) throw fail("__metadata__." + m.key() + " is not a string");
      out.metadata[m.key()] = m->get<std::string>();
    }
  }
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const auto& t : out.tensors) ranges.emplace_back(t.begin, t.end);
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) throw fail("tensor data ranges overlap");
  }
  return out;
}

}  // namespace kdtext::io
