// Atomic outputs: a file or a whole output directory appears complete or not
// at all. Writers fill a temporary sibling and rename it into place.
#pragma once

#include <cstdint>
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
// What `path` names decides how it is written (see write_target()).
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// Where and how a file output named `path` is written:
// - a symbolic link is followed (to the end of its chain): the link stays and
//   its target is replaced atomically;
// - something that is not a regular file (a FIFO, a character device such as
//   /dev/null, a socket), and a process's descriptor (/dev/stdout,
//   /dev/stderr, /dev/fd/N, /proc/self/fd/N), is written in place, appending,
//   never renamed over: the reader on the other end gets the bytes;
// - anything else (absent or a regular file) gets the temporary file and rename.
struct WriteTarget {
  std::filesystem::path path;  // the file finally written
  bool in_place = false;
  int descriptor = -1;  // this process's own descriptor the path names (/dev/stdout: 1): written through it, so
                        // the bytes land where the descriptor's offset is (a shell's `> file` keeps writing after them)
};
WriteTarget write_target(const std::filesystem::path& path);

// A file of one of kdtext's own caches (measured precisions, ...), where
// nothing is followed: read_cache_file opens `path` without following a
// symbolic link and without blocking (a FIFO), and returns its bytes only if it
// is a regular file of at most `max_bytes` (nullopt otherwise: the caller
// measures again); write_cache_file writes a new file beside it (O_EXCL |
// O_NOFOLLOW) and renames it over `path`, which replaces a link, FIFO or file
// there itself and never what a link points at. Throws std::runtime_error
// naming the path when the write fails.
std::optional<std::string> read_cache_file(const std::filesystem::path& path, uint64_t max_bytes);
void write_cache_file(const std::filesystem::path& path, std::string_view content);

// Checks, before any work, that `path` can be an output file: its directory
// exists and is a directory, and `path` is not a directory. ConfigError naming
// `key` (the flag or config key) and the path otherwise.
void check_output_file(const std::filesystem::path& path, const std::string& key);

// Temporary files `<name>.tmp-PID` beside `path` whose process is gone
// (killed writers): removed; returns how many.
int remove_stale_temporaries(const std::filesystem::path& path);

// True while process `pid` exists (also when it belongs to another user).
bool process_alive(long pid);

// A file written incrementally (for outputs too large to hold in memory)
// through `path.tmp-<pid>`, renamed into place by commit(); destroyed without
// commit() (an error was thrown), the temporary file is removed. Stale
// temporaries of killed writers of the same file are removed first. A FIFO,
// device or /dev/stdout is written in place (write_target()).
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path path);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  void write(std::string_view text);
  // Overwrites bytes already written at `offset` (a header patched at the
  // end); later write()s continue at the end.
  void write_at(uint64_t offset, std::string_view bytes);
  // Flushes, checks for write errors (disk full) and renames into place.
  void commit();

 private:
  std::filesystem::path path_, tmp_;
  std::ofstream out_;
  int fd_ = -1;  // a duplicate of the descriptor written through (WriteTarget::descriptor)
  bool in_place_ = false;
  bool committed_ = false;
};

// An output directory as kdtext names it: absolute, symbolic links resolved
// (so a link and its target share one lock and one staging place), no
// trailing separator.
std::filesystem::path resolved_output_dir(const std::filesystem::path& dir);

// The file every output directory of kdtext holds (what wrote it), so
// that --overwrite can tell a kdtext output from a user's own directory.
inline constexpr const char* kOutputMarker = ".kdtext-output";
void write_output_marker(const std::filesystem::path& dir, const std::string& what);

// Before --overwrite replaces `dir` (resolved): ConfigError naming `dir`
// unless it is absent, empty, or an output kdtext wrote (the marker, or for
// outputs of earlier versions a checkpoint's kdtext.json or a config.json
// with kdtext's "run" settings). Never the current directory or one holding
// it, never a file, never a directory with files kdtext did not write.
void check_replaceable(const std::filesystem::path& dir);

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
