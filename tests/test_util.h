// Helpers shared by the tests: scratch directories, files, running binaries.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

namespace kdtext::testing {

// A fresh directory under the system temp dir, removed at destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& path, const std::string& content);
std::string read_file(const std::filesystem::path& path);

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs a shell command line and captures its output and exit code.
CommandResult run_command(const std::string& command);
// Path of a built executable, e.g. bin("kdtext-preprocess").
std::string bin(const std::string& name);
// The repository root (for data/).
std::filesystem::path source_dir();
// A directory of expensive test artefacts shared by test processes (ctest runs
// each test in its own process): built once by `build` under an exclusive
// lock, reused while it is newer than every built executable.
std::filesystem::path shared_fixture(const std::string& name,
                                     const std::function<void(const std::filesystem::path&)>& build);
// Single-quotes a string for the shell.
std::string quote(const std::string& s);

}  // namespace kdtext::testing
