#include "kdtext/util/atomic.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <regex>
#include <system_error>

#include "kdtext/error.h"
#include "kdtext/util/fault.h"
#include "kdtext/util/file.h"
#include "kdtext/util/json.h"

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

bool process_alive(long pid) { return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM); }

namespace {
// A process's own descriptors: /dev/stdout, /dev/stderr, /dev/fd/N,
// /proc/<pid or self>/fd/N. Written in place even when they reach a regular
// file (the shell's `> file`), which a rename would leave behind.
bool names_a_descriptor(const fs::path& path) {
  static const std::regex kDescriptor(R"(/(dev/(stdout|stderr|fd/[0-9]+)|proc/(self|thread-self|[0-9]+)/fd/[0-9]+))");
  return std::regex_match(fs::absolute(path).lexically_normal().string(), kDescriptor);
}

// The descriptor of this process a descriptor path names (/dev/stdout: 1); -1 for another process's.
int own_descriptor(const fs::path& path) {
  static const std::regex kOwn(R"(/(dev/(stdout|stderr|fd/([0-9]{1,6}))|proc/(self|thread-self|([0-9]+))/fd/([0-9]{1,6})))");
  std::smatch m;
  const std::string p = fs::absolute(path).lexically_normal().string();
  if (!std::regex_match(p, m, kOwn)) return -1;
  if (m[2] == "stdout") return 1;
  if (m[2] == "stderr") return 2;
  if (m[3].matched) return std::stoi(m[3]);
  if (m[5].matched && std::stol(m[5]) != static_cast<long>(::getpid())) return -1;
  return std::stoi(m[6]);
}

WriteTarget descriptor_target(const fs::path& path) {
  WriteTarget t{path, true, own_descriptor(path)};
  return t;
}
}  // namespace

WriteTarget write_target(const fs::path& path) {
  if (names_a_descriptor(path)) return descriptor_target(path);
  fs::path p = path;
  for (int hops = 0;; ++hops) {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return {p, false};  // absent: created by the rename
    if (S_ISREG(st.st_mode)) return {p, false};
    if (!S_ISLNK(st.st_mode)) return {p, true};  // FIFO, device, socket (a directory fails at open)
    if (hops == 40) throw std::runtime_error(path.string() + ": too many levels of symbolic links");
    const fs::path link = fs::read_symlink(p);
    p = link.is_absolute() ? link : p.parent_path() / link;
    if (names_a_descriptor(p)) return descriptor_target(p);
  }
}

void check_output_file(const fs::path& path, const std::string& key) {
  if (path.empty() || path == "-") return;
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw ConfigError(key + ": " + path.string() + " is a directory; name a file");
  const fs::path target = write_target(path).path;
  const fs::path parent = fs::absolute(target).parent_path();
  if (!fs::exists(parent, ec)) {
    throw ConfigError(key + ": " + path.string() + ": directory " + parent.string() + " does not exist");
  }
  if (!fs::is_directory(parent, ec)) {
    throw ConfigError(key + ": " + path.string() + ": " + parent.string() + " is not a directory");
  }
}

int remove_stale_temporaries(const fs::path& path) {
  const fs::path abs = fs::absolute(path);
  const std::string prefix = abs.filename().string() + ".tmp-";
  int removed = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(abs.parent_path(), ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string pid = name.substr(prefix.size());
    if (pid.find_first_not_of("0123456789") != std::string::npos || pid.size() > 9) continue;
    if (process_alive(std::stol(pid))) continue;
    std::error_code rc;
    if (fs::remove(it->path(), rc)) ++removed;
  }
  return removed;
}

AtomicFileWriter::AtomicFileWriter(fs::path path) : path_(std::move(path)) {
  const WriteTarget target = write_target(path_);
  in_place_ = target.in_place;
  if (in_place_ && target.descriptor >= 0) {
    fd_ = ::fcntl(target.descriptor, F_DUPFD_CLOEXEC, 3);
    if (fd_ < 0) throw std::runtime_error(path_.string() + ": cannot write to descriptor " +
                                          std::to_string(target.descriptor) + ": " + std::strerror(errno));
    return;
  }
  if (in_place_) {
    out_.open(target.path, std::ios::binary | std::ios::app);
    if (!out_) throw std::runtime_error(path_.string() + ": cannot open for writing: " + std::strerror(errno));
    return;
  }
  path_ = target.path;  // a symbolic link's target
  remove_stale_temporaries(path_);
  tmp_ = path_.string() + ".tmp-" + pid_suffix();
  out_.open(tmp_, std::ios::binary | std::ios::trunc);
  if (!out_) throw std::runtime_error(path_.string() + ": cannot open for writing: " + std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (committed_ || in_place_) return;
  out_.close();
  std::error_code ignored;
  fs::remove(tmp_, ignored);
}

void AtomicFileWriter::write(std::string_view text) {
  if (fd_ < 0) {
    out_.write(text.data(), static_cast<std::streamsize>(text.size()));
    return;
  }
  for (size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(path_.string() + ": write failed: " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
}

void AtomicFileWriter::write_at(uint64_t offset, std::string_view bytes) {
  if (in_place_) throw std::runtime_error(path_.string() + ": cannot patch a file written in place (a pipe or device)");
  out_.seekp(static_cast<std::streamoff>(offset));
  write(bytes);
  out_.seekp(0, std::ios::end);
}

void AtomicFileWriter::commit() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    committed_ = true;
    return;
  }
  out_.flush();
  if (!out_) {
    throw std::runtime_error(path_.string() + ": write failed (disk full or file-size limit?): " +
                             std::strerror(errno));
  }
  out_.close();
  if (!out_) throw std::runtime_error(path_.string() + ": write failed on close: " + std::strerror(errno));
  if (in_place_) {
    committed_ = true;
    return;
  }
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

std::optional<std::string> read_cache_file(const fs::path& path, uint64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::string out;
  bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) <= max_bytes;
  if (ok) {
    out.resize(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (ok && done < out.size()) {
      const ssize_t n = ::read(fd, out.data() + done, out.size() - done);
      if (n < 0 && errno == EINTR) continue;
      ok = n > 0;
      if (ok) done += static_cast<size_t>(n);
    }
  }
  ::close(fd);
  if (!ok) return std::nullopt;
  return out;
}

void write_cache_file(const fs::path& path, std::string_view content) {
  const fs::path tmp = path.string() + ".tmp-" + pid_suffix();
  ::unlink(tmp.c_str());  // this process's own leftover, or something planted there
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(tmp.string() + ": cannot create: " + std::strerror(errno));
  size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw std::runtime_error(tmp.string() + ": write failed: " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path.c_str()) != 0) {  // rename replaces a link itself, never its target
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::runtime_error(path.string() + ": cannot move the cache entry into place: " + std::strerror(err));
  }
}

fs::path resolved_output_dir(const fs::path& dir) {
  if (dir.empty()) throw ConfigError("output directory: empty path");
  std::error_code ec;
  fs::path start = fs::absolute(dir);
  // A dangling link names where the output goes: its target (to the end of the chain), created there.
  for (int hops = 0; hops < 40 && fs::is_symlink(fs::symlink_status(start, ec)); ++hops) {
    const fs::path link = fs::read_symlink(start, ec);
    if (ec) break;
    start = link.is_absolute() ? link : start.parent_path() / link;
  }
  fs::path p = fs::weakly_canonical(start, ec);
  if (ec) p = start.lexically_normal();
  if (p.filename().empty() && p.has_parent_path() && p != p.root_path()) p = p.parent_path();
  return p;
}

void write_output_marker(const fs::path& dir, const std::string& what) {
  write_file_atomic(dir / kOutputMarker, Json{{"written_by", what}}.dump() + "\n");
}

namespace {
// An output of an earlier kdtext, from before the marker: a checkpoint, or a
// directory whose config.json holds kdtext's runtime settings.
bool earlier_kdtext_output(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_regular_file(dir / "kdtext.json", ec)) return true;
  // scripts/distill-recipe.sh before kdtext-recipe: recipe.json and its log
  if (fs::is_regular_file(dir / "recipe.json", ec) && fs::is_regular_file(dir / "recipe.log", ec)) return true;
  if (!fs::is_regular_file(dir / "config.json", ec)) return false;
  try {
    const Json j = Json::parse(read_file(dir / "config.json"));
    return j.is_object() && j.contains("run") && j["run"].is_object() && j["run"].contains("log_level");
  } catch (const std::exception&) {
    return false;
  }
}
}  // namespace

void check_replaceable(const fs::path& dir) {
  std::error_code ec;
  const auto st = fs::status(dir, ec);
  if (!fs::exists(st)) return;
  if (!fs::is_directory(st)) {
    throw ConfigError(dir.string() + ": exists and is not a directory; --overwrite replaces only an output "
                      "directory kdtext wrote (choose another output path)");
  }
  const fs::path cwd = resolved_output_dir(fs::current_path());
  const auto rel = cwd.lexically_relative(dir);
  if (!rel.empty() && *rel.begin() != "..") {
    throw ConfigError(dir.string() + ": is the current directory or holds it; --overwrite would replace it " +
                      "(choose a new output directory)");
  }
  if (fs::is_empty(dir, ec) || fs::exists(dir / kOutputMarker, ec) || earlier_kdtext_output(dir)) return;
  std::string example;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    example = e.path().filename().string();
    break;
  }
  throw ConfigError(dir.string() + ": holds files kdtext did not write (" + example +
                    ", ...); --overwrite replaces only an output directory kdtext wrote (choose another output "
                    "path, or remove it yourself)");
}

StagedDirectory::StagedDirectory(fs::path final_path, bool overwrite, bool lock)
    : final_(resolved_output_dir(final_path)), overwrite_(overwrite) {
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
    if (overwrite_ && lock) check_replaceable(final_);
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
  if (lock) write_output_marker(staging_, "output directory");
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
