#include "kdtext/io/zip.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <vector>

#include "kdtext/error.h"

namespace kdtext::io {
namespace {

constexpr uint32_t kEndOfDirectory = 0x06054b50, kZip64End = 0x06064b50, kZip64Locator = 0x07064b50,
                   kDirectoryEntry = 0x02014b50, kLocalHeader = 0x04034b50;
constexpr uint64_t kMaxDirectoryBytes = uint64_t{64} << 20;  // one entry per storage: ~100 bytes each

uint64_t le(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int k = n - 1; k >= 0; --k) v = (v << 8) | p[k];
  return v;
}

// Slice-by-8 tables of the reflected polynomial 0xEDB88320.
const std::array<std::array<uint32_t, 256>, 8>& crc_tables() {
  static const auto tables = [] {
    std::array<std::array<uint32_t, 256>, 8> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 255];
    }
    return t;
  }();
  return tables;
}

}  // namespace

uint32_t crc32(const void* data, size_t n, uint32_t crc) {
  const auto& t = crc_tables();
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
  for (; n >= 8; n -= 8, p += 8) {
    const uint32_t a = crc ^ static_cast<uint32_t>(le(p, 4)), b = static_cast<uint32_t>(le(p + 4, 4));
    crc = t[7][a & 255] ^ t[6][(a >> 8) & 255] ^ t[5][(a >> 16) & 255] ^ t[4][a >> 24] ^ t[3][b & 255] ^
          t[2][(b >> 8) & 255] ^ t[1][(b >> 16) & 255] ^ t[0][b >> 24];
  }
  while (n--) crc = t[0][(crc ^ *p++) & 255] ^ (crc >> 8);
  return ~crc;
}

ZipArchive::ZipArchive(const std::filesystem::path& path) : origin_(path.string()) {
  in_.open(path, std::ios::binary);
  if (!in_) throw InputError(origin_ + ": cannot open");
  std::error_code ec;
  file_size_ = std::filesystem::file_size(path, ec);
  if (ec) throw InputError(origin_ + ": cannot read its size (" + ec.message() + ")");
  const auto fail = [&](const std::string& why) {
    return InputError(origin_ + ": cannot read as a PyTorch zip checkpoint (torch.save since 1.6; the legacy format "
                      "is not read): " + why);
  };
  // The end-of-directory record: the last 22 bytes, or before a comment of up to 64 KiB.
  const uint64_t tail = std::min<uint64_t>(file_size_, 22 + 65535);
  std::vector<unsigned char> buf(tail);
  in_.seekg(static_cast<std::streamoff>(file_size_ - tail));
  if (!in_.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(tail))) throw fail("unreadable");
  int64_t at = static_cast<int64_t>(tail) - 22;
  while (at >= 0 && le(&buf[static_cast<size_t>(at)], 4) != kEndOfDirectory) --at;
  if (at < 0) throw fail("no zip end-of-directory record");
  const unsigned char* e = &buf[static_cast<size_t>(at)];
  uint64_t count = le(e + 10, 2), dir_size = le(e + 12, 4), dir_offset = le(e + 16, 4);
  const uint64_t end_at = file_size_ - tail + static_cast<uint64_t>(at);
  if (count == 0xFFFF || dir_size == 0xFFFFFFFF || dir_offset == 0xFFFFFFFF) {  // zip64
    unsigned char loc[20], z[56];
    if (end_at < 20) throw fail("a zip64 archive without its locator");
    in_.seekg(static_cast<std::streamoff>(end_at - 20));
    if (!in_.read(reinterpret_cast<char*>(loc), 20) || le(loc, 4) != kZip64Locator) {
      throw fail("a zip64 archive without its locator");
    }
    const uint64_t z_at = le(loc + 8, 8);
    if (z_at > file_size_ - 56) throw fail("the zip64 end record lies outside the file");
    in_.seekg(static_cast<std::streamoff>(z_at));
    if (!in_.read(reinterpret_cast<char*>(z), 56) || le(z, 4) != kZip64End) throw fail("a corrupt zip64 end record");
    count = le(z + 32, 8);
    dir_size = le(z + 40, 8);
    dir_offset = le(z + 48, 8);
  }
  if (dir_offset > end_at || dir_size > end_at - dir_offset) throw fail("the central directory lies outside the file");
  if (dir_size > kMaxDirectoryBytes) {
    throw fail("a central directory of " + std::to_string(dir_size) + " bytes (more than 64 MiB)");
  }
  if (count > dir_size / 46) throw fail(std::to_string(count) + " records cannot fit the central directory");
  read_directory(dir_offset, dir_size, count);
}

void ZipArchive::read_directory(uint64_t offset, uint64_t size, uint64_t count) {
  std::vector<unsigned char> d(size);
  in_.seekg(static_cast<std::streamoff>(offset));
  if (!in_.read(reinterpret_cast<char*>(d.data()), static_cast<std::streamsize>(size))) {
    throw InputError(origin_ + ": the zip central directory cannot be read");
  }
  size_t p = 0;
  for (uint64_t n = 0; n < count; ++n) {
    if (size - p < 46 || le(&d[p], 4) != kDirectoryEntry) {
      throw InputError(origin_ + ": zip central directory entry " + std::to_string(n) + " is corrupt");
    }
    const unsigned char* h = &d[p];
    const uint64_t flags = le(h + 8, 2), method = le(h + 10, 2), name_len = le(h + 28, 2), extra_len = le(h + 30, 2),
                   comment_len = le(h + 32, 2);
    if (size - p - 46 < name_len + extra_len + comment_len) {
      throw InputError(origin_ + ": zip central directory entry " + std::to_string(n) + " runs past the directory");
    }
    const std::string name(reinterpret_cast<const char*>(h + 46), name_len);
    Entry en;
    en.crc = static_cast<uint32_t>(le(h + 16, 4));
    uint64_t csize = le(h + 20, 4), usize = le(h + 24, 4), header = le(h + 42, 4);
    for (size_t x = 46 + name_len; x + 4 <= 46 + name_len + extra_len;) {  // the zip64 sizes and offset
      const uint64_t id = le(h + x, 2), len = le(h + x + 2, 2);
      if (x + 4 + len > 46 + name_len + extra_len) break;
      if (id == 1) {
        size_t f = x + 4;
        for (uint64_t* v : {&usize, &csize, &header}) {
          if (*v == 0xFFFFFFFF && f + 8 <= x + 4 + len) { *v = le(h + f, 8); f += 8; }
        }
      }
      x += 4 + len;
    }
    p += 46 + name_len + extra_len + comment_len;
    const std::string shown = name.substr(0, std::min<size_t>(name.size(), 80));
    if (name.find('\0') != std::string::npos) throw InputError(origin_ + ": a zip record name holds a NUL byte");
    if (flags & 1) throw InputError(origin_ + ": zip record " + shown + " is encrypted");
    if (method != 0 || csize != usize) {
      throw InputError(origin_ + ": zip record " + shown + " is compressed (method " + std::to_string(method) +
                       "); torch.save stores every record uncompressed, and kdtext inflates none");
    }
    const size_t slash = name.find('/');
    if (prefix_.empty()) {
      if (slash == std::string::npos || slash == 0) {
        throw InputError(origin_ + ": zip record " + shown + " is not inside the archive's folder");
      }
      prefix_ = name.substr(0, slash + 1);
    }
    if (name.compare(0, prefix_.size(), prefix_) != 0) {
      throw InputError(origin_ + ": zip record " + shown + " lies outside the archive's folder " + prefix_);
    }
    if (header > file_size_ || usize > file_size_ - header) {
      throw InputError(origin_ + ": zip record " + shown + " lies outside the file");
    }
    en.size = usize;
    en.header = header;
    if (!records_.emplace(name.substr(prefix_.size()), en).second) {
      throw InputError(origin_ + ": zip record " + shown + " appears twice (readers disagree on which one counts)");
    }
  }
}

const ZipArchive::Entry& ZipArchive::entry(const std::string& name) const {
  auto it = records_.find(name);
  if (it == records_.end()) throw InputError(origin_ + ": no record " + prefix_ + name + " in the archive");
  return it->second;
}

void ZipArchive::read(const std::string& name, void* out) {
  const Entry& en = entry(name);
  unsigned char h[30];
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(en.header));
  if (!in_.read(reinterpret_cast<char*>(h), 30) || le(h, 4) != kLocalHeader) {
    throw InputError(origin_ + ": zip record " + prefix_ + name + " has no local header");
  }
  const uint64_t name_len = le(h + 26, 2), data_at = en.header + 30 + name_len + le(h + 28, 2);
  std::string local(name_len, '\0');
  if (!in_.read(local.data(), static_cast<std::streamsize>(name_len)) || local != prefix_ + name) {
    throw InputError(origin_ + ": zip record " + prefix_ + name + ": its local header names another record");
  }
  if (data_at > file_size_ || en.size > file_size_ - data_at) {
    throw InputError(origin_ + ": zip record " + prefix_ + name + " runs past the end of the file");
  }
  in_.seekg(static_cast<std::streamoff>(data_at));
  auto* dst = static_cast<char*>(out);
  uint32_t crc = 0;
  for (uint64_t done = 0; done < en.size;) {
    const uint64_t n = std::min<uint64_t>(en.size - done, uint64_t{1} << 26);
    if (!in_.read(dst + done, static_cast<std::streamsize>(n))) {
      throw InputError(origin_ + ": zip record " + prefix_ + name + " cannot be read whole");
    }
    crc = crc32(dst + done, n, crc);
    done += n;
  }
  if (crc != en.crc) throw InputError(origin_ + ": zip record " + prefix_ + name + " fails its CRC-32 check (corrupt)");
}

uint64_t ZipArchive::check_version(uint64_t min, uint64_t max) {
  const std::string name = has(".data/version") ? ".data/version" : "version";
  if (!has(name)) throw InputError(origin_ + ": no version record (torch.save writes one)");
  if (size(name) > 16) {
    throw InputError(origin_ + ": format version record of " + std::to_string(size(name)) +
                     " bytes is not a version number");
  }
  std::string v = read_string(name);
  while (!v.empty() && (v.back() == '\n' || v.back() == '\r' || v.back() == ' ')) v.pop_back();
  const bool digits = !v.empty() && v.size() <= 4 && v.find_first_not_of("0123456789") == std::string::npos;
  const uint64_t n = digits ? std::stoull(v) : 0;
  if (!digits || n < min || n > max) {
    throw InputError(origin_ + ": format version '" + v + "' (this LibTorch reads " + std::to_string(min) + " to " +
                     std::to_string(max) + ")");
  }
  return n;
}

std::string ZipArchive::read_string(const std::string& name) {
  std::string s(entry(name).size, '\0');
  read(name, s.data());
  return s;
}

}  // namespace kdtext::io
