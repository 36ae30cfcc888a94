// The zip container of torch.save's format (pytorch_model.bin), read by
// kdtext itself rather than by LibTorch's reader, whose checks abort the
// process (a bad version record) and which inflates a record before any size
// is known. This reader takes only what torch.save writes: records stored
// uncompressed (a compressed or encrypted record is refused by name, so no
// record is ever inflated), each name once (a name twice is refused: Python's
// zipfile reads the last, others the first), every record inside the file and
// under one top-level folder. The central directory is bounded by the file's
// size; a record is read only when asked for, into the caller's buffer, and
// its CRC-32 is checked. Errors are InputError naming the file and the record.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace kdtext::io {

class ZipArchive {
 public:
  explicit ZipArchive(const std::filesystem::path& path);

  // Record names are relative to the archive's top-level folder ("data.pkl",
  // "data/0", "version", ".data/version").
  bool has(const std::string& name) const { return records_.count(name) != 0; }
  uint64_t size(const std::string& name) const { return entry(name).size; }
  // Reads the whole record into `out` (at least size(name) bytes); checks its CRC-32.
  void read(const std::string& name, void* out);
  std::string read_string(const std::string& name);
  const std::string& origin() const { return origin_; }
  // The format version torch.save records (".data/version", else "version"):
  // a decimal number in [min, max], or an InputError naming the file and the
  // value (LibTorch's own reader aborts the process on one it does not know).
  uint64_t check_version(uint64_t min, uint64_t max);

 private:
  struct Entry {
    uint64_t size = 0;
    uint64_t header = 0;  // offset of the local header
    uint32_t crc = 0;
  };
  const Entry& entry(const std::string& name) const;
  void read_directory(uint64_t offset, uint64_t size, uint64_t count);

  std::string origin_;
  std::ifstream in_;
  uint64_t file_size_ = 0;
  std::string prefix_;  // "archive/"
  std::map<std::string, Entry> records_;
};

// CRC-32 (IEEE 802.3, as zip records it) of `n` bytes, continuing from `crc`.
uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);

}  // namespace kdtext::io
