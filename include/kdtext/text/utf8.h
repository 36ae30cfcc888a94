// UTF-8 validation and repair (no allocation on the valid fast path).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kdtext::text {

// Returns true when `s` is well-formed UTF-8 (no overlongs, no surrogates,
// nothing above U+10FFFF). On failure, `*bad_offset` is the byte offset of
// the first invalid sequence.
bool is_valid_utf8(std::string_view s, size_t* bad_offset = nullptr);

// Replaces every maximal invalid subsequence with U+FFFD (the W3C/Unicode
// "substitution of maximal subparts" practice). Returns the number of
// replacements through `*replaced`.
std::string repair_utf8(std::string_view s, size_t* replaced = nullptr);

// The longest prefix of `s` of at most `max_bytes` bytes that does not split
// a UTF-8 sequence.
std::string_view truncate_utf8(std::string_view s, size_t max_bytes);

// Number of code points in valid UTF-8.
size_t count_codepoints(std::string_view valid_utf8);

// A CJK ideograph, in the ranges BERT's BasicTokenizer splits around
// (CJK Unified Ideographs and extensions A-E, compatibility ideographs).
bool is_cjk(char32_t c);

// The code point starting at `s[i]` of valid UTF-8 and its length in bytes.
char32_t decode_utf8_at(std::string_view s, size_t i, size_t* length);

}  // namespace kdtext::text
