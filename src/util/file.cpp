#include "kdtext/util/file.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "kdtext/error.h"
#include "kdtext/util/hash.h"

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
void add_file(Fnv1a64& hash, const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path.string() + ": cannot open for reading");
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    hash.add(std::string_view(buf.data(), static_cast<size_t>(in.gcount())));
  }
  if (in.bad()) throw InputError(path.string() + ": read failed");
}
}  // namespace

std::string content_fingerprint(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  Fnv1a64 hash;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::recursive_directory_iterator(path)) {
      if (e.is_regular_file()) files.push_back(fs::relative(e.path(), path));
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      const std::string name = f.generic_string();
      hash.add(std::string_view(name.data(), name.size() + 1));  // with its NUL: names and contents cannot run together
      add_file(hash, path / f);
    }
  } else {
    add_file(hash, path);
  }
  return hash.hex() + ":" + std::to_string(hash.bytes());
}

}  // namespace kdtext
