// The corpus reader (lines or paragraphs) and the cleaner / normaliser over
// every document, with the options chosen by the first byte: what
// kdtext-preprocess does to a corpus file.
#include "fuzz_common.h"
#include "kdtext/text/cleaner.h"
#include "kdtext/text/corpus.h"
#include "kdtext/text/utf8.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::Split in = fuzz::split_flags(data, size);
  const uint8_t flags = in.flags;
  const std::string& payload = in.payload;
  kdtext::text::CleanOptions o;
  o.normalizer.nfkc = flags & 1;
  o.normalizer.lowercase = flags & 2;
  o.normalizer.remove_control = flags & 4;
  o.normalizer.collapse_whitespace = flags & 8;
  static const char* kPolicies[] = {"error", "repair", "skip", "repair"};
  o.invalid_utf8 = kPolicies[(flags >> 4) & 3];
  o.min_chars = (flags & 64) ? 3 : 1;
  o.max_chars = (flags & 64) ? 40 : 1000000;
  const auto mode = (flags & 128) ? kdtext::text::DocMode::kParagraph : kdtext::text::DocMode::kLine;
  const fuzz::MemFile file(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  fuzz::expect_typed_errors(file.path(), [&] {
    kdtext::text::CorpusCleaner cleaner(o);
    kdtext::text::CorpusReader reader({file.path()}, mode);
    kdtext::text::Document doc;
    uint64_t documents = 0, last_line = 0;
    while (reader.next(doc)) {
      fuzz::check(doc.line > last_line, "document lines increase");
      last_line = doc.line;
      ++documents;
      const auto n = cleaner.normalize(doc);
      if (!n.skipped_invalid) fuzz::check(kdtext::text::is_valid_utf8(n.text), "cleaned text is valid UTF-8");
      const bool kept = cleaner.accept(doc, n);
      if (kept) fuzz::check(!n.text.empty(), "kept documents are not empty");
    }
    const auto& stats = cleaner.stats();
    fuzz::check(stats.documents_read == documents, "every document counted");
    fuzz::check(stats.documents_kept + stats.duplicates_removed + stats.filtered_too_short +
                        stats.filtered_too_long + stats.invalid_utf8_skipped ==
                    documents,
                "every document accounted for");
    fuzz::check(reader.bytes_read() <= payload.size() + 1, "bytes read within the file");
  });
  return 0;
}
