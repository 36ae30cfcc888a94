#include "kdtext/text/hf_tokenizer.h"

#include <algorithm>

#include <cstdint>

#include "kdtext/error.h"

namespace kdtext::text {

namespace {

std::string type_of(const Json& j) {
  if (j.is_null()) return "null";
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return "(no type)";
  return j["type"].get<std::string>();
}

void require_type(const Json& j, const char* key, const char* expected, const std::string& origin) {
  const auto found = type_of(j.contains(key) ? j[key] : Json());
  if (found != expected) {
    throw InputError(origin + ": " + key + " '" + found + "' is not supported (" + expected +
                     " is: kdtext's WordPiece reproduces BertTokenizer only)");
  }
}

std::vector<std::string> vocab_in_id_order(const Json& vocab, const std::string& origin) {
  if (!vocab.is_object() || vocab.empty()) throw InputError(origin + ": model.vocab must be a non-empty object");
  if (vocab.size() > static_cast<size_t>(INT32_MAX)) throw InputError(origin + ": model.vocab too large");
  std::vector<std::string> pieces(vocab.size());
  std::vector<bool> seen(vocab.size(), false);
  const auto shown = [](const std::string& k) { return k.size() <= 60 ? k : k.substr(0, 60) + "..."; };
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it->is_number_integer()) throw InputError(origin + ": model.vocab['" + shown(it.key()) + "'] is not an integer id");
    const auto id = it->get<int64_t>();
    if (id >= 0 && id < static_cast<int64_t>(pieces.size()) && seen[static_cast<size_t>(id)]) {
      throw InputError(origin + ": model.vocab['" + shown(it.key()) + "'] = " + std::to_string(id) + ": id " +
                       std::to_string(id) + " is already '" + shown(pieces[static_cast<size_t>(id)]) +
                       "' (ids must be 0.." + std::to_string(pieces.size() - 1) + ", each used once)");
    }
    if (id < 0 || id >= static_cast<int64_t>(pieces.size())) {
      // Usually a piece left out (the ids then run past the count): name the first id nobody has.
      std::vector<bool> used(pieces.size(), false);
      for (const auto& v : vocab) {
        if (v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() < static_cast<int64_t>(used.size())) {
          used[static_cast<size_t>(v.get<int64_t>())] = true;
        }
      }
      const auto missing = std::find(used.begin(), used.end(), false) - used.begin();
      throw InputError(origin + ": model.vocab has " + std::to_string(pieces.size()) + " pieces but '" +
                       shown(it.key()) + "' has id " + std::to_string(id) + "; no piece has id " +
                       std::to_string(missing) + " (a piece left out of the vocabulary?)");
    }
    seen[static_cast<size_t>(id)] = true;
    pieces[static_cast<size_t>(id)] = it.key();
  }
  return pieces;
}

// A BertNormalizer field: a boolean, or (strip_accents only) null.
bool flag(const Json& n, const char* key, bool fallback, const std::string& origin) {
  if (!n.contains(key) || n[key].is_null()) return fallback;
  if (!n[key].is_boolean()) throw InputError(origin + ": normalizer." + key + " must be true or false");
  return n[key].get<bool>();
}

}  // namespace

bool is_hf_tokenizer_json(const Json& j) { return j.is_object() && j.contains("model") && j["model"].is_object(); }

HfWordPiece parse_hf_tokenizer_json(const Json& j, const std::string& origin) {
  if (!is_hf_tokenizer_json(j)) throw InputError(origin + ": not a tokenizers file (no \"model\" object)");
  require_type(j, "model", "WordPiece", origin);
  require_type(j, "normalizer", "BertNormalizer", origin);
  require_type(j, "pre_tokenizer", "BertPreTokenizer", origin);
  const Json& m = j["model"];
  HfWordPiece out;
  out.vocab = vocab_in_id_order(m.contains("vocab") ? m["vocab"] : Json(), origin);
  WordPieceOptions& o = out.options;
  try {
    if (m.contains("unk_token") && !m["unk_token"].is_null()) o.unk = m["unk_token"].get<std::string>();
    if (m.contains("continuing_subword_prefix") && !m["continuing_subword_prefix"].is_null()) {
      o.continuation = m["continuing_subword_prefix"].get<std::string>();
    }
    if (m.contains("max_input_chars_per_word")) {
      const Json& v = m["max_input_chars_per_word"];
      const bool fits = v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > (uint64_t{1} << 30));
      if (!fits || v.get<int64_t>() < 1 || v.get<int64_t>() > (int64_t{1} << 30)) {
        throw InputError(origin + ": model.max_input_chars_per_word is " + v.dump().substr(0, 40) +
                         "; it must be an integer from 1 to 2^30 (transformers writes 100)");
      }
      o.max_chars_per_word = v.get<int64_t>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(origin + ": model: " + e.what());
  }
  const Json& n = j["normalizer"];
  o.clean_text = flag(n, "clean_text", true, origin);
  o.chinese_chars = flag(n, "handle_chinese_chars", true, origin);
  o.lowercase = flag(n, "lowercase", true, origin);
  o.strip_accents = n.contains("strip_accents") && !n["strip_accents"].is_null()
                        ? (flag(n, "strip_accents", false, origin) ? 1 : 0)
                        : -1;  // null: follows lowercase, as in BertNormalizer
  return out;
}

}  // namespace kdtext::text
