#include "kdtext/util/atomic.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

#include "kdtext/util/error.h"

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
  fs::rename(tmp_, path_, ec);
  if (ec) throw std::runtime_error(path_.string() + ": cannot move temporary file into place: " + ec.message());
  committed_ = true;
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
  fs::path old;
  if (fs::exists(final_, ec)) {
    // Empty directories may be replaced without --overwrite.
    old = final_.parent_path() / (final_.filename().string() + ".old-" + pid_suffix());
    fs::rename(final_, old, ec);
    if (ec) throw std::runtime_error(final_.string() + ": cannot move old output aside: " + ec.message());
  }
  fs::rename(staging_, final_, ec);
  if (ec) {
    if (!old.empty()) fs::rename(old, final_, ec);
    throw std::runtime_error(final_.string() + ": cannot move finished output into place: " + ec.message());
  }
  committed_ = true;
  sync_path(final_.parent_path());
  if (!old.empty()) fs::remove_all(old, ec);
}

}  // namespace kdtext
