// A uniform random sample of a document stream, bounded both in documents
// and in bytes (for tokenizer training on corpora of any size).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace kdtext::text {

class ReservoirSample {
 public:
  // Keeps at most `max_documents` documents and `max_bytes` bytes; each
  // document is truncated to `max_document_bytes` (at a UTF-8 boundary).
  ReservoirSample(uint64_t max_documents, uint64_t max_bytes, uint64_t max_document_bytes, uint64_t seed);

  void offer(const std::string& document);
  const std::vector<std::string>& documents() const { return docs_; }
  std::vector<std::string> take() { return std::move(docs_); }
  uint64_t bytes() const { return bytes_; }
  uint64_t seen() const { return seen_; }

 private:
  void drop(size_t index);
  uint64_t cap_;
  uint64_t max_bytes_;
  uint64_t max_document_bytes_;
  std::mt19937_64 rng_;
  std::vector<std::string> docs_;
  uint64_t bytes_ = 0;
  uint64_t seen_ = 0;
};

}  // namespace kdtext::text
