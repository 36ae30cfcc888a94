#include "kdtext/text/cleaner.h"

#include <cstdio>
#include <functional>

#include "kdtext/text/utf8.h"
#include "kdtext/error.h"

namespace kdtext::text {

InvalidUtf8Policy parse_invalid_utf8_policy(const std::string& name, const std::string& key) {
  if (name == "error") return InvalidUtf8Policy::kError;
  if (name == "repair") return InvalidUtf8Policy::kRepair;
  if (name == "skip") return InvalidUtf8Policy::kSkip;
  throw ConfigError(key + ": unknown policy '" + name + "' (expected error, repair or skip)");
}

const char* to_string(InvalidUtf8Policy policy) {
  switch (policy) {
    case InvalidUtf8Policy::kError: return "error";
    case InvalidUtf8Policy::kRepair: return "repair";
    case InvalidUtf8Policy::kSkip: return "skip";
  }
  return "?";
}

const FieldTable<CleanOptions>& clean_fields() {
  using O = CleanOptions;
  static const auto t = FieldTable<O>()
      .merge(&O::normalizer, normalizer_fields())
      .field("invalid_utf8", &O::invalid_utf8, "error, repair (U+FFFD) or skip", one_of({"error", "repair", "skip"}))
      .flag("--invalid-utf8")
      .field("min_chars", &O::min_chars, "Drop documents with fewer code points", at_least(0)).flag("--min-chars")
      .field("max_chars", &O::max_chars, "Drop documents with more code points", at_least(1)).flag("--max-chars")
      .field("dedup", &O::dedup, "Drop exact duplicate documents").flag("--dedup")
      .rule([](const O& o, const std::string& p) {
        if (o.max_chars < o.min_chars) {
          throw ConfigError(field_path(p, "max_chars") + ": must be >= min_chars (" + std::to_string(o.min_chars) +
                            "), got " + std::to_string(o.max_chars));
        }
      });
  return t;
}

Json to_json(const CleanOptions& o) { return clean_fields().to_json(o); }
CleanOptions clean_options_from_json(const JsonFields& f) { return clean_fields().from_json(f); }
void validate(const CleanOptions& o, const std::string& prefix) { clean_fields().check(o, prefix); }

Json CleanStats::to_json() const {
  return Json{{"documents_read", documents_read},
              {"documents_kept", documents_kept},
              {"duplicates_removed", duplicates_removed},
              {"filtered_too_short", filtered_too_short},
              {"filtered_too_long", filtered_too_long},
              {"invalid_utf8_repaired", invalid_utf8_repaired},
              {"invalid_utf8_skipped", invalid_utf8_skipped},
              {"bytes_read", bytes_read},
              {"bytes_kept", bytes_kept}};
}

CorpusCleaner::CorpusCleaner(CleanOptions options)
    : options_(std::move(options)),
      policy_(parse_invalid_utf8_policy(options_.invalid_utf8, "clean.invalid_utf8")),
      normalizer_(options_.normalizer) {}

Normalized CorpusCleaner::normalize(const Document& doc) const {
  Normalized out;
  size_t bad = 0;
  if (!is_valid_utf8(doc.text, &bad)) {
    switch (policy_) {
      case InvalidUtf8Policy::kError: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(doc.text[bad]));
        throw InputError(doc.file + ":" + std::to_string(doc.line) + ": invalid UTF-8 (byte " + hex +
                         " at offset " + std::to_string(bad) +
                         " of the document); pass --invalid-utf8 repair to replace invalid bytes "
                         "with U+FFFD, or --invalid-utf8 skip to drop such documents");
      }
      case InvalidUtf8Policy::kSkip:
        out.skipped_invalid = true;
        return out;
      case InvalidUtf8Policy::kRepair:
        out.repaired = true;
        out.text = normalizer_.normalize(repair_utf8(doc.text));
        return out;
    }
  }
  out.text = normalizer_.normalize(doc.text);
  return out;
}

bool CorpusCleaner::accept(const Document& raw, const Normalized& n) {
  ++stats_.documents_read;
  stats_.bytes_read += raw.text.size();
  if (n.skipped_invalid) {
    ++stats_.invalid_utf8_skipped;
    return false;
  }
  if (n.repaired) ++stats_.invalid_utf8_repaired;
  const auto chars = static_cast<int64_t>(count_codepoints(n.text));
  if (chars < options_.min_chars || chars == 0) {
    ++stats_.filtered_too_short;
    return false;
  }
  if (chars > options_.max_chars) {
    ++stats_.filtered_too_long;
    return false;
  }
  if (options_.dedup) {
    const uint64_t h = std::hash<std::string_view>{}(n.text) ^ (static_cast<uint64_t>(n.text.size()) << 56);
    if (!seen_.insert(h).second) {
      ++stats_.duplicates_removed;
      return false;
    }
  }
  ++stats_.documents_kept;
  stats_.bytes_kept += n.text.size();
  return true;
}

}  // namespace kdtext::text
