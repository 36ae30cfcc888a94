// Token shard files: the header, the document index and every document's ids.
#include "fuzz_common.h"
#include "kdtext/text/shard.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::MemFile file(data, size);
  fuzz::expect_typed_errors(file.path(), [&] {
    const kdtext::text::ShardReader reader(file.path());
    fuzz::check(reader.vocab_size() > 0, "vocabulary size");
    uint64_t tokens = 0;
    for (uint64_t i = 0; i < reader.documents() && i < 4096; ++i) {
      tokens += reader.document_length(i);
      try {
        for (int32_t id : reader.document(i)) fuzz::check(id >= 0 && id < reader.vocab_size(), "id in range");
      } catch (const kdtext::InputError& e) {  // an id outside the vocabulary: refused, keep reading
        if (std::string(e.what()).find(file.path()) == std::string::npos) fuzz::finding(e.what());
      }
    }
    fuzz::check(reader.documents() > 4096 || tokens == reader.tokens(), "documents span the tokens");
  });
  return 0;
}
