#include "kdtext/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <set>

#include "kdtext/io/safetensors_layout.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"
#include "kdtext/util/json.h"

namespace kdtext::io {
namespace fs = std::filesystem;

namespace {

struct DType {
  const char* name;
  torch::ScalarType type;
};
constexpr DType kDTypes[] = {{"F32", torch::kFloat32}, {"F16", torch::kFloat16}, {"BF16", torch::kBFloat16},
                             {"F64", torch::kFloat64}, {"I64", torch::kInt64},   {"I32", torch::kInt32},
                             {"I16", torch::kInt16},   {"I8", torch::kInt8},     {"U8", torch::kUInt8},
                             {"BOOL", torch::kBool}};

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
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
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

SafetensorsFile load_safetensors(const fs::path& path) {
  const auto fail = [&](const std::string& why) { return InputError(path.string() + ": " + why); };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail("cannot open safetensors file");
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  if (ec) throw fail("cannot read the file size: " + ec.message());
  char first8[8] = {};
  in.read(first8, 8);
  const uint64_t n = safetensors_header_length(first8, in ? size : 0, path.string());
  std::string h(n, '\0');
  in.read(h.data(), static_cast<std::streamsize>(n));
  if (!in) throw fail("cannot read header");
  SafetensorsLayout layout = parse_safetensors_header(h, size, path.string());
  SafetensorsFile out;
  out.metadata = std::move(layout.metadata);
  // Straight into each tensor: no second copy of the file in memory.
  for (const auto& e : layout.tensors) {
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(dtype_by_name(e.dtype)->type));
    if (e.end > e.begin) {
      in.seekg(static_cast<std::streamoff>(layout.data_start + e.begin));
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

void check_weight(const std::string& origin, const std::string& name, const torch::Tensor& stored) {
  if (!stored.is_floating_point()) {
    throw InputError(origin + ": weight '" + name + "' is stored as " + std::string(c10::toString(stored.scalar_type())) +
                     "; the model needs floating-point weights (F32, F16, BF16 or F64), not a converted integer tensor");
  }
  const auto finite = torch::isfinite(stored);
  if (!finite.all().item<bool>()) {
    throw InputError(origin + ": weight '" + name + "' holds " + std::to_string((~finite).sum().item<int64_t>()) +
                     " NaN or infinite value(s); the checkpoint is damaged (or its training diverged)");
  }
}

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
    const auto& source = it->second;
    if (target.is_floating_point()) check_weight(origin, name, source);
    auto t = target;  // shares storage
    t.copy_(source.to(target.options()));
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
