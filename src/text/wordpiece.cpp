#include "kdtext/text/wordpiece.h"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/ustring.h>
#include <unicode/utf8.h>

#include <fstream>
#include <sstream>

#include "kdtext/text/hf_tokenizer.h"
#include "kdtext/text/utf8.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"
#include "kdtext/util/file.h"

namespace kdtext::text {
namespace fs = std::filesystem;

const FieldTable<WordPieceOptions>& wordpiece_fields() {
  using O = WordPieceOptions;
  static const auto t = FieldTable<O>()
      .field("lowercase", &O::lowercase, "do_lower_case")
      .field("strip_accents", &O::strip_accents, "-1: follows lowercase, 0: keep, 1: strip", in_range(-1, 1))
      .field("chinese_chars", &O::chinese_chars, "Spaces around CJK ideographs")
      .field("clean_text", &O::clean_text, "Drop control characters, map whitespace to spaces")
      .field("max_chars_per_word", &O::max_chars_per_word, "Longer words become [UNK]", at_least(1))
      .field("continuation", &O::continuation, "Prefix of word-continuing pieces")
      .field("unk", &O::unk, "Unknown token")
      .field("cls", &O::cls, "Classification token")
      .field("sep", &O::sep, "Separator token")
      .field("pad", &O::pad, "Padding token")
      .field("mask", &O::mask, "Mask token");
  return t;
}

Json to_json(const WordPieceOptions& o) { return wordpiece_fields().to_json(o); }
WordPieceOptions wordpiece_options_from_json(const JsonFields& f) { return wordpiece_fields().from_json(f); }

namespace {

// Character classes as BERT's tokenizer defines them.
bool is_control(UChar32 c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;  // counted as whitespace
  switch (u_charType(c)) {
    case U_CONTROL_CHAR:
    case U_FORMAT_CHAR:
    case U_UNASSIGNED:
    case U_PRIVATE_USE_CHAR:
    case U_SURROGATE:
      return true;
    default:
      return false;
  }
}

bool is_whitespace(UChar32 c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || (c >= 0x80 && u_hasBinaryProperty(c, UCHAR_WHITE_SPACE));
}

bool is_punctuation(UChar32 c) {
  if (c < 0x80) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return (U_GET_GC_MASK(c) & U_GC_P_MASK) != 0;
}

void append_utf8(std::string& out, UChar32 c) {
  char buf[4];
  int32_t n = 0;
  UBool error = false;
  U8_APPEND(reinterpret_cast<uint8_t*>(buf), n, 4, c, error);
  if (!error) out.append(buf, static_cast<size_t>(n));
}

// Full (one-to-many) lowercase mapping of one character, without context,
// as Rust's char::to_lowercase (which Hugging Face tokenizers use).
void append_lower(std::vector<UChar32>& out, UChar32 c) {
  if (c < 0x80) {
    out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  UChar src[2], dst[8];
  int32_t n = 0;
  U16_APPEND_UNSAFE(src, n, c);
  UErrorCode status = U_ZERO_ERROR;
  const int32_t m = u_strToLower(dst, 8, src, n, "", &status);
  if (U_FAILURE(status)) {
    out.push_back(u_tolower(c));
    return;
  }
  for (int32_t i = 0; i < m;) {
    UChar32 d;
    U16_NEXT(dst, i, m, d);
    out.push_back(d);
  }
}

const icu::Normalizer2& nfd() {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = icu::Normalizer2::getNFDInstance(status);
  if (U_FAILURE(status)) throw std::runtime_error(std::string("ICU: cannot load NFD data: ") + u_errorName(status));
  return *n;
}

std::vector<std::string> read_vocab(const fs::path& path) {
  return parse_vocab(read_file(path, "vocabulary"), path.string());
}

// A special token in tokenizer_config.json: a string or {"content": "..."}.
void special_token(const Json& cfg, const char* key, std::string& out) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return;
  if (it->is_string()) out = it->get<std::string>();
  else if (it->is_object() && it->contains("content")) out = it->at("content").get<std::string>();
}

}  // namespace

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options,
                                       const std::string& origin)
    : vocab_(std::move(vocab)), options_(std::move(options)),
      passthrough_(NormalizerOptions{false, false, false, true}) {
  ids_.reserve(vocab_.size() * 2);
  for (size_t i = 0; i < vocab_.size(); ++i) {
    // transformers keeps the last id of a repeated piece; so do we.
    ids_[vocab_[i]] = static_cast<int32_t>(i);
  }
  specials_.pad = id_of(options_.pad, origin);
  specials_.unk = id_of(options_.unk, origin);
  specials_.cls = id_of(options_.cls, origin);
  specials_.sep = id_of(options_.sep, origin);
  specials_.mask = id_of(options_.mask, origin);
  std::string all;
  for (const auto& v : vocab_) all += v + "\n";
  all += to_json(options_).dump();
  fingerprint_ = fingerprint_bytes(all);
}

int32_t WordPieceTokenizer::id_of(const std::string& piece, const std::string& origin) const {
  auto it = ids_.find(piece);
  if (it == ids_.end()) throw InputError(origin + ": special token " + piece + " is not in the vocabulary");
  return it->second;
}

std::vector<std::string> parse_vocab(const std::string& text, const std::string& origin) {
  std::istringstream in(text);
  std::vector<std::string> vocab;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    vocab.push_back(line);
  }
  if (vocab.empty()) throw InputError(origin + ": empty vocabulary");
  if (vocab.size() > static_cast<size_t>(INT32_MAX)) throw InputError(origin + ": vocabulary too large");
  return vocab;
}

WordPieceOptions wordpiece_options_from_hf_config(const Json& cfg, const std::string& origin) {
  WordPieceOptions o;
  if (!cfg.is_object()) throw InputError(origin + ": not a JSON object");
  try {
    if (auto it = cfg.find("tokenizer_class"); it != cfg.end() && it->is_string()) {
      const auto cls = it->get<std::string>();
      if (cls.find("Bert") == std::string::npos) {
        throw InputError(origin + ": tokenizer_class " + cls +
                         " is not supported (BertTokenizer and DistilBertTokenizer are)");
      }
    }
    if (auto it = cfg.find("do_lower_case"); it != cfg.end() && !it->is_null()) o.lowercase = it->get<bool>();
    if (auto it = cfg.find("strip_accents"); it != cfg.end() && !it->is_null()) o.strip_accents = it->get<bool>() ? 1 : 0;
    if (auto it = cfg.find("tokenize_chinese_chars"); it != cfg.end() && !it->is_null()) o.chinese_chars = it->get<bool>();
    if (auto it = cfg.find("do_basic_tokenize"); it != cfg.end() && it->is_boolean() && !it->get<bool>()) {
      throw InputError(origin + ": do_basic_tokenize false is not supported");
    }
    special_token(cfg, "unk_token", o.unk);
    special_token(cfg, "cls_token", o.cls);
    special_token(cfg, "sep_token", o.sep);
    special_token(cfg, "pad_token", o.pad);
    special_token(cfg, "mask_token", o.mask);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(origin + ": " + e.what());
  }
  return o;
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_hf_dir(const fs::path& dir) {
  const fs::path vocab_path = dir / "vocab.txt", tokenizers_path = dir / "tokenizer.json";
  const fs::path cfg_path = dir / "tokenizer_config.json";
  if (!fs::exists(vocab_path) && fs::exists(tokenizers_path)) {
    // A tokenizers file: vocabulary and normalisation from it (what transformers' fast
    // tokenizer runs), special token names from tokenizer_config.json when present.
    const Json j = read_json_file(tokenizers_path);
    if (!is_hf_tokenizer_json(j)) {
      throw InputError(dir.string() + ": no vocab.txt, and tokenizer.json is not a Hugging Face tokenizers file");
    }
    auto parsed = parse_hf_tokenizer_json(j, tokenizers_path.string());
    if (fs::exists(cfg_path)) {
      const auto names = wordpiece_options_from_hf_config(read_json_file(cfg_path), cfg_path.string());
      for (auto field : {&WordPieceOptions::cls, &WordPieceOptions::sep, &WordPieceOptions::pad, &WordPieceOptions::mask}) {
        parsed.options.*field = names.*field;
      }
    }
    return std::make_unique<WordPieceTokenizer>(std::move(parsed.vocab), parsed.options, tokenizers_path.string());
  }
  if (!fs::exists(vocab_path)) {
    throw InputError(dir.string() + ": no vocab.txt and no tokenizer.json (not a WordPiece tokenizer directory)");
  }
  WordPieceOptions o;
  if (fs::exists(cfg_path)) o = wordpiece_options_from_hf_config(read_json_file(cfg_path), cfg_path.string());
  return std::make_unique<WordPieceTokenizer>(read_vocab(vocab_path), o, vocab_path.string());
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::load_dir(const fs::path& dir, const Json& meta) {
  WordPieceOptions o;
  std::string expected;
  try {
    JsonFields f(meta, "");
    o = wordpiece_options_from_json(f.child("options"));
    f.get("fingerprint", expected);
  } catch (const ConfigError& e) {
    throw InputError((dir / kTokenizerMetaFile).string() + ": " + e.what());
  }
  const fs::path vocab_path = dir / "vocab.txt";
  auto tok = std::make_unique<WordPieceTokenizer>(read_vocab(vocab_path), o, vocab_path.string());
  if (!expected.empty() && expected != tok->fingerprint()) {
    throw InputError(vocab_path.string() + ": fingerprint " + tok->fingerprint() + " does not match " + expected +
                     " recorded in tokenizer.json (vocabulary replaced or corrupt)");
  }
  return tok;
}

namespace {
std::vector<std::string> split_on_whitespace_and_punctuation(const std::vector<UChar32>& cps) {
  std::vector<std::string> words;
  std::string current;
  const auto flush = [&] {
    if (!current.empty()) words.push_back(std::move(current));
    current.clear();
  };
  for (UChar32 c : cps) {
    if (is_whitespace(c)) {
      flush();
    } else if (is_punctuation(c)) {
      flush();
      append_utf8(current, c);
      flush();
    } else {
      append_utf8(current, c);
    }
  }
  flush();
  return words;
}
}  // namespace

std::vector<std::string> WordPieceTokenizer::pre_tokenize(std::string_view text) const {
  const bool strip = options_.strip_accents == 1 || (options_.strip_accents == -1 && options_.lowercase);
  // 1. Clean and split CJK ideographs.
  std::vector<UChar32> cps;
  cps.reserve(text.size() + 8);
  bool ascii = true;
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const auto len = static_cast<int32_t>(text.size());
  for (int32_t i = 0; i < len;) {
    UChar32 c;
    U8_NEXT(s, i, len, c);
    if (c < 0) c = 0xFFFD;  // invalid UTF-8
    if (options_.clean_text) {
      if (c == 0 || c == 0xFFFD || is_control(c)) continue;
      if (is_whitespace(c)) c = ' ';
    }
    if (c >= 0x80) ascii = false;
    if (options_.chinese_chars && c >= 0x3400 && is_cjk(static_cast<char32_t>(c))) {
      cps.push_back(' ');
      cps.push_back(c);
      cps.push_back(' ');
    } else {
      cps.push_back(c);
    }
  }
  // 2. Strip accents (NFD, drop non-spacing marks), then lowercase.
  if (strip && !ascii) {
    icu::UnicodeString u;
    for (UChar32 c : cps) u.append(c);
    UErrorCode status = U_ZERO_ERROR;
    const icu::UnicodeString d = nfd().normalize(u, status);
    if (U_FAILURE(status)) throw std::runtime_error(std::string("ICU NFD failed: ") + u_errorName(status));
    cps.clear();
    for (int32_t i = 0; i < d.length();) {
      const UChar32 c = d.char32At(i);
      i += U16_LENGTH(c);
      if (u_charType(c) != U_NON_SPACING_MARK) cps.push_back(c);
    }
  }
  if (options_.lowercase) {
    std::vector<UChar32> lower;
    lower.reserve(cps.size());
    for (UChar32 c : cps) append_lower(lower, c);
    cps.swap(lower);
  }
  // 3. Words: split on whitespace; every punctuation character is a word of its own.
  return split_on_whitespace_and_punctuation(cps);
}

void WordPieceTokenizer::word_pieces(const std::string& word, std::vector<int32_t>& out) const {
  // Character boundaries (byte offsets) of the word.
  std::vector<size_t> bounds;
  const auto* s = reinterpret_cast<const uint8_t*>(word.data());
  const auto len = static_cast<int32_t>(word.size());
  for (int32_t i = 0; i < len;) {
    bounds.push_back(static_cast<size_t>(i));
    U8_FWD_1(s, i, len);
  }
  bounds.push_back(word.size());
  const size_t chars = bounds.size() - 1;
  if (static_cast<int64_t>(chars) > options_.max_chars_per_word) {
    out.push_back(specials_.unk);
    return;
  }
  const size_t mark = out.size();
  std::string piece;
  for (size_t start = 0; start < chars;) {
    size_t end = chars;
    int32_t found = -1;
    for (; end > start; --end) {
      piece.assign(start > 0 ? options_.continuation : std::string());
      piece.append(word, bounds[start], bounds[end] - bounds[start]);
      auto it = ids_.find(piece);
      if (it != ids_.end()) {
        found = it->second;
        break;
      }
    }
    if (found < 0) {  // unsplittable: the whole word is unknown
      out.resize(mark);
      out.push_back(specials_.unk);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

std::vector<int32_t> WordPieceTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  const auto plain = [&](std::string_view part) {
    for (const auto& w : pre_tokenize(part)) word_pieces(w, ids);
  };
  // Special tokens written literally in the text ("[SEP]", ...) are matched
  // before normalisation and kept whole, as transformers does.
  const std::pair<const std::string*, int32_t> specials[] = {{&options_.cls, specials_.cls},
                                                             {&options_.sep, specials_.sep},
                                                             {&options_.mask, specials_.mask},
                                                             {&options_.unk, specials_.unk},
                                                             {&options_.pad, specials_.pad}};
  size_t pos = 0;
  while (pos < text.size()) {
    size_t best = std::string_view::npos, best_len = 0;
    int32_t best_id = -1;
    for (const auto& [piece, id] : specials) {
      if (piece->empty()) continue;
      const size_t at = text.find(*piece, pos);
      if (at < best || (at == best && at != std::string_view::npos && piece->size() > best_len)) {
        best = at;
        best_len = piece->size();
        best_id = id;
      }
    }
    if (best == std::string_view::npos) break;
    plain(text.substr(pos, best - pos));
    ids.push_back(best_id);
    pos = best + best_len;
  }
  if (pos < text.size()) plain(text.substr(pos));
  return ids;
}

std::vector<std::string> WordPieceTokenizer::tokenize(std::string_view text) const {
  std::vector<std::string> pieces;
  for (int32_t id : encode(text)) pieces.push_back(vocab_[static_cast<size_t>(id)]);
  return pieces;
}

std::string WordPieceTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  const auto& cont = options_.continuation;
  for (int32_t id : ids) {
    if (id == specials_.pad) continue;
    const std::string piece = id_to_piece(id);
    if (piece.rfind(cont, 0) == 0 && !out.empty()) {
      out += piece.substr(cont.size());
    } else {
      if (!out.empty()) out += ' ';
      out += piece;
    }
  }
  return out;
}

std::string WordPieceTokenizer::id_to_piece(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= vocab_.size()) throw std::out_of_range("token id " + std::to_string(id));
  return vocab_[static_cast<size_t>(id)];
}

bool WordPieceTokenizer::starts_word(int32_t id) const {
  return id_to_piece(id).rfind(options_.continuation, 0) != 0;
}

void WordPieceTokenizer::save(const fs::path& dir) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error(dir.string() + ": cannot create tokenizer directory: " + ec.message());
  write_hf_files(dir);
  Json meta{{"format_version", kTokenizerFormatVersion},
            {"type", type()},
            {"vocab_size", vocab_size()},
            {"options", to_json(options_)},
            {"special_tokens", Json{{"pad", specials_.pad}, {"unk", specials_.unk}, {"cls", specials_.cls},
                                    {"sep", specials_.sep}, {"mask", specials_.mask}}},
            {"fingerprint", fingerprint_}};
  write_file_atomic(dir / kTokenizerMetaFile, meta.dump(2) + "\n");
}

bool WordPieceTokenizer::write_hf_files(const fs::path& dir) const {
  std::string vocab;
  for (const auto& v : vocab_) vocab += v + "\n";
  write_file_atomic(dir / "vocab.txt", vocab);
  Json cfg{{"tokenizer_class", "BertTokenizer"},
           {"do_lower_case", options_.lowercase},
           {"strip_accents", options_.strip_accents < 0 ? Json(nullptr) : Json(options_.strip_accents == 1)},
           {"tokenize_chinese_chars", options_.chinese_chars},
           {"do_basic_tokenize", true},
           {"unk_token", options_.unk},
           {"cls_token", options_.cls},
           {"sep_token", options_.sep},
           {"pad_token", options_.pad},
           {"mask_token", options_.mask}};
  write_file_atomic(dir / "tokenizer_config.json", cfg.dump(2) + "\n");
  Json map{{"unk_token", options_.unk}, {"cls_token", options_.cls}, {"sep_token", options_.sep},
           {"pad_token", options_.pad}, {"mask_token", options_.mask}};
  write_file_atomic(dir / "special_tokens_map.json", map.dump(2) + "\n");
  return true;
}

}  // namespace kdtext::text
