// A Hugging Face tokenizer.json (WordPiece): the payload is the JSON, a NUL
// byte, then text to tokenize with the tokenizer it describes. Whatever the
// file says, the tokenizer is built or the file refused by name; ids stay
// inside the vocabulary.
#include "fuzz_common.h"
#include "kdtext/text/hf_tokenizer.h"
#include "kdtext/text/wordpiece.h"
#include "kdtext/util/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string payload(reinterpret_cast<const char*>(data), size);
  const size_t nul = payload.find('\0');
  const std::string json = payload.substr(0, nul);
  const std::string text = nul == std::string::npos ? std::string("Hello, world!") : payload.substr(nul + 1);
  const std::string origin = "fuzz/tokenizer.json";
  fuzz::expect_typed_errors(origin, [&] {
    const auto parsed = kdtext::text::parse_hf_tokenizer_json(kdtext::parse_json_text(json, origin), origin);
    fuzz::check(parsed.options.max_chars_per_word >= 1, "max_input_chars_per_word refused below 1");
    const kdtext::text::WordPieceTokenizer tok(parsed.vocab, parsed.options, origin);
    const auto ids = tok.encode(text);
    for (int32_t id : ids) fuzz::check(id >= 0 && id < tok.vocab_size(), "id inside the vocabulary");
    tok.decode(ids);
  });
  return 0;
}
