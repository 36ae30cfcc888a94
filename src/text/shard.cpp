#include "kdtext/text/shard.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "kdtext/util/atomic.h"
#include "kdtext/error.h"

namespace kdtext::text {
namespace fs = std::filesystem;

namespace {

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t id_width;
  uint32_t vocab_size;
  uint32_t flags;
  uint64_t documents;
  uint64_t tokens;
  uint64_t tokens_offset;
  uint64_t index_offset;
  uint64_t reserved;
};
static_assert(sizeof(Header) == kShardHeaderBytes, "shard header must be 64 bytes");
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "shards are little-endian; big-endian hosts unsupported");

}  // namespace

uint32_t id_width_for(int64_t vocab_size) { return vocab_size <= 65536 ? 2 : 4; }

ShardWriter::ShardWriter(const fs::path& path, int64_t vocab_size)
    : path_(path), vocab_size_(vocab_size), width_(id_width_for(vocab_size)) {
  if (vocab_size < 1 || vocab_size > (int64_t{1} << 31)) {
    throw std::invalid_argument("ShardWriter: vocab_size out of range: " + std::to_string(vocab_size));
  }
  file_ = std::make_unique<AtomicFileWriter>(path);
  Header h{};  // placeholder; counts are zero until finish()
  std::memcpy(h.magic, kShardMagic, 8);
  h.version = kShardVersion;
  write(&h, sizeof h);
  buffer_.reserve(1 << 16);
}

ShardWriter::~ShardWriter() = default;

void ShardWriter::write(const void* data, size_t bytes) {
  file_->write(std::string_view(static_cast<const char*>(data), bytes));  // a failure shows at commit()
}

void ShardWriter::add_document(const std::vector<int32_t>& ids) {
  buffer_.resize(ids.size() * width_);
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (id < 0 || id >= vocab_size_) {
      throw std::out_of_range(path_.string() + ": token id " + std::to_string(id) + " outside vocabulary of " +
                              std::to_string(vocab_size_));
    }
    if (width_ == 2) {
      const uint16_t v = static_cast<uint16_t>(id);
      std::memcpy(buffer_.data() + 2 * i, &v, 2);
    } else {
      const uint32_t v = static_cast<uint32_t>(id);
      std::memcpy(buffer_.data() + 4 * i, &v, 4);
    }
  }
  write(buffer_.data(), buffer_.size());
  offsets_.push_back(offsets_.back() + ids.size());
}

void ShardWriter::finish() {
  if (!file_) return;
  Header h{};
  std::memcpy(h.magic, kShardMagic, 8);
  h.version = kShardVersion;
  h.id_width = width_;
  h.vocab_size = static_cast<uint32_t>(vocab_size_);
  h.documents = documents();
  h.tokens = tokens();
  h.tokens_offset = kShardHeaderBytes;
  h.index_offset = kShardHeaderBytes + tokens() * width_;
  write(offsets_.data(), offsets_.size() * sizeof(uint64_t));
  file_->write_at(0, std::string_view(reinterpret_cast<const char*>(&h), sizeof h));
  file_->commit();
  file_.reset();
}

ShardReader::ShardReader(const fs::path& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw InputError(path.string() + ": cannot open shard: " + std::strerror(errno));
  const auto fail = [&](const std::string& why) {
    ::close(fd_);
    fd_ = -1;
    throw InputError(path.string() + ": not a valid kdtext token shard: " + why);
  };
  std::error_code ec;
  const uint64_t size = fs::file_size(path, ec);
  Header h{};
  if (ec || size < sizeof h || ::pread(fd_, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) {
    fail("file shorter than the 64-byte header");
  }
  if (std::memcmp(h.magic, kShardMagic, 8) != 0) fail("bad magic (expected KDTSHARD)");
  if (h.version > kShardVersion) {
    fail("format version " + std::to_string(h.version) + " is newer than this kdtext reads (" +
         std::to_string(kShardVersion) + "); upgrade kdtext or re-run preprocess");
  }
  if (h.version == 0) fail("format version 0");
  if (h.id_width != 2 && h.id_width != 4) fail("id width " + std::to_string(h.id_width) + " (expected 2 or 4)");
  if (h.vocab_size == 0) fail("vocabulary size 0 (the shard was never finished)");
  if (h.vocab_size > static_cast<uint32_t>(INT32_MAX)) fail("vocabulary size " + std::to_string(h.vocab_size) + " (ids are 31-bit)");
  if (h.tokens_offset != kShardHeaderBytes) fail("unexpected token data offset");
  if (h.tokens > (size / h.id_width) || h.index_offset != kShardHeaderBytes + h.tokens * h.id_width) {
    fail("token count does not match the index offset");
  }
  if (h.documents > size / 8 || size != h.index_offset + (h.documents + 1) * 8) {
    fail("file size " + std::to_string(size) + " does not match the header (truncated or trailing bytes)");
  }
  offsets_.resize(h.documents + 1);
  const size_t bytes = offsets_.size() * 8;
  if (::pread(fd_, offsets_.data(), bytes, static_cast<off_t>(h.index_offset)) != static_cast<ssize_t>(bytes)) {
    fail("cannot read the document index");
  }
  if (offsets_.front() != 0 || offsets_.back() != h.tokens) fail("document index does not span the tokens");
  for (size_t i = 1; i < offsets_.size(); ++i) {
    if (offsets_[i] < offsets_[i - 1]) fail("document index is not monotone at document " + std::to_string(i - 1));
  }
  vocab_size_ = h.vocab_size;
  width_ = h.id_width;
}

ShardReader::~ShardReader() {
  if (fd_ >= 0) ::close(fd_);
}

std::vector<int32_t> ShardReader::document(uint64_t i) const {
  if (i >= documents()) {
    throw std::out_of_range(path_.string() + ": document " + std::to_string(i) + " of " +
                            std::to_string(documents()));
  }
  const uint64_t begin = offsets_[i], n = offsets_[i + 1] - begin;
  std::vector<char> raw(n * width_);
  const off_t at = static_cast<off_t>(kShardHeaderBytes + begin * width_);
  if (n > 0 && ::pread(fd_, raw.data(), raw.size(), at) != static_cast<ssize_t>(raw.size())) {
    throw InputError(path_.string() + ": read error at document " + std::to_string(i));
  }
  std::vector<int32_t> ids(n);
  for (uint64_t k = 0; k < n; ++k) {
    uint32_t v = 0;
    if (width_ == 2) {
      uint16_t s;
      std::memcpy(&s, raw.data() + 2 * k, 2);
      v = s;
    } else {
      std::memcpy(&v, raw.data() + 4 * k, 4);
    }
    if (v >= static_cast<uint32_t>(vocab_size_)) {
      throw InputError(path_.string() + ": document " + std::to_string(i) + " has token id " + std::to_string(v) +
                       " outside the vocabulary of " + std::to_string(vocab_size_));
    }
    ids[k] = static_cast<int32_t>(v);
  }
  return ids;
}

ShardIndex parse_shard_index(const Json& index, const std::string& origin) {
  const auto fail = [&](const std::string& why) { return InputError(origin + ": malformed index: " + why); };
  if (!index.is_object()) throw fail("not a JSON object");
  ShardIndex out;
  const auto vocab = index.find("vocab_size");
  if (vocab == index.end() || !vocab->is_number_unsigned() || vocab->get<uint64_t>() == 0 ||
      vocab->get<uint64_t>() > static_cast<uint64_t>(INT32_MAX)) {
    throw fail("vocab_size must be an integer from 1 to 2^31 - 1");
  }
  out.vocab_size = vocab->get<int64_t>();
  const auto shards = index.find("shards");
  if (shards == index.end() || !shards->is_array()) throw fail("shards must be a list");
  for (const auto& s : *shards) {
    const auto file = s.is_object() ? s.find("file") : s.end();
    if (!s.is_object() || file == s.end() || !file->is_string()) throw fail("each shard needs a file name");
    const std::string name = file->get<std::string>();
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
        name.find('\0') != std::string::npos) {
      throw fail("shard file '" + name + "' is not a plain file name in the shard directory");
    }
    out.files.push_back(name);
  }
  return out;
}

ShardSetWriter::ShardSetWriter(fs::path dir, int64_t vocab_size, uint64_t max_tokens_per_shard)
    : dir_(std::move(dir)), vocab_size_(vocab_size), max_tokens_(std::max<uint64_t>(1, max_tokens_per_shard)) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw std::runtime_error(dir_.string() + ": cannot create shard directory: " + ec.message());
}

void ShardSetWriter::roll() {
  if (current_) {
    current_->finish();
    shards_.push_back({{"file", current_name_}, {"documents", current_->documents()}, {"tokens", current_->tokens()}});
    current_.reset();
  }
  char name[32];
  std::snprintf(name, sizeof name, "shard-%05zu.kdts", shards_.size());
  current_name_ = name;
  current_ = std::make_unique<ShardWriter>(dir_ / current_name_, vocab_size_);
}

void ShardSetWriter::add_document(const std::vector<int32_t>& ids) {
  if (!current_ || (current_->tokens() > 0 && current_->tokens() + ids.size() > max_tokens_)) roll();
  current_->add_document(ids);
  ++documents_;
  tokens_ += ids.size();
}

Json ShardSetWriter::finish() {
  if (current_) {
    current_->finish();
    shards_.push_back({{"file", current_name_}, {"documents", current_->documents()}, {"tokens", current_->tokens()}});
    current_.reset();
  }
  Json index{{"format", "kdtext-token-shards"},
             {"version", kShardVersion},
             {"vocab_size", vocab_size_},
             {"id_width", id_width_for(vocab_size_)},
             {"documents", documents_},
             {"tokens", tokens_},
             {"shards", shards_}};
  write_file_atomic(dir_ / "index.json", index.dump(2) + "\n");
  return index;
}

}  // namespace kdtext::text
