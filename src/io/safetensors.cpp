#include "kdtext/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

#include "kdtext/util/atomic.h"
#include "kdtext/util/error.h"
#include "kdtext/util/json.h"

namespace kdtext::io {
namespace fs = std::filesystem;

namespace {

struct DType {
  const char* name;
  torch::ScalarType type;
  size_t bytes;
};
constexpr DType kDTypes[] = {{"F32", torch::kFloat32, 4}, {"F16", torch::kFloat16, 2}, {"BF16", torch::kBFloat16, 2},
                             {"F64", torch::kFloat64, 8}, {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4},
                             {"I16", torch::kInt16, 2},   {"I8", torch::kInt8, 1},     {"U8", torch::kUInt8, 1},
                             {"BOOL", torch::kBool, 1}};

const DType* dtype_by_name(const std::string& name) {
  for (const auto& d : kDTypes) {
    if (name == d.name) return &d;
  }
  return nullptr;
}

const DType* dtype_by_type(torch::ScalarType t) {
  for (const auto& d : kDTypes) {
    if (t == d.type) return &d;
  }
  return nullptr;
}

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

}  // namespace

void save_safetensors(const fs::path& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    const DType* d = dtype_by_type(tensor.scalar_type());
    if (!d) throw std::invalid_argument("safetensors: unsupported dtype for tensor '" + name + "'");
    if (header.contains(name)) throw std::invalid_argument("safetensors: duplicate tensor name '" + name + "'");
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * d->bytes;
    header[name] = {{"dtype", d->name}, {"shape", t.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(t);
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');  // align the data section
  std::string out;
  out.reserve(8 + h.size() + offset);
  const uint64_t n = h.size();
  out.append(reinterpret_cast<const char*>(&n), 8);
  out += h;
  for (const auto& t : data) out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  write_file_atomic(path, out);
}

namespace {

// One tensor's header entry, checked against the data section.
struct Entry {
  std::string name;
  const DType* dtype;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

// Validates the header entry `e` of tensor `name`; `fail` builds the error.
template <typename Fail>
Entry parse_entry(const std::string& name, const Json& e, uint64_t data_size, const Fail& fail) {
  if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets")) {
    throw fail("tensor '" + name + "': entry needs dtype, shape and data_offsets");
  }
  if (!e["dtype"].is_string()) throw fail("tensor '" + name + "': dtype is not a string");
  const DType* d = dtype_by_name(e["dtype"].get<std::string>());
  if (!d) throw fail("tensor '" + name + "': unknown or unsupported dtype '" + e["dtype"].get<std::string>() + "'");
  Entry entry{name, d, {}, 0, 0};
  uint64_t numel = 1;
  if (!e["shape"].is_array()) throw fail("tensor '" + name + "': shape is not an array");
  for (const auto& dim : e["shape"]) {
    if (!dim.is_number_unsigned()) throw fail("tensor '" + name + "': shape has a non-integer or negative entry");
    const uint64_t v = dim.get<uint64_t>();
    if (v != 0 && numel > (uint64_t{1} << 62) / v) throw fail("tensor '" + name + "': shape too large");
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
  if (entry.end - entry.begin != numel * d->bytes) {
    throw fail("tensor '" + name + "': shape " + e["shape"].dump() + " of " + d->name + " needs " +
               std::to_string(numel * d->bytes) + " bytes but data_offsets span " +
               std::to_string(entry.end - entry.begin));
  }
  return entry;
}

}  // namespace

SafetensorsFile load_safetensors(const fs::path& path) {
  const auto fail = [&](const std::string& why) { return InputError(path.string() + ": " + why); };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail("cannot open safetensors file");
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec || size < 8) throw fail("not a safetensors file (shorter than its 8-byte header length)");
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  if (n > size - 8 || n > kMaxHeaderBytes) {
    throw fail("header length " + std::to_string(n) + " is impossible for a file of " + std::to_string(size) +
               " bytes (truncated or not safetensors)");
  }
  std::string h(n, '\0');
  in.read(h.data(), static_cast<std::streamsize>(n));
  if (!in) throw fail("cannot read header");
  Json header;
  try {
    header = Json::parse(h);
  } catch (const nlohmann::json::parse_error& e) {
    throw fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) throw fail("header is not a JSON object");
  const uint64_t data_size = size - 8 - n;

  SafetensorsFile out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() != "__metadata__") {
      entries.push_back(parse_entry(it.key(), *it, data_size, fail));
      ranges.emplace_back(entries.back().begin, entries.back().end);
      continue;
    }
    if (!it->is_object()) throw fail("__metadata__ must be an object of strings");
    for (auto m = it->begin(); m != it->end(); ++m) {
      if (!m->is_string()) throw fail("__metadata__." + m.key() + " is not a string");
      out.metadata[m.key()] = m->get<std::string>();
    }
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) throw fail("tensor data ranges overlap");
  }
  // Straight into each tensor: no second copy of the file in memory.
  const auto data_start = static_cast<std::streamoff>(8 + n);
  for (const auto& e : entries) {
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype->type));
    if (e.end > e.begin) {
      in.seekg(data_start + static_cast<std::streamoff>(e.begin));
      in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin));
      if (!in) throw fail("cannot read the data of tensor '" + e.name + "'");
    }
    out.tensors[e.name] = t;
  }
  return out;
}

namespace {
bool has_prefix(const std::string& name, const std::vector<std::string>& prefixes) {
  for (const auto& p : prefixes) {
    if (name.rfind(p, 0) == 0) return true;
  }
  return false;
}
}  // namespace

void load_tensors(const NamedTensors& targets, const TensorMap& weights, const std::string& origin,
                  const LoadRules& rules) {
  torch::NoGradGuard no_grad;
  std::set<std::string> used;
  for (const auto& [name, target] : targets) {
    auto it = weights.find(name);
    if (it == weights.end()) {
      if (has_prefix(name, rules.allow_missing_prefixes)) continue;
      throw InputError(origin + ": missing weight '" + name + "' (expected shape " + c10::str(target.sizes()) + ")");
    }
    if (it->second.sizes() != target.sizes()) {
      throw InputError(origin + ": weight '" + name + "' has shape " + c10::str(it->second.sizes()) +
                       " but the model config needs " + c10::str(target.sizes()));
    }
    auto t = target;  // shares storage
    t.copy_(it->second.to(target.options()));
    used.insert(name);
  }
  for (const auto& [name, tensor] : weights) {
    if (used.count(name) || has_prefix(name, rules.allow_unexpected_prefixes)) continue;
    throw InputError(origin + ": unexpected weight '" + name + "' that the model does not have");
  }
}

NamedTensors module_tensors(const torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& item : module.named_parameters(true)) out.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers(true)) out.emplace_back(item.key(), item.value());
  return out;
}

void load_module_file(torch::nn::Module& module, const std::filesystem::path& file) {
  load_tensors(module_tensors(module), load_safetensors(file).tensors, file.string());
}

}  // namespace kdtext::io
