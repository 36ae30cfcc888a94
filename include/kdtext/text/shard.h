// Token-id shards: the binary format preprocess writes and pretrain streams.
// See docs/FORMATS.md for the byte layout.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "kdtext/util/json.h"

#include "kdtext/util/atomic.h"

namespace kdtext::text {

inline constexpr char kShardMagic[8] = {'K', 'D', 'T', 'S', 'H', 'A', 'R', 'D'};
inline constexpr uint32_t kShardVersion = 1;
inline constexpr uint64_t kShardHeaderBytes = 64;

// Smallest id width (2 or 4 bytes) that holds every id below `vocab_size`.
uint32_t id_width_for(int64_t vocab_size);

// Writes one shard file. Documents are appended; finish() writes the index
// and patches the header. Without finish() the file is incomplete (the
// header's counts stay zero and the reader rejects it).
class ShardWriter {
 public:
  ShardWriter(const std::filesystem::path& path, int64_t vocab_size);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  void add_document(const std::vector<int32_t>& ids);
  void finish();
  uint64_t documents() const { return offsets_.size() - 1; }
  uint64_t tokens() const { return offsets_.back(); }

 private:
  void write(const void* data, size_t bytes);
  std::filesystem::path path_;
  std::unique_ptr<AtomicFileWriter> file_;  // through the one atomic writer; removed unless finished
  int64_t vocab_size_;
  uint32_t width_;
  std::vector<uint64_t> offsets_{0};
  std::vector<char> buffer_;
};

// Random access to the documents of one shard.
class ShardReader {
 public:
  // Validates the header and the index; throws InputError naming the file.
  explicit ShardReader(const std::filesystem::path& path);
  ~ShardReader();
  ShardReader(const ShardReader&) = delete;
  ShardReader& operator=(const ShardReader&) = delete;

  uint64_t documents() const { return offsets_.size() - 1; }
  uint64_t tokens() const { return offsets_.back(); }
  uint64_t document_length(uint64_t i) const { return offsets_.at(i + 1) - offsets_.at(i); }
  int64_t vocab_size() const { return vocab_size_; }
  uint32_t id_width() const { return width_; }
  // Token ids of document `i`; throws InputError if an id is out of range.
  std::vector<int32_t> document(uint64_t i) const;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  int64_t vocab_size_ = 0;
  uint32_t width_ = 0;
  std::vector<uint64_t> offsets_;
};

// index.json of a shard directory: the vocabulary size and the shard files
// (plain file names inside the directory).
struct ShardIndex {
  int64_t vocab_size = 0;
  std::vector<std::string> files;
};
// Validates an index.json; throws InputError naming `origin` and the key.
ShardIndex parse_shard_index(const Json& index, const std::string& origin);

// A directory of shards with an index.json, rolling to a new shard after
// `max_tokens_per_shard` tokens.
class ShardSetWriter {
 public:
  ShardSetWriter(std::filesystem::path dir, int64_t vocab_size, uint64_t max_tokens_per_shard);
  void add_document(const std::vector<int32_t>& ids);
  // Finishes the last shard and writes index.json. Returns the index.
  Json finish();

 private:
  void roll();
  std::filesystem::path dir_;
  int64_t vocab_size_;
  uint64_t max_tokens_;
  std::unique_ptr<ShardWriter> current_;
  std::string current_name_;
  Json shards_ = Json::array();
  uint64_t documents_ = 0, tokens_ = 0;
};

}  // namespace kdtext::text
