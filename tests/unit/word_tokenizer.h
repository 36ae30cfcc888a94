// A small sentencepiece tokenizer (32 pieces) trained on a few words, some of
// which split into several pieces: for masking and feed tests.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kdtext/text/tokenizer.h"

namespace kdtext::testing {

inline std::unique_ptr<text::Tokenizer> word_tokenizer() {
  std::vector<std::string> sample;
  const char* words[] = {"internationalisation", "extraordinary", "cat", "dog", "sun", "tree", "unbelievable",
                         "a", "the", "house"};
  for (int i = 0; i < 300; ++i) {
    std::string s;
    for (int k = 0; k < 6; ++k) s += std::string(k ? " " : "") + words[(i * 3 + k * 7) % 10];
    sample.push_back(s);
  }
  text::SentencePieceTrainOptions o;
  o.vocab_size = 32;
  o.character_coverage = 1.0;
  return text::SentencePieceTokenizer::train(sample, o, {}, 1, 1);
}

}  // namespace kdtext::testing
