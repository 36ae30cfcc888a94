#include "kdtext/text/sample.h"

#include <algorithm>

#include "kdtext/text/utf8.h"

namespace kdtext::text {

ReservoirSample::ReservoirSample(uint64_t max_documents, uint64_t max_bytes, uint64_t max_document_bytes,
                                 uint64_t seed)
    : cap_(std::max<uint64_t>(1, max_documents)), max_bytes_(max_bytes),
      max_document_bytes_(std::max<uint64_t>(4, max_document_bytes)), rng_(seed) {}

void ReservoirSample::drop(size_t index) {
  bytes_ -= docs_[index].size();
  docs_[index] = std::move(docs_.back());
  docs_.pop_back();
}

void ReservoirSample::offer(const std::string& document) {
  ++seen_;
  std::string doc(truncate_utf8(document, max_document_bytes_));
  // Classic reservoir sampling (algorithm R) over documents...
  if (docs_.size() < cap_) {
    bytes_ += doc.size();
    docs_.push_back(std::move(doc));
  } else {
    const uint64_t k = rng_() % seen_;
    if (k >= cap_ || k >= docs_.size()) return;
    bytes_ += doc.size();
    bytes_ -= docs_[k].size();
    docs_[k] = std::move(doc);
  }
  // ...and when the byte budget is exceeded, the reservoir shrinks by dropping
  // uniformly chosen documents: a uniform subset of a uniform sample is still
  // a uniform sample, now of a smaller size.
  while (bytes_ > max_bytes_ && docs_.size() > 1) {
    drop(static_cast<size_t>(rng_() % docs_.size()));
    cap_ = docs_.size();
  }
}

}  // namespace kdtext::text
