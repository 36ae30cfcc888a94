#include "kdtext/text/pipeline.h"

#include <algorithm>
#include <fstream>

namespace kdtext::text {

EncodeCounts encode_lines_to_shards(const std::filesystem::path& cleaned, const Tokenizer& tokenizer,
                                    ShardSetWriter& shards, size_t batch, int threads, double total_bytes) {
  std::ifstream in(cleaned, std::ios::binary);
  if (!in) throw std::runtime_error(cleaned.string() + ": cannot reopen");
  std::vector<std::string> docs(batch);
  std::vector<std::vector<int32_t>> ids(batch);
  const int32_t unk_id = tokenizer.special_ids().unk;
  Progress progress("pass 2/2 encode", total_bytes, "MB", 1e6);
  EncodeCounts counts;
  double bytes = 0;
  while (true) {
    size_t n = 0;
    while (n < batch && std::getline(in, docs[n])) bytes += static_cast<double>(docs[n++].size() + 1);
    if (n == 0) break;
    parallel_for(n, threads, [&](size_t i) { ids[i] = tokenizer.encode_normalized(docs[i]); });
    for (size_t i = 0; i < n; ++i) {
      counts.tokens += ids[i].size();
      counts.unknown += static_cast<uint64_t>(std::count(ids[i].begin(), ids[i].end(), unk_id));
      shards.add_document(ids[i]);
    }
    progress.update(bytes, log::cat(counts.tokens, " tokens"));
    if (n < batch) break;
  }
  progress.update(bytes, log::cat(counts.tokens, " tokens"), true);
  return counts;
}

}  // namespace kdtext::text
