#include "kdtext/util/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "kdtext/error.h"

namespace kdtext {
namespace fs = std::filesystem;

namespace {
// This process's command line, arguments separated by spaces.
std::string own_command() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!raw.empty() && raw.back() == '\0') raw.pop_back();
  for (auto& c : raw) {
    if (c == '\0') c = ' ';
  }
  return raw;
}
}  // namespace

fs::path DirectoryLock::lock_file(const fs::path& dir) {
  // Symbolic links resolved: a link and its target are one directory, one lock.
  std::error_code ec;
  auto d = fs::weakly_canonical(fs::absolute(dir), ec);
  if (ec) d = fs::absolute(dir).lexically_normal();
  if (d.filename().empty() && d != d.root_path()) d = d.parent_path();
  return d.parent_path() / (d.filename().string() + ".lock");
}

DirectoryLock::DirectoryLock(const fs::path& dir) : path_(lock_file(dir)) {
  std::error_code ec;
  fs::create_directories(path_.parent_path(), ec);
  // The file is removed when the lock is released, so a lock taken on a file
  // that has just been unlinked is retried on the new one.
  for (;;) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw InputError(path_.string() + ": cannot open the lock file: " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      std::string holder;
      char buf[4096];
      const ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      if (n > 0) holder.assign(buf, static_cast<size_t>(n));
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
      ::close(fd_);
      fd_ = -1;
      if (err != EWOULDBLOCK) throw InputError(path_.string() + ": cannot lock: " + std::strerror(err));
      throw InputError(dir.string() + ": another run is writing this directory (" +
                       (holder.empty() ? std::string("holder unknown") : holder) + "; lock " + path_.string() + ")");
    }
    struct stat held {}, named {};
    if (::fstat(fd_, &held) == 0 && ::stat(path_.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
        held.st_ino == named.st_ino) {
      break;
    }
    ::close(fd_);  // unlinked by the previous holder meanwhile: take the new file
  }
  const std::string me = "PID " + std::to_string(static_cast<long>(::getpid())) + ": " + own_command() + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
    // The lock holds without the note; only the message of a second run would lack the holder.
  }
}

DirectoryLock::~DirectoryLock() {
  if (fd_ < 0) return;
  ::unlink(path_.c_str());  // while still holding it (see the constructor)
  ::close(fd_);
}

}  // namespace kdtext
