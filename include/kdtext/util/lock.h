// An advisory lock on an output directory, so that two runs never write the
// same place: flock(2) on the sibling file `<dir>.lock`, which records the
// holder's PID and command line and is removed on release. The lock goes with
// the process also when it is killed (the file then stays, unlocked, until
// the next run on the directory takes and removes it).
#pragma once

#include <filesystem>

namespace kdtext {

class DirectoryLock {
 public:
  // Throws InputError naming the directory and the holder (PID and command)
  // when another process holds it.
  explicit DirectoryLock(const std::filesystem::path& dir);
  ~DirectoryLock();
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;

  // The lock file of `dir`.
  static std::filesystem::path lock_file(const std::filesystem::path& dir);

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace kdtext
