// torch.save files written byte by byte, so a test states what a file holds
// independently of any pickler and can give it what no writer would: any
// version record, a record twice, a compressed record, a wrong CRC, any pickle.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "kdtext/io/zip.h"

namespace kdtext::testing {

// Protocol-2 pickle opcodes, as Python's torch.save writes them.
struct Pickle {
  std::string b;
  Pickle& op(char c) { b.push_back(c); return *this; }
  Pickle& raw(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) b.push_back(static_cast<char>((v >> (8 * k)) & 255));
    return *this;
  }
  Pickle& str(const std::string& s) { op('X').raw(s.size(), 4); b += s; return *this; }
  Pickle& global(const std::string& module, const std::string& name) { op('c'); b += module + "\n" + name + "\n"; return *this; }
  Pickle& int1(int v) { return op('K').op(static_cast<char>(v)); }
  Pickle& long8(int64_t v) { return op('\x8a').op('\x08').raw(static_cast<uint64_t>(v), 8); }
  // torch._utils._rebuild_tensor_v2(storage `key` of `numel` elements of `type`, offset, size, stride, False, OrderedDict())
  Pickle& tensor(int64_t numel, int offset, std::pair<int, int> size, std::pair<int64_t, int64_t> stride,
                 const std::string& key = "0", const std::string& type = "FloatStorage") {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", type).str(key).str("cpu");
    if (numel < 256) int1(static_cast<int>(numel));
    else op('J').raw(static_cast<uint64_t>(numel), 4);  // BININT
    op('t').op('Q');
    int1(offset).int1(size.first).int1(size.second).op('\x86').long8(stride.first).long8(stride.second).op('\x86');
    op('\x89').global("collections", "OrderedDict").op(')').op('R');
    return op('t').op('R');
  }
  // OrderedDict() holding `key` -> what `value` pushes, then its state {'_metadata': OrderedDict()} by BUILD:
  // model.state_dict() as saved.
  template <typename F>
  static Pickle state_dict(const std::string& key, F value) {
    Pickle p;
    p.op('\x80').op('\x02').global("collections", "OrderedDict").op('q').op('\0').op(')').op('R');
    p.str(key);
    value(p);
    p.op('s');
    p.op('}').str("_metadata").op('h').op('\0').op(')').op('R').op('s').op('b');
    return p.op('.');
  }
};

struct ZipRecord {
  std::string name, data;
  int method = 0;                  // 0 stored, 8 deflate (declared only: the data is what it is)
  uint64_t declared = UINT64_MAX;  // the uncompressed size the headers state (default: the data's)
  bool bad_crc = false;
};

inline void write_raw_zip(const std::filesystem::path& path, const std::vector<ZipRecord>& records) {
  std::string out, dir;
  const auto put = [](std::string& b, uint64_t v, int n) {
    for (int k = 0; k < n; ++k) b.push_back(static_cast<char>((v >> (8 * k)) & 255));
  };
  for (const auto& r : records) {
    const uint32_t crc = io::crc32(r.data.data(), r.data.size()) ^ (r.bad_crc ? 1u : 0u);
    const uint64_t usize = r.declared == UINT64_MAX ? r.data.size() : r.declared, at = out.size();
    const auto method = static_cast<uint64_t>(r.method);
    put(out, 0x04034b50, 4); put(out, 20, 2); put(out, 0, 2); put(out, method, 2); put(out, 0, 4);
    put(out, crc, 4); put(out, r.data.size(), 4); put(out, usize, 4); put(out, r.name.size(), 2); put(out, 0, 2);
    out += r.name + r.data;
    put(dir, 0x02014b50, 4); put(dir, 20, 2); put(dir, 20, 2); put(dir, 0, 2); put(dir, method, 2); put(dir, 0, 4);
    put(dir, crc, 4); put(dir, r.data.size(), 4); put(dir, usize, 4); put(dir, r.name.size(), 2);
    put(dir, 0, 2); put(dir, 0, 2); put(dir, 0, 2); put(dir, 0, 2); put(dir, 0, 4); put(dir, at, 4);
    dir += r.name;
  }
  const uint64_t dir_at = out.size();
  out += dir;
  put(out, 0x06054b50, 4); put(out, 0, 2); put(out, 0, 2); put(out, records.size(), 2); put(out, records.size(), 2);
  put(out, dir.size(), 4); put(out, dir_at, 4); put(out, 0, 2);
  std::ofstream(path, std::ios::binary).write(out.data(), static_cast<std::streamsize>(out.size()));
}

inline std::string float_bytes(int n, float v = 1.f) {
  const std::vector<float> f(static_cast<size_t>(n), v);
  return std::string(reinterpret_cast<const char*>(f.data()), f.size() * sizeof(float));
}

// A torch.save archive: data.pkl, the version record and storage '0', then any further records.
inline std::vector<ZipRecord> torch_archive(const std::string& version, const std::string& pickle,
                                            const std::string& storage, std::vector<ZipRecord> more = {}) {
  std::vector<ZipRecord> r = {{"archive/data.pkl", pickle}, {"archive/version", version}, {"archive/data/0", storage}};
  r.insert(r.end(), more.begin(), more.end());
  return r;
}

}  // namespace kdtext::testing
