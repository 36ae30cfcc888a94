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

}  // namespace kdtext
