#include "kdtext/util/atomic.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <system_error>

#include "kdtext/util/error.h"
#include "kdtext/util/fault.h"

namespace kdtext {
namespace fs = std::filesystem;

namespace {
std::string pid_suffix() { return std::to_string(static_cast<long>(::getpid())); }
}  // namespace

void sync_path(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(path.string() + ": cannot open to sync: " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw std::runtime_error(path.string() + ": fsync failed (disk full?): " + std::strerror(err));
}

void sync_tree(const fs::path& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() || e.is_directory()) sync_path(e.path());
  }
  sync_path(dir);
}

AtomicFileWriter::AtomicFileWriter(fs::path path)
    : path_(std::move(path)), tmp_(path_.string() + ".tmp-" + pid_suffix()),
      out_(tmp_, std::ios::binary | std::ios::trunc) {
  if (!out_) throw std::runtime_error(path_.string() + ": cannot open for writing: " + std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (committed_) return;
  out_.close();
  std::error_code ignored;
  fs::remove(tmp_, ignored);
}

void AtomicFileWriter::write(std::string_view text) { out_.write(text.data(), static_cast<std::streamsize>(text.size())); }

void AtomicFileWriter::commit() {
  out_.flush();
  if (!out_) {
    throw std::runtime_error(path_.string() + ": write failed (disk full or file-size limit?): " +
                             std::strerror(errno));
  }
  out_.close();
  if (!out_) throw std::runtime_error(path_.string() + ": write failed on close: " + std::strerror(errno));
  sync_path(tmp_);  // the data is on disk before the name points at it
  std::error_code ec;
  crash_point("file.before_rename");
  fs::rename(tmp_, path_, ec);
  if (ec) throw std::runtime_error(path_.string() + ": cannot move temporary file into place: " + ec.message());
  committed_ = true;
  crash_point("file.after_rename");
  sync_path(path_.has_parent_path() ? path_.parent_path() : fs::path("."));  // and the rename itself
}

void write_file_atomic(const fs::path& path, std::string_view content) {
  AtomicFileWriter out(path);
  out.write(content);
  out.commit();
}

StagedDirectory::StagedDirectory(fs::path final_path, bool overwrite, bool lock)
    : final_(std::move(final_path)), overwrite_(overwrite) {
  if (final_.empty()) throw ConfigError("output directory: empty path");
  final_ = fs::absolute(final_).lexically_normal();
  if (final_.filename().empty()) final_ = final_.parent_path();
  if (lock) lock_.emplace(final_);
  std::error_code ec;
  if (fs::exists(final_, ec)) {
    if (!fs::is_directory(final_, ec)) {
      throw ConfigError(final_.string() + ": output path exists and is not a directory");
    }
    if (!overwrite_ && !fs::is_empty(final_, ec)) {
      throw ConfigError(final_.string() +
                        ": output directory exists and is not empty (pass --overwrite to replace it)");
    }
  }
  const fs::path parent = final_.parent_path();
  fs::create_directories(parent, ec);
  if (ec) throw std::runtime_error(parent.string() + ": cannot create output parent directory: " + ec.message());
  staging_ = parent / (final_.filename().string() + ".partial-" + pid_suffix());
  fs::remove_all(staging_, ec);
  if (!fs::create_directory(staging_, ec) || ec) {
    throw std::runtime_error(parent.string() + ": cannot create a directory here (" +
                             (ec ? ec.message() : std::string("unknown error")) +
                             "); is the output location writable?");
  }
}

StagedDirectory::~StagedDirectory() {
  if (!committed_) {
    std::error_code ignored;
    fs::remove_all(staging_, ignored);
  }
}

void StagedDirectory::commit() {
  sync_tree(staging_);
  std::error_code ec;
  crash_point("dir.before_rename");
  fs::path old;
  if (fs::exists(final_, ec)) {
    // Swap the finished output with the old one in one atomic step: a kill
    // leaves the old or the new output under the final name, never neither.
    if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, final_.c_str(), RENAME_EXCHANGE) == 0) {
      committed_ = true;
      sync_path(final_.parent_path());
      crash_point("dir.after_rename");
      fs::remove_all(staging_, ec);  // now the old output; a leftover is removed by the next run
      return;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
      throw std::runtime_error(final_.string() + ": cannot swap in the finished output: " + std::strerror(errno));
    }
    // A filesystem without RENAME_EXCHANGE: two renames. A kill between them
    // leaves only `<final>.old-PID`, which restore_moved_aside() puts back.
    old = final_.parent_path() / (final_.filename().string() + ".old-" + pid_suffix());
    fs::rename(final_, old, ec);
    if (ec) throw std::runtime_error(final_.string() + ": cannot move old output aside: " + ec.message());
    crash_point("dir.old_aside");
  }
  fs::rename(staging_, final_, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, final_, ec);
    throw std::runtime_error(final_.string() + ": cannot move finished output into place: " + ec.message());
  }
  committed_ = true;
  sync_path(final_.parent_path());
  crash_point("dir.after_rename");
  if (!old.empty()) fs::remove_all(old, ec);
}

bool restore_moved_aside(const fs::path& old) {
  static const std::regex kOld(R"((.+)\.old-[0-9]+)");
  std::smatch m;
  const std::string name = old.filename().string();
  if (!std::regex_match(name, m, kOld)) return false;
  const fs::path final_path = old.parent_path() / m[1].str();
  std::error_code ec;
  if (fs::exists(final_path, ec)) return false;
  fs::rename(old, final_path, ec);
  return !ec;
}

}  // namespace kdtext
