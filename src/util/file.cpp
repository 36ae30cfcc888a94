#include "kdtext/util/file.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "kdtext/util/error.h"

namespace kdtext {

std::string read_file(const std::filesystem::path& path, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InputError(path.string() + ": is a directory, not a " + what);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot open " + what + " for reading");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

namespace {
// 64-bit words mixed as in splitmix64, the tail byte by byte.
struct Hash64 {
  uint64_t h = 0x9e3779b97f4a7c15ULL, bytes = 0;
  static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  void add(const char* p, size_t n) {
    bytes += n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      h = mix(h ^ w) + 0x632be59bd9b4e019ULL;
    }
    for (; i < n; ++i) h = mix(h ^ static_cast<unsigned char>(p[i]));
  }
  void add_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(path.string() + ": cannot open for reading");
    std::vector<char> buf(1 << 20);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      add(buf.data(), static_cast<size_t>(in.gcount()));
    }
    if (in.bad()) throw InputError(path.string() + ": read failed");
  }
};
}  // namespace

std::string content_fingerprint(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  Hash64 hash;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(path)) {
      if (e.is_regular_file()) files.push_back(fs::relative(e.path(), path));
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      const std::string name = f.generic_string();
      hash.add(name.data(), name.size() + 1);  // with its NUL: names and contents cannot run together
      hash.add_file(path / f);
    }
  } else {
    hash.add_file(path);
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "h64:%016llx:%llu", static_cast<unsigned long long>(hash.h),
                static_cast<unsigned long long>(hash.bytes));
  return buf;
}

}  // namespace kdtext
