#include "kdtext/io/safetensors.h"

#include <sys/mman.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "kdtext/io/safetensors_layout.h"
#include "kdtext/io/zip.h"
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

// The 8-byte length and the JSON header, padded so the data section starts 8-byte aligned.
std::string header_bytes(const Json& header) {
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');
  const uint64_t n = h.size();
  return std::string(reinterpret_cast<const char*>(&n), 8) + h;
}

Json header_entry(const std::string& name, torch::ScalarType type, const std::vector<int64_t>& shape,
                  uint64_t offset, uint64_t bytes) {
  const DType* d = dtype_by_type(type);
  if (!d) throw std::invalid_argument("safetensors: unsupported dtype for tensor '" + name + "'");
  return {{"dtype", d->name}, {"shape", shape}, {"data_offsets", {offset, offset + bytes}}};
}

}  // namespace

void save_safetensors(const fs::path& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  Json header = Json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (header.contains(name)) throw std::invalid_argument("safetensors: duplicate tensor name '" + name + "'");
    auto t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = header_entry(name, t.scalar_type(), t.sizes().vec(), offset, bytes);
    offset += bytes;
    data.push_back(t);
  }
  std::string out = header_bytes(header);
  out.reserve(out.size() + offset);
  for (const auto& t : data) out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  write_file_atomic(path, out);
}

namespace {

InputError file_error(const fs::path& path, const std::string& why) { return InputError(path.string() + ": " + why); }

// Opens `path` and reads and checks its header; `in` is left open.
SafetensorsLayout read_layout(const fs::path& path, std::ifstream& in, uint64_t& size) {
  in.open(path, std::ios::binary);
  if (!in) throw file_error(path, "cannot open safetensors file");
  std::error_code ec;
  size = fs::file_size(path, ec);
  if (ec) throw file_error(path, "cannot read the file size: " + ec.message());
  char first8[8] = {};
  in.read(first8, 8);
  const uint64_t n = safetensors_header_length(first8, in ? size : 0, path.string());
  std::string h(n, '\0');
  in.read(h.data(), static_cast<std::streamsize>(n));
  if (!in) throw file_error(path, "cannot read header");
  return parse_safetensors_header(h, size, path.string());
}

// A read-only private mapping of a whole file, unmapped with its last tensor.
struct Mapping {
  void* base = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (base != MAP_FAILED) munmap(base, size);
  }
};

}  // namespace

SafetensorsFile load_safetensors(const fs::path& path) {
  std::ifstream in;
  uint64_t size = 0;
  SafetensorsLayout layout = read_layout(path, in, size);
  SafetensorsFile out;
  out.metadata = std::move(layout.metadata);
  // Straight into each tensor: no second copy of the file in memory.
  for (const auto& e : layout.tensors) {
    auto t = torch::empty(e.shape, torch::TensorOptions().dtype(dtype_by_name(e.dtype)->type));
    if (e.end > e.begin) {
      in.seekg(static_cast<std::streamoff>(layout.data_start + e.begin));
      in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(e.end - e.begin));
      if (!in) throw file_error(path, "cannot read the data of tensor '" + e.name + "'");
    }
    out.tensors[e.name] = t;
  }
  return out;
}

SafetensorsFile map_safetensors(const fs::path& path) {
  std::ifstream in;
  uint64_t size = 0;
  SafetensorsLayout layout = read_layout(path, in, size);
  in.close();
  auto mapping = std::make_shared<Mapping>();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw file_error(path, std::string("cannot open: ") + std::strerror(errno));
  mapping->size = static_cast<size_t>(size);
  mapping->base = ::mmap(nullptr, mapping->size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int mmap_errno = errno;
  ::close(fd);  // the mapping keeps the file
  if (mapping->base == MAP_FAILED) throw file_error(path, std::string("cannot map: ") + std::strerror(mmap_errno));
  SafetensorsFile out;
  out.metadata = std::move(layout.metadata);
  for (const auto& e : layout.tensors) {
    const auto type = dtype_by_name(e.dtype)->type;
    char* data = static_cast<char*>(mapping->base) + layout.data_start + e.begin;
    if (e.end == e.begin || reinterpret_cast<uintptr_t>(data) % e.element_bytes != 0) {  // empty or unaligned: a copy
      auto t = torch::empty(e.shape, torch::TensorOptions().dtype(type));
      std::memcpy(t.data_ptr(), data, e.end - e.begin);
      out.tensors[e.name] = t;
      continue;
    }
    out.tensors[e.name] = torch::from_blob(
        data, e.shape, [mapping](void*) {}, torch::TensorOptions().dtype(type));
  }
  return out;
}

SafetensorsRowWriter::SafetensorsRowWriter(const fs::path& path, const std::string& name, torch::ScalarType dtype,
                                           std::vector<int64_t> shape,
                                           const std::map<std::string, std::string>& metadata)
    : path_(path), name_(name), dtype_(dtype), shape_(std::move(shape)) {
  if (shape_.empty()) throw std::invalid_argument("safetensors: a row writer needs at least one dimension");
  uint64_t bytes = c10::elementSize(dtype_);
  for (int64_t d : shape_) bytes *= static_cast<uint64_t>(d);
  auto meta = metadata;
  meta[kDataCrcKey] = "00000000";  // patched by commit()
  Json header = Json::object();
  header["__metadata__"] = meta;
  header[name_] = header_entry(name_, dtype_, shape_, 0, bytes);
  const std::string h = header_bytes(header), placeholder = "\"" + std::string(kDataCrcKey) + "\":\"00000000\"";
  crc_at_ = h.find(placeholder) + placeholder.size() - 9;
  out_ = std::make_unique<AtomicFileWriter>(path_);
  out_->write(h);
}

std::string data_crc32(const torch::Tensor& t) {
  const auto c = t.detach().to(torch::kCPU).contiguous();
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", crc32(c.data_ptr(), static_cast<size_t>(c.numel() * c.element_size())));
  return hex;
}

SafetensorsRowWriter::~SafetensorsRowWriter() = default;

void SafetensorsRowWriter::append(const torch::Tensor& rows) {
  auto t = rows.detach().to(torch::kCPU).contiguous();
  if (t.scalar_type() != dtype_) throw std::invalid_argument("safetensors: rows of another dtype for '" + name_ + "'");
  std::vector<int64_t> expected = shape_;
  expected[0] = t.dim() > 0 ? t.size(0) : -1;
  if (t.sizes().vec() != expected || written_ + t.size(0) > shape_[0]) {
    throw std::invalid_argument("safetensors: rows of shape " + Json(t.sizes().vec()).dump() + " do not fit '" +
                                name_ + "' of shape " + Json(shape_).dump() + " after " + std::to_string(written_) +
                                " rows");
  }
  out_->write(std::string_view(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size()));
  crc_ = crc32(t.data_ptr(), static_cast<size_t>(t.numel() * t.element_size()), crc_);
  written_ += t.size(0);
}

void SafetensorsRowWriter::commit() {
  if (written_ != shape_[0]) {
    throw std::logic_error(path_.string() + ": " + std::to_string(written_) + " of " + std::to_string(shape_[0]) +
                           " rows written");
  }
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", crc_);
  out_->write_at(crc_at_, std::string_view(hex, 8));
  out_->commit();
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
