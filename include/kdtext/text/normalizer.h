// Text normalisation applied to every document before tokenisation, in
// preprocess and again at inference time (it is part of the tokenizer).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::text {

struct NormalizerOptions {
  bool nfkc = true;                 // Unicode NFKC (compatibility composition)
  bool lowercase = false;           // Unicode lowercasing, after NFKC
  bool remove_control = true;       // drop control/format/unassigned chars (Unicode C*)
  bool collapse_whitespace = true;  // whitespace runs -> one space; trim both ends
};

const FieldTable<NormalizerOptions>& normalizer_fields();
Json to_json(const NormalizerOptions& o);
NormalizerOptions normalizer_options_from_json(const JsonFields& f);

// Thread-safe after construction. Input must be valid UTF-8.
class Normalizer {
 public:
  explicit Normalizer(NormalizerOptions options = {});
  ~Normalizer();
  Normalizer(Normalizer&&) noexcept;
  Normalizer& operator=(Normalizer&&) noexcept;

  std::string normalize(std::string_view valid_utf8) const;
  const NormalizerOptions& options() const { return options_; }

 private:
  std::string normalize_ascii(std::string_view s) const;
  NormalizerOptions options_;
  const void* nfkc_ = nullptr;  // icu::Normalizer2*, owned by ICU
};

}  // namespace kdtext::text
