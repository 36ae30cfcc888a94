// The two corpus passes of kdtext-preprocess, batched and multi-threaded:
// cleaning (normalise, filter, dedup) and encoding cleaned text into shards.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "kdtext/util/log.h"
#include "kdtext/text/cleaner.h"
#include "kdtext/text/corpus.h"
#include "kdtext/text/shard.h"
#include "kdtext/text/tokenizer.h"
#include "kdtext/util/parallel.h"
#include "kdtext/util/progress.h"

namespace kdtext::text {

// Reads documents in batches and cleans them in parallel; `sink` receives the
// kept documents in corpus order.
template <typename Sink>
void clean_corpus(CorpusReader& reader, CorpusCleaner& cleaner, size_t batch, int threads,
                  Progress& progress, Sink&& sink) {
  std::vector<Document> docs(batch);
  std::vector<Normalized> normalized(batch);
  while (true) {
    size_t n = 0;
    while (n < batch && reader.next(docs[n])) ++n;
    if (n == 0) break;
    parallel_for(n, threads, [&](size_t i) { normalized[i] = cleaner.normalize(docs[i]); });
    for (size_t i = 0; i < n; ++i) {
      if (cleaner.accept(docs[i], normalized[i])) sink(std::move(normalized[i].text));
    }
    progress.update(static_cast<double>(reader.bytes_read()),
                    log::cat(cleaner.stats().documents_kept, " docs kept"));
    if (n < batch) break;
  }
}

struct EncodeCounts {
  uint64_t tokens = 0;   // tokens written
  uint64_t unknown = 0;  // of which the tokenizer's unknown piece
};

// Encodes a file holding one cleaned document per line into `shards`, in
// batches of `batch` documents on `threads` threads; `total_bytes` sizes the
// progress line. Throws std::runtime_error naming the file if it cannot be read.
EncodeCounts encode_lines_to_shards(const std::filesystem::path& cleaned, const Tokenizer& tokenizer,
                                    ShardSetWriter& shards, size_t batch, int threads, double total_bytes);

}  // namespace kdtext::text
