// Atomic outputs: a file or a whole output directory appears complete or not
// at all. Writers fill a temporary sibling and rename it into place.
#pragma once

#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>

#include "kdtext/util/lock.h"

namespace kdtext {

// fsync(2) of a file or directory; of every file and directory under `dir`
// and `dir` itself. Throw std::runtime_error naming the path.
void sync_path(const std::filesystem::path& path);
void sync_tree(const std::filesystem::path& dir);

// Writes `content` to `path` through `path.tmp-<pid>` and a rename; the file
// and then its directory are fsync'ed around the rename.
// Throws std::runtime_error naming the path on failure.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// A file written incrementally (for outputs too large to hold in memory)
// through `path.tmp-<pid>`, renamed into place by commit(); destroyed without
// commit() (an error was thrown), the temporary file is removed.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  void write(std::string_view text);
  // Flushes, checks for write errors (disk full) and renames into place.
  void commit();

 private:
  std::filesystem::path path_, tmp_;
  std::ofstream out_;
  bool committed_ = false;
};

// An output directory built in a temporary sibling (`<final>.partial-<pid>`)
// and renamed to its final name by commit(). If the object is destroyed
// without commit() (an error was thrown), the partial directory is removed,
// so no half-written output is left behind.
class StagedDirectory {
 public:
  // Throws ConfigError when `final_path` exists and is not empty and
  // `overwrite` is false; std::runtime_error when the parent is unwritable;
  // InputError when another process holds the directory's lock (util/lock.h),
  // which this one holds until destruction; `lock` false for directories
  // inside an output that is locked as a whole (checkpoints of a run).
  StagedDirectory(std::filesystem::path final_path, bool overwrite, bool lock = true);
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;

  // Where to write while staging.
  const std::filesystem::path& path() const { return staging_; }
  const std::filesystem::path& final_path() const { return final_; }
  // Moves the staged directory into place. An old one is swapped out in one
  // atomic step (renameat2 RENAME_EXCHANGE) and then deleted; where the
  // filesystem cannot swap, it is renamed to `<final>.old-<pid>` first
  // (restore_moved_aside puts it back after a kill). After this,
  // destruction leaves the output alone.
  void commit();

 private:
  std::filesystem::path final_;
  std::filesystem::path staging_;
  bool overwrite_;
  bool committed_ = false;
  std::optional<DirectoryLock> lock_;
};

// `old` named `<final>.old-<pid>` by a commit killed between its two renames:
// moves it back to `<final>` when that does not exist. True when restored.
bool restore_moved_aside(const std::filesystem::path& old);

}  // namespace kdtext
