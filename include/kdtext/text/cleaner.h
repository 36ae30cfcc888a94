// Corpus cleaning: UTF-8 policy, normalisation, length filters and exact
// de-duplication, with the counts that go into stats.json.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>

#include "kdtext/text/corpus.h"
#include "kdtext/text/normalizer.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::text {

enum class InvalidUtf8Policy { kError, kRepair, kSkip };
InvalidUtf8Policy parse_invalid_utf8_policy(const std::string& name, const std::string& key);
const char* to_string(InvalidUtf8Policy policy);

struct CleanOptions {
  NormalizerOptions normalizer;                         // NFKC, case, control chars, whitespace
  std::string invalid_utf8 = "error";                   // error | repair (U+FFFD) | skip
  int64_t min_chars = 1;                                // drop documents shorter (code points, after cleaning)
  int64_t max_chars = 1000000;                          // drop documents longer (code points)
  bool dedup = true;                                    // drop exact duplicates (after cleaning)
};

// The "clean" section (normaliser options stored flat in it) and its flags.
const FieldTable<CleanOptions>& clean_fields();
Json to_json(const CleanOptions& o);
CleanOptions clean_options_from_json(const JsonFields& f);
// Throws ConfigError naming the key.
void validate(const CleanOptions& o, const std::string& prefix);

struct CleanStats {
  uint64_t documents_read = 0;
  uint64_t documents_kept = 0;
  uint64_t duplicates_removed = 0;
  uint64_t filtered_too_short = 0;  // includes documents empty after cleaning
  uint64_t filtered_too_long = 0;
  uint64_t invalid_utf8_repaired = 0;  // documents with at least one replacement
  uint64_t invalid_utf8_skipped = 0;
  uint64_t bytes_read = 0;
  uint64_t bytes_kept = 0;
  Json to_json() const;
};

// Result of the stateless part of cleaning (safe to run on many threads).
struct Normalized {
  std::string text;
  bool repaired = false;
  bool skipped_invalid = false;
};

class CorpusCleaner {
 public:
  explicit CorpusCleaner(CleanOptions options);

  // Stateless and thread-safe: UTF-8 policy then normalisation. With the
  // "error" policy, invalid UTF-8 throws InputError naming file, line and byte.
  Normalized normalize(const Document& doc) const;
  // Stateful, single-threaded: counts the document, applies length filters
  // and de-duplication. Returns true when the document is kept.
  bool accept(const Document& raw, const Normalized& normalized);

  const CleanStats& stats() const { return stats_; }
  const Normalizer& normalizer() const { return normalizer_; }

 private:
  CleanOptions options_;
  InvalidUtf8Policy policy_;
  Normalizer normalizer_;
  std::unordered_set<uint64_t> seen_;  // 64-bit hashes of kept documents
  CleanStats stats_;
};

}  // namespace kdtext::text
