// The WordPiece vocabulary and tokenizer: the payload is vocab.txt, a NUL
// byte, then text to tokenize; the first byte picks the options and whether
// the special tokens are added to the vocabulary (without them the
// constructor must refuse it).
#include "fuzz_common.h"
#include "kdtext/text/wordpiece.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::Split in = fuzz::split_flags(data, size);
  const uint8_t flags = in.flags;
  const std::string& payload = in.payload;
  const std::string origin = "fuzz/vocab.txt";
  const size_t nul = payload.find('\0');
  const std::string vocab_text = payload.substr(0, nul);
  const std::string text = nul == std::string::npos ? std::string() : payload.substr(nul + 1);
  kdtext::text::WordPieceOptions o;
  o.lowercase = flags & 1;
  o.strip_accents = static_cast<int>((flags >> 1) % 3) - 1;
  o.chinese_chars = flags & 8;
  o.clean_text = flags & 16;
  o.max_chars_per_word = (flags & 32) ? 5 : 100;
  fuzz::expect_typed_errors(origin, [&] {
    std::vector<std::string> vocab;
    if (!(flags & 128)) vocab = {o.pad, o.unk, o.cls, o.sep, o.mask};
    for (auto& piece : kdtext::text::parse_vocab(vocab_text, origin)) vocab.push_back(std::move(piece));
    const kdtext::text::WordPieceTokenizer tok(vocab, o, origin);
    const auto ids = tok.encode(text);
    for (int32_t id : ids) fuzz::check(id >= 0 && id < tok.vocab_size(), "id inside the vocabulary");
    tok.decode(ids);
    fuzz::check(tok.tokenize(text).size() == ids.size(), "one id per token");
  });
  return 0;
}
