// Task data augmentation for distillation (TinyBERT, Jiao et al. 2020; Tang
// et al. 2019): copies of each labelled example with whole words replaced by
// a masked-LM's predictions in context (single-piece words, when a model with
// a masked-LM head is at hand) or by their nearest neighbours in the teacher's
// input-embedding space, words masked, and n-gram sampling. Deterministic: a copy depends only on the seed,
// the example's index and the copy's number, never on the order of work.
#pragma once

#include <torch/torch.h>

#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "kdtext/model/bert.h"
#include "kdtext/text/labelled.h"
#include "kdtext/text/tokenizer.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::augment {

struct AugmentOptions {
  int64_t copies = 20;          // augmented copies per example (the original is written too; 0: only
                                // the originals, a conversion to the JSON lines every stage reads)
  double replace_prob = 0.4;    // per word: replaced by one of its nearest neighbours
  int64_t neighbours = 15;      // candidates per word
  double mask_prob = 0.1;       // per word: replaced by the tokenizer's mask token
  double ngram_prob = 0.25;     // per copy: keep only a random n-gram of the words
  int64_t ngram_max = 5;        // n drawn uniformly from 1..ngram_max (at most the word count)
  int64_t vocabulary = 20000;   // candidate words: the most frequent words of the input
  int64_t max_len = 128;        // tokens a masked-LM reads a text with (words past it: neighbours)
};

// The "augment" section of kdtext-augment and its flags.
const FieldTable<AugmentOptions>& augment_fields();
Json to_json(const AugmentOptions& o);
// Reads and validates (errors name `prefix.key`).
AugmentOptions augment_options_from_json(const JsonFields& f);

// The words of a text: whitespace-separated, and each CJK ideograph a word of
// its own (Chinese and Japanese are written without spaces: BERT's own
// BasicTokenizer splits them the same way), with whether each followed
// whitespace, so that join_words() puts back spaces only where there were some.
struct Words {
  std::vector<std::string> words;
  std::vector<bool> space_before;  // per word; false for the first
};
Words split_text(const std::string& text);
std::vector<std::string> split_words(const std::string& text);  // split_text(text).words
// words[first, first + count) joined: a space before each but the first where space_before says so.
std::string join_words(const Words& w, size_t first, size_t count);

// The `limit` most frequent words of the texts (and pairs) of `examples`,
// ties broken by the word, so the list does not depend on hash order.
std::vector<std::string> frequent_words(const std::vector<text::Example>& examples, int64_t limit);

// Whole-word nearest neighbours: a word is the mean of its pieces' rows of
// the teacher's input embeddings (`embeddings` [V, H]); neighbours are the
// `k` most cosine-similar other words of `words` with the same kind of
// encoding (one piece, or several). Words with characters other than letters,
// digits and apostrophes, and words the tokenizer maps to its unknown piece,
// are left out.
class WordNeighbours {
 public:
  WordNeighbours(const std::vector<std::string>& words, const text::Tokenizer& tokenizer,
                 const torch::Tensor& embeddings, int64_t k);
  // Nearest first; null when the word has none.
  const std::vector<std::string>* of(const std::string& word) const;
  size_t size() const { return table_.size(); }

 private:
  std::unordered_map<std::string, std::vector<std::string>> table_;
};

// Replacement candidates in context from a model with a masked-LM head
// (TinyBERT's rule): each single-piece, word-like word of a text is masked in
// turn, the rest of the text left as it is, and the `k` most likely pieces
// that begin a word (not special, word-like, not the word itself) are its
// candidates. One forward pass per text, a row per word, on `device`.
class MaskedLmCandidates {
 public:
  // `model` must carry the masked-LM head; `max_len` bounds the tokens a text
  // is read with ([CLS] and [SEP] included): words past it get no candidates.
  MaskedLmCandidates(model::Bert model, const text::Tokenizer& tokenizer, torch::Device device, int64_t k,
                     int64_t max_len);
  // Candidates for each word of `words`, best first (empty: none).
  std::vector<std::vector<std::string>> of(const std::vector<std::string>& words) const;

 private:
  mutable model::Bert model_;  // forward passes only (no_grad, eval mode)
  const text::Tokenizer& tokenizer_;
  torch::Device device_;
  int64_t k_, max_len_;
};

class Augmenter {
 public:
  // `mask_token` replaces masked words (the tokenizer's mask piece).
  Augmenter(AugmentOptions options, const WordNeighbours& neighbours, std::string mask_token, uint64_t seed);
  // Copy `copy` (1-based) of `text`, the `example`-th input. `in_context`,
  // when given, holds a candidate list per word of the text (as
  // MaskedLmCandidates::of returns them); a word with a non-empty list is
  // replaced from it, the others from their embedding neighbours.
  std::string augment(const std::string& text, uint64_t example, int64_t copy,
                      const std::vector<std::vector<std::string>>& in_context = {}) const;

 private:
  AugmentOptions options_;
  const WordNeighbours& neighbours_;
  std::string mask_token_;
  uint64_t seed_;
};

}  // namespace kdtext::augment
