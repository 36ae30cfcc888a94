#include "kdtext/util/paths.h"

#include <cstdlib>
#include <system_error>

namespace kdtext {
namespace fs = std::filesystem;

fs::path executable_path() {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path() : p;
}

fs::path presets_directory() {
  if (const char* env = std::getenv("KDTEXT_CONFIG_DIR"); env != nullptr && *env != '\0') return fs::path(env);
  return executable_path().parent_path().parent_path() / "share" / "kdtext" / "configs";
}

fs::path cache_root() {
  if (const char* env = std::getenv("KDTEXT_CACHE"); env != nullptr && *env != '\0') return fs::path(env);
  const char* home = std::getenv("HOME");
  return fs::path(home != nullptr && *home != '\0' ? home : ".") / ".cache" / "kdtext";
}

}  // namespace kdtext
