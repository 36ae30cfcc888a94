#include "kdtext/augment/augment.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>
#include <stdexcept>

#include "kdtext/error.h"
#include "kdtext/text/utf8.h"

namespace kdtext::augment {

const FieldTable<AugmentOptions>& augment_fields() {
  using O = AugmentOptions;
  static const auto t = FieldTable<O>()
      .field("copies", &O::copies, "Augmented copies per example (0: the originals only, as JSON lines)", at_least(0))
      .flag("--copies")
      .field("replace_prob", &O::replace_prob, "Per word: replaced by a nearest neighbour", in_range(0, 1))
      .flag("--replace-prob")
      .field("neighbours", &O::neighbours, "Candidates per word", at_least(1)).flag("--neighbours")
      .field("mask_prob", &O::mask_prob, "Per word: replaced by the mask token", in_range(0, 1)).flag("--mask-prob")
      .field("ngram_prob", &O::ngram_prob, "Per copy: keep only a random n-gram", in_range(0, 1)).flag("--ngram-prob")
      .field("ngram_max", &O::ngram_max, "Longest n-gram kept", at_least(1)).flag("--ngram-max")
      .field("vocabulary", &O::vocabulary, "Candidate words: the most frequent of the input", at_least(2))
      .flag("--vocabulary")
      .field("max_len", &O::max_len, "Tokens the masked-LM reads a text with", at_least(3)).flag("--max-len")
      .rule([](const O& o, const std::string& p) {
        if (o.replace_prob + o.mask_prob > 1) {
          throw ConfigError(field_path(p, "mask_prob") + ": replace_prob + mask_prob must be <= 1 (one change per word)");
        }
      });
  return t;
}

Json to_json(const AugmentOptions& o) { return augment_fields().to_json(o); }
AugmentOptions augment_options_from_json(const JsonFields& f) { return augment_fields().from_json(f); }

Words split_text(const std::string& text) {
  Words out;
  std::string current;
  bool space = false;
  const auto flush = [&] {
    if (current.empty()) return;
    out.words.push_back(std::move(current));
    out.space_before.push_back(space && out.words.size() > 1);
    current.clear();
    space = false;
  };
  for (size_t i = 0; i < text.size();) {
    size_t n = 1;
    const char32_t c = text::decode_utf8_at(text, i, &n);
    if (c < 0x80 && std::isspace(static_cast<int>(c))) {
      flush();
      space = true;
    } else if (text::is_cjk(c)) {
      flush();
      current.assign(text, i, n);
      flush();
    } else {
      current.append(text, i, n);
    }
    i += n;
  }
  flush();
  return out;
}

std::vector<std::string> split_words(const std::string& text) { return split_text(text).words; }

std::string join_words(const Words& w, size_t first, size_t count) {
  std::string out;
  for (size_t i = first; i < first + count && i < w.words.size(); ++i) {
    if (i > first && w.space_before[i]) out += ' ';
    out += w.words[i];
  }
  return out;
}

std::vector<std::string> frequent_words(const std::vector<text::Example>& examples, int64_t limit) {
  std::map<std::string, int64_t> counts;
  for (const auto& e : examples) {
    for (const auto* t : {&e.text, &e.pair}) {
      for (const auto& w : split_words(*t)) ++counts[w];
    }
  }
  std::vector<std::pair<std::string, int64_t>> ranked(counts.begin(), counts.end());
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<std::string> words;
  for (size_t i = 0; i < ranked.size() && static_cast<int64_t>(i) < limit; ++i) words.push_back(ranked[i].first);
  return words;
}

namespace {

// Punctuation outside ASCII that CJK text uses: general punctuation
// (U+2000-206F), CJK symbols and punctuation (U+3000-303F) and the full-width
// forms of ASCII punctuation (U+FF01-FF0F, FF1A-FF20, FF3B-FF40, FF5B-FF65).
bool wide_punctuation(char32_t c) {
  return (c >= 0x2000 && c <= 0x206F) || (c >= 0x3000 && c <= 0x303F) || (c >= 0xFF01 && c <= 0xFF0F) ||
         (c >= 0xFF1A && c <= 0xFF20) || (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65);
}

// Letters and digits (any other non-ASCII character counts as a letter) and
// apostrophes: punctuation and hyphenated compounds are neither replaced nor
// candidates.
bool word_like(const std::string& w) {
  for (size_t i = 0; i < w.size();) {
    size_t n = 1;
    const char32_t c = text::decode_utf8_at(w, i, &n);
    if (c < 0x80 ? !(std::isalnum(static_cast<int>(c)) || c == '\'') : wide_punctuation(c)) return false;
    i += n;
  }
  return true;
}

}  // namespace

WordNeighbours::WordNeighbours(const std::vector<std::string>& words, const text::Tokenizer& tokenizer,
                               const torch::Tensor& embeddings, int64_t k) {
  torch::NoGradGuard no_grad;
  const int32_t unk = tokenizer.special_ids().unk;
  const auto table = embeddings.to(torch::kFloat32);
  // Single-piece words are compared with single-piece words and multi-piece
  // words with multi-piece ones: a mean of pieces is a cruder vector than
  // one embedding row, and mixing the two pulls every long word together.
  std::vector<std::string> kept[2];
  std::vector<torch::Tensor> rows[2];
  for (const auto& w : words) {
    const auto ids = tokenizer.encode(w);
    if (ids.empty() || !word_like(w) || std::find(ids.begin(), ids.end(), unk) != ids.end()) continue;
    const auto index = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kLong);
    const int g = ids.size() == 1 ? 0 : 1;
    rows[g].push_back(table.index_select(0, index).mean(0));
    kept[g].push_back(w);
  }
  for (int g = 0; g < 2; ++g) {
    if (kept[g].size() < 2) continue;
    const auto unit = torch::nn::functional::normalize(torch::stack(rows[g]),
                                                       torch::nn::functional::NormalizeFuncOptions().dim(1));
    const int64_t n = unit.size(0), take = std::min<int64_t>(k + 1, n);
    for (int64_t begin = 0; begin < n; begin += 1024) {  // [chunk, n] similarities at a time
      const int64_t end = std::min(n, begin + 1024);
      const auto top = std::get<1>(unit.slice(0, begin, end).matmul(unit.t()).topk(take, 1)).contiguous();
      const auto idx = top.accessor<int64_t, 2>();
      for (int64_t r = 0; r < end - begin; ++r) {
        auto& list = table_[kept[g][static_cast<size_t>(begin + r)]];
        for (int64_t j = 0; j < take && static_cast<int64_t>(list.size()) < k; ++j) {
          if (idx[r][j] != begin + r) list.push_back(kept[g][static_cast<size_t>(idx[r][j])]);
        }
      }
    }
  }
}

const std::vector<std::string>* WordNeighbours::of(const std::string& word) const {
  auto it = table_.find(word);
  return it == table_.end() || it->second.empty() ? nullptr : &it->second;
}

MaskedLmCandidates::MaskedLmCandidates(model::Bert model, const text::Tokenizer& tokenizer, torch::Device device,
                                       int64_t k, int64_t max_len)
    : model_(std::move(model)), tokenizer_(tokenizer), device_(device), k_(k), max_len_(max_len) {
  if (model_->heads != model::Heads::kMaskedLM) throw ConfigError("augment: the masked-LM model has no masked-LM head");
  if (max_len_ < 3) throw ConfigError("augment: max_len must be >= 3, got " + std::to_string(max_len_));
  model_->to(device_);
  model_->eval();
}

std::vector<std::vector<std::string>> MaskedLmCandidates::of(const std::vector<std::string>& words) const {
  std::vector<std::vector<std::string>> out(words.size());
  const auto special = tokenizer_.special_ids();
  // The text as the model reads it, and the token of each maskable word.
  std::vector<int64_t> ids = {special.cls};
  std::vector<std::pair<size_t, int64_t>> masked;  // (word, token position)
  for (size_t i = 0; i < words.size(); ++i) {
    const auto pieces = tokenizer_.encode(words[i]);
    if (pieces.size() == 1 && pieces[0] != special.unk && word_like(words[i]) &&
        static_cast<int64_t>(ids.size()) < max_len_ - 1) {
      masked.emplace_back(i, static_cast<int64_t>(ids.size()));
    }
    ids.insert(ids.end(), pieces.begin(), pieces.end());
  }
  if (masked.empty()) return out;
  ids.resize(std::min<size_t>(ids.size(), static_cast<size_t>(max_len_ - 1)));
  ids.push_back(special.sep);
  torch::NoGradGuard no_grad;
  const auto n = static_cast<int64_t>(masked.size());
  auto input = torch::tensor(ids, torch::kLong).unsqueeze(0).repeat({n, 1});
  std::vector<int64_t> rows(masked.size()), cols(masked.size());
  for (size_t r = 0; r < masked.size(); ++r) rows[r] = static_cast<int64_t>(r), cols[r] = masked[r].second;
  const auto row_index = torch::tensor(rows, torch::kLong), col_index = torch::tensor(cols, torch::kLong);
  input.index_put_({row_index, col_index}, special.mask);
  const auto hidden = model_->encode(input.to(device_)).last_hidden;
  const auto logits = model_->mlm_logits(hidden.index({row_index.to(device_), col_index.to(device_)}));
  // The best pieces, read until k pass the filter: a first look at 4k + 8,
  // then wider, up to the whole vocabulary.
  for (int64_t take = std::min<int64_t>(logits.size(1), 4 * k_ + 8);; take = std::min<int64_t>(logits.size(1), 4 * take)) {
    const auto top = std::get<1>(logits.topk(take, 1)).to(torch::kCPU).contiguous();
    const auto idx = top.accessor<int64_t, 2>();
    bool short_of_k = false;
    for (int64_t r = 0; r < n; ++r) {
      const size_t word = masked[static_cast<size_t>(r)].first;
      const int64_t original = ids[static_cast<size_t>(masked[static_cast<size_t>(r)].second)];
      auto& list = out[word];
      list.clear();
      for (int64_t j = 0; j < take && static_cast<int64_t>(list.size()) < k_; ++j) {
        const auto id = static_cast<int32_t>(idx[r][j]);
        if (id == original || id == special.pad || id == special.unk || id == special.cls || id == special.sep ||
            id == special.mask || !tokenizer_.starts_word(id)) {
          continue;
        }
        const std::string candidate = tokenizer_.decode({id});
        if (!candidate.empty() && word_like(candidate) && candidate != words[word]) list.push_back(candidate);
      }
      short_of_k = short_of_k || static_cast<int64_t>(list.size()) < k_;
    }
    if (!short_of_k || take == logits.size(1)) break;
  }
  return out;
}

Augmenter::Augmenter(AugmentOptions options, const WordNeighbours& neighbours, std::string mask_token, uint64_t seed)
    : options_(std::move(options)), neighbours_(neighbours), mask_token_(std::move(mask_token)), seed_(seed) {}

std::string Augmenter::augment(const std::string& text, uint64_t example, int64_t copy,
                               const std::vector<std::vector<std::string>>& in_context) const {
  std::seed_seq seq{static_cast<uint32_t>(seed_), static_cast<uint32_t>(seed_ >> 32), static_cast<uint32_t>(example),
                    static_cast<uint32_t>(example >> 32), static_cast<uint32_t>(copy)};
  std::mt19937_64 rng(seq);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto split = split_text(text);
  auto& words = split.words;
  if (!in_context.empty() && in_context.size() != words.size()) {
    throw std::logic_error("augment: " + std::to_string(in_context.size()) + " candidate lists for " +
                        std::to_string(words.size()) + " words");
  }
  for (size_t i = 0; i < words.size(); ++i) {
    auto& w = words[i];
    const double u = unit(rng);
    if (u < options_.replace_prob) {
      const auto* near = !in_context.empty() && !in_context[i].empty() ? &in_context[i] : neighbours_.of(w);
      if (near) w = (*near)[std::uniform_int_distribution<size_t>(0, near->size() - 1)(rng)];
    } else if (u < options_.replace_prob + options_.mask_prob) {
      w = mask_token_;
    }
  }
  size_t first = 0, count = words.size();
  if (!words.empty() && unit(rng) < options_.ngram_prob) {
    count = std::uniform_int_distribution<size_t>(1, std::min<size_t>(options_.ngram_max, words.size()))(rng);
    first = std::uniform_int_distribution<size_t>(0, words.size() - count)(rng);
  }
  return join_words(split, first, count);
}

}  // namespace kdtext::augment
