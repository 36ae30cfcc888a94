#include "test_util.h"

#include "kdtext/cli/runtime.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace kdtext::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::random_device rd;
  path_ = fs::temp_directory_path() /
          ("kdtext-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  fs::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_file(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

CommandResult run_command(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (!pipe) throw std::runtime_error("popen failed: " + command);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), pipe)) > 0) result.output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

namespace {
// LibTorch decides once, at its first CUDA query, whether CUDA exists: load its
// CUDA half (when a GPU driver is present) before any test touches torch.
[[maybe_unused]] const size_t kCudaDevicesAtStart = kdtext::cli::cuda_device_count();
}  // namespace

namespace {
// The test binary lives in <build>/bin next to the executables; the source
// tree is the build directory's parent unless ctest says otherwise.
fs::path self_dir() { return fs::read_symlink("/proc/self/exe").parent_path(); }
}  // namespace

std::string bin(const std::string& name) {
  const char* env = std::getenv("KDTEXT_BIN_DIR");
  return ((env && *env) ? fs::path(env) : self_dir()) / name;
}

fs::path source_dir() {
  const char* env = std::getenv("KDTEXT_SOURCE_DIR");
  return (env && *env) ? fs::path(env) : self_dir().parent_path().parent_path();
}

fs::path shared_fixture(const std::string& name, const std::function<void(const fs::path&)>& build) {
  const fs::path root = fs::path(bin("")).parent_path().parent_path() / "test-fixtures";
  fs::create_directories(root);
  const fs::path dir = root / name, done = dir / ".done", lock = root / (name + ".lock");
  const int fd = ::open(lock.c_str(), O_CREAT | O_RDWR, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + lock.string());
  ::flock(fd, LOCK_EX);
  try {
    bool fresh = fs::exists(done);
    if (fresh) {
      const auto stamp = fs::last_write_time(done);
      for (const auto& e : fs::directory_iterator(fs::path(bin("")).parent_path())) {
        if (e.path().filename().string().rfind("kdtext-", 0) == 0 && fs::last_write_time(e.path()) > stamp) fresh = false;
      }
    }
    if (!fresh) {
      fs::remove_all(dir);
      fs::create_directories(dir);
      build(dir);
      write_file(done, "ok\n");
    }
  } catch (...) {
    ::flock(fd, LOCK_UN);
    ::close(fd);
    throw;
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return dir;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

}  // namespace kdtext::testing
