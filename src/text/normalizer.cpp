#include "kdtext/text/normalizer.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <stdexcept>

namespace kdtext::text {

const FieldTable<NormalizerOptions>& normalizer_fields() {
  using N = NormalizerOptions;
  static const auto t = FieldTable<N>()
      .field("nfkc", &N::nfkc, "Unicode NFKC normalisation").flag("--nfkc")
      .field("lowercase", &N::lowercase, "Lowercase the text").flag("--lowercase")
      .field("remove_control", &N::remove_control, "Remove control and format characters").flag("--remove-control")
      .field("collapse_whitespace", &N::collapse_whitespace, "Collapse whitespace runs to one space, trim the ends");
  return t;
}

Json to_json(const NormalizerOptions& o) { return normalizer_fields().to_json(o); }
NormalizerOptions normalizer_options_from_json(const JsonFields& f) { return normalizer_fields().from_json(f); }

Normalizer::Normalizer(NormalizerOptions options) : options_(options) {
  if (options_.nfkc) {
    UErrorCode status = U_ZERO_ERROR;
    nfkc_ = icu::Normalizer2::getNFKCInstance(status);
    if (U_FAILURE(status)) {
      throw std::runtime_error(std::string("ICU: cannot load NFKC data: ") + u_errorName(status));
    }
  }
}
Normalizer::~Normalizer() = default;
Normalizer::Normalizer(Normalizer&&) noexcept = default;
Normalizer& Normalizer::operator=(Normalizer&&) noexcept = default;

namespace {
bool is_ascii(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}
bool is_ascii_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
}  // namespace

// ASCII needs no NFKC and only ASCII case mapping: the common case, done
// without ICU's UTF-16 round trip.
std::string Normalizer::normalize_ascii(std::string_view s) const {
  std::string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (unsigned char c : s) {
    if (is_ascii_space(c)) {
      if (options_.collapse_whitespace) {
        pending_space = true;
        continue;
      }
      out.push_back(static_cast<char>(c));
      continue;
    }
    if (options_.remove_control && (c < 0x20 || c == 0x7F)) continue;
    if (pending_space) {
      if (!out.empty()) out.push_back(' ');
      pending_space = false;
    }
    if (options_.lowercase && c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c + 32);
    out.push_back(static_cast<char>(c));
  }
  return out;
}

std::string Normalizer::normalize(std::string_view s) const {
  if (is_ascii(s)) return normalize_ascii(s);

  icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(s.data(), static_cast<int32_t>(s.size())));
  if (nfkc_) {
    UErrorCode status = U_ZERO_ERROR;
    u = static_cast<const icu::Normalizer2*>(nfkc_)->normalize(u, status);
    if (U_FAILURE(status)) throw std::runtime_error(std::string("ICU NFKC failed: ") + u_errorName(status));
  }
  if (options_.lowercase) u.toLower(icu::Locale::getRoot());

  icu::UnicodeString cleaned;
  bool pending_space = false;
  for (int32_t i = 0; i < u.length();) {
    const UChar32 c = u.char32At(i);
    i += U16_LENGTH(c);
    const bool space = u_isUWhiteSpace(c) || c == '\t' || c == '\n' || c == '\r';
    if (space && options_.collapse_whitespace) {
      pending_space = true;
      continue;
    }
    if (!space && options_.remove_control) {
      const int8_t type = u_charType(c);
      if (type == U_CONTROL_CHAR || type == U_FORMAT_CHAR || type == U_UNASSIGNED ||
          type == U_PRIVATE_USE_CHAR || type == U_SURROGATE) {
        continue;
      }
    }
    if (pending_space) {
      if (!cleaned.isEmpty()) cleaned.append(static_cast<UChar>(' '));
      pending_space = false;
    }
    cleaned.append(c);
  }
  std::string out;
  cleaned.toUTF8String(out);
  return out;
}

}  // namespace kdtext::text
