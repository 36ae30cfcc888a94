// Augmentation: nearest neighbours against a float64 brute force, and what
// each knob of the augmenter does to a text.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

#include "kdtext/augment/augment.h"
#include "kdtext/text/utf8.h"
#include "kdtext/model/config.h"
#include "kdtext/error.h"
#include "unit/word_tokenizer.h"

using namespace kdtext;
using namespace kdtext::augment;

namespace {

const std::vector<std::string> kWords = {"cat", "dog", "sun", "tree", "house", "a", "the", "extraordinary",
                                         "unbelievable", "internationalisation"};

// Brute-force neighbours in float64: mean piece embedding, cosine, best first,
// among the words encoded in as many pieces (one, or several) as `word`.
std::vector<std::string> brute_force(const std::string& word, const text::Tokenizer& tok, const torch::Tensor& emb,
                                     size_t k) {
  const auto mean = [&](const std::string& w) {
    std::vector<double> v(static_cast<size_t>(emb.size(1)), 0.0);
    const auto ids = tok.encode(w);
    for (int32_t id : ids) {
      for (size_t j = 0; j < v.size(); ++j) v[j] += emb[id][static_cast<int64_t>(j)].item<double>() / ids.size();
    }
    return v;
  };
  const auto cosine = [](const std::vector<double>& a, const std::vector<double>& b) {
    double ab = 0, aa = 0, bb = 0;
    for (size_t j = 0; j < a.size(); ++j) ab += a[j] * b[j], aa += a[j] * a[j], bb += b[j] * b[j];
    return ab / std::sqrt(aa * bb);
  };
  const auto me = mean(word);
  std::vector<std::pair<double, std::string>> scored;
  const bool single = tok.encode(word).size() == 1;
  for (const auto& w : kWords) {
    if (w != word && (tok.encode(w).size() == 1) == single) scored.emplace_back(-cosine(me, mean(w)), w);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < k && i < scored.size(); ++i) out.push_back(scored[i].second);
  return out;
}

}  // namespace

TEST(Augment, NeighboursAreTheMostCosineSimilarWholeWords) {
  const auto tok = kdtext::testing::word_tokenizer();
  torch::manual_seed(5);
  const auto emb = torch::randn({tok->vocab_size(), 6});
  std::vector<std::string> words = kWords;
  words.push_back("zzz");       // its pieces are unknown to the tokenizer: never a candidate
  words.push_back("cat-house");  // not word-like: neither replaced nor a candidate
  const WordNeighbours n(words, *tok, emb, 3);
  EXPECT_EQ(n.size(), kWords.size());
  EXPECT_EQ(n.of("zzz"), nullptr);
  EXPECT_EQ(n.of("cat-house"), nullptr);
  size_t single = 0;
  for (const auto& w : kWords) single += tok->encode(w).size() == 1;
  ASSERT_GE(single, 3u);  // both groups have neighbours to find
  ASSERT_GE(kWords.size() - single, 3u);
  for (const auto& w : kWords) {
    ASSERT_NE(n.of(w), nullptr) << w;
    EXPECT_EQ(*n.of(w), brute_force(w, *tok, emb, 3)) << w;
  }
}

TEST(Augment, EachKnobDoesWhatItSays) {
  const auto tok = kdtext::testing::word_tokenizer();
  torch::manual_seed(5);
  const WordNeighbours n(kWords, *tok, torch::randn({tok->vocab_size(), 6}), 3);
  const std::string text = "the cat saw a dog near the house";
  const auto words = split_words(text);
  AugmentOptions none;
  none.replace_prob = none.mask_prob = none.ngram_prob = 0;
  EXPECT_EQ(Augmenter(none, n, "[MASK]", 1).augment(text, 0, 1), text);

  AugmentOptions mask = none;
  mask.mask_prob = 1;
  EXPECT_EQ(Augmenter(mask, n, "[MASK]", 1).augment("a b c", 0, 1), "[MASK] [MASK] [MASK]");

  AugmentOptions replace = none;
  replace.replace_prob = 1;
  const Augmenter r(replace, n, "[MASK]", 1);
  const auto out = split_words(r.augment(text, 3, 2));
  ASSERT_EQ(out.size(), words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    const auto* near = n.of(words[i]);
    if (!near) EXPECT_EQ(out[i], words[i]);  // "saw", "near": not in the vocabulary
    else EXPECT_NE(std::find(near->begin(), near->end(), out[i]), near->end()) << words[i] << " -> " << out[i];
  }
  EXPECT_EQ(r.augment(text, 3, 2), r.augment(text, 3, 2));  // deterministic in (seed, example, copy)
  std::set<std::string> copies;
  for (int64_t k = 1; k <= 10; ++k) copies.insert(r.augment(text, 3, k));
  EXPECT_GT(copies.size(), 5u);

  AugmentOptions ngram = none;
  ngram.ngram_prob = 1;
  ngram.ngram_max = 3;
  for (int64_t k = 1; k <= 20; ++k) {
    const auto g = split_words(Augmenter(ngram, n, "[MASK]", 1).augment(text, 0, k));
    ASSERT_GE(g.size(), 1u);
    ASSERT_LE(g.size(), 3u);
    const auto at = std::search(words.begin(), words.end(), g.begin(), g.end());
    EXPECT_NE(at, words.end()) << "not a contiguous n-gram of the text";
  }
}

namespace {

model::Bert tiny_masked_lm(int64_t vocab) {
  model::BertConfig c;
  c.vocab_size = vocab;
  c.hidden_size = 8;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.intermediate_size = 16;
  c.max_position_embeddings = 64;
  torch::manual_seed(11);
  model::Bert m(c, model::Heads::kMaskedLM);
  model::init_weights(*m, c);
  return m;
}

}  // namespace

TEST(Augment, MaskedLmCandidatesAreTheHeadsBestWordPieces) {
  const auto tok = kdtext::testing::word_tokenizer();
  std::vector<std::string> single, multi;
  for (const auto& w : kWords) (tok->encode(w).size() == 1 ? single : multi).push_back(w);
  ASSERT_GE(single.size(), 4u);
  ASSERT_FALSE(multi.empty());
  const int32_t continuation = tok->encode(multi[0])[1];
  ASSERT_FALSE(tok->starts_word(continuation));
  // A head whose logits are its bias whatever the text: transform -> 0.
  auto m = tiny_masked_lm(tok->vocab_size());
  {
    torch::NoGradGuard no_grad;
    m->predictions->transform->dense->weight.zero_();
    m->predictions->transform->dense->bias.zero_();
    m->predictions->transform->LayerNorm->bias.zero_();
    auto& b = m->predictions->bias;
    b.fill_(0);
    b[tok->special_ids().mask] = 10;  // special: never a candidate
    b[continuation] = 9;              // does not begin a word
    for (int i = 0; i < 4; ++i) b[tok->encode(single[static_cast<size_t>(i)])[0]] = 8 - i;
  }
  const MaskedLmCandidates mlm(m, *tok, torch::kCPU, 2, 64);
  const std::vector<std::string> words = {single[0], single[2], multi[0], single[1] + "-" + single[2], "zzz"};
  const auto got = mlm.of(words);
  ASSERT_EQ(got.size(), words.size());
  EXPECT_EQ(got[0], (std::vector<std::string>{single[1], single[2]}));  // the word itself is skipped
  EXPECT_EQ(got[1], (std::vector<std::string>{single[0], single[1]}));
  EXPECT_TRUE(got[2].empty());  // several pieces: embedding neighbours' job
  EXPECT_TRUE(got[3].empty());  // not word-like
  EXPECT_TRUE(got[4].empty());  // unknown to the tokenizer
  // max_len counts [CLS] and [SEP]: 4 tokens leave room for two words.
  const MaskedLmCandidates short_mlm(m, *tok, torch::kCPU, 2, 4);
  const auto cut = short_mlm.of({single[0], single[0], single[0]});
  EXPECT_FALSE(cut[0].empty());
  EXPECT_FALSE(cut[1].empty());
  EXPECT_TRUE(cut[2].empty());
}

TEST(Augment, MaskedLmCandidatesMaskOneWordPerRowOfTheBatch) {
  // Against a forward pass per word: the text with that word alone masked.
  const auto tok = kdtext::testing::word_tokenizer();
  auto m = tiny_masked_lm(tok->vocab_size());
  m->eval();
  const MaskedLmCandidates mlm(m, *tok, torch::kCPU, 3, 64);
  const std::vector<std::string> words = {"the", "cat", "a", "house", "extraordinary", "dog", "sun"};
  const auto got = mlm.of(words);
  const auto sp = tok->special_ids();
  std::vector<int64_t> ids = {sp.cls};
  std::vector<int64_t> start;
  for (const auto& w : words) {
    start.push_back(static_cast<int64_t>(ids.size()));
    for (int32_t id : tok->encode(w)) ids.push_back(id);
  }
  ids.push_back(sp.sep);
  torch::NoGradGuard no_grad;
  size_t checked = 0;
  for (size_t i = 0; i < words.size(); ++i) {
    const auto pieces = tok->encode(words[i]);
    if (pieces.size() != 1) {
      EXPECT_TRUE(got[i].empty()) << words[i];
      continue;
    }
    auto masked = ids;
    masked[static_cast<size_t>(start[i])] = sp.mask;
    const auto hidden = m->encode(torch::tensor(masked, torch::kLong).unsqueeze(0)).last_hidden[0][start[i]];
    const auto order = std::get<1>(m->mlm_logits(hidden.unsqueeze(0))[0].sort(0, true));
    std::vector<std::string> expect;
    for (int64_t j = 0; j < order.size(0) && expect.size() < 3; ++j) {
      const auto id = static_cast<int32_t>(order[j].item<int64_t>());
      if (id == pieces[0] || id == sp.pad || id == sp.unk || id == sp.cls || id == sp.sep || id == sp.mask) continue;
      const auto w = tok->decode({id});
      if (tok->starts_word(id) && !w.empty() && std::all_of(w.begin(), w.end(), [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) != 0; })) {
        expect.push_back(w);
      }
    }
    EXPECT_EQ(got[i], expect) << words[i];
    ++checked;
  }
  EXPECT_GE(checked, 4u);
}

TEST(Augment, InContextCandidatesComeFirstNeighboursFillTheRest) {
  const auto tok = kdtext::testing::word_tokenizer();
  torch::manual_seed(5);
  const WordNeighbours n(kWords, *tok, torch::randn({tok->vocab_size(), 6}), 3);
  AugmentOptions replace;
  replace.replace_prob = 1;
  replace.mask_prob = replace.ngram_prob = 0;
  const Augmenter r(replace, n, "[MASK]", 1);
  const auto out = split_words(r.augment("cat dog", 0, 1, {{"zebra"}, {}}));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], "zebra");
  ASSERT_NE(n.of("dog"), nullptr);
  EXPECT_NE(std::find(n.of("dog")->begin(), n.of("dog")->end(), out[1]), n.of("dog")->end());
  EXPECT_THROW(r.augment("cat dog", 0, 1, {{"zebra"}}), std::logic_error);  // one list per word
}

TEST(Augment, VocabularyAndOptionErrors) {
  std::vector<text::Example> ex{{"b a a", "", "x", 1}, {"c b a", "d", "y", 2}};
  EXPECT_EQ(frequent_words(ex, 10), (std::vector<std::string>{"a", "b", "c", "d"}));  // 3, 2, then ties by word
  EXPECT_EQ(frequent_words(ex, 2), (std::vector<std::string>{"a", "b"}));
  const auto error = [](const Json& j) {
    try {
      augment_options_from_json(JsonFields(j, "augment"));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error({{"copies", -1}}), "augment.copies: must be >= 0, got -1");
  EXPECT_EQ(error({{"copies", 0}}), "no error");  // the originals only
  EXPECT_EQ(error({{"max_len", 2}}), "augment.max_len: must be >= 3, got 2");
  EXPECT_NE(error({{"mask_prob", 1.5}}).find("augment.mask_prob: must be in [0, 1]"), std::string::npos);
  EXPECT_NE(error({{"replace_prob", 0.8}, {"mask_prob", 0.3}}).find("augment.mask_prob: replace_prob + mask_prob"),
            std::string::npos);
}

TEST(Augment, ChineseIsSplitIntoCharactersAndJoinedWithoutAddedSpaces) {
  // Each CJK ideograph is a word (as BERT's BasicTokenizer splits them); other
  // runs (Latin letters, full-width punctuation) stay whole; spaces come back
  // only where the text had them.
  const std::string text = "我爱 北京 abc，好";
  const auto w = split_text(text);
  EXPECT_EQ(w.words, (std::vector<std::string>{"我", "爱", "北", "京", "abc，", "好"}));
  EXPECT_EQ(w.space_before, (std::vector<bool>{false, false, true, false, true, false}));
  EXPECT_EQ(join_words(w, 0, w.words.size()), text);
  EXPECT_EQ(join_words(w, 1, 3), "爱 北京");
  EXPECT_EQ(join_words(split_text("  a  b\tc "), 0, 3), "a b c");

  const auto tok = kdtext::testing::word_tokenizer();
  const WordNeighbours n(kWords, *tok, torch::randn({tok->vocab_size(), 6}), 3);
  AugmentOptions mask;
  mask.replace_prob = mask.ngram_prob = 0;
  mask.mask_prob = 1;
  // Every character masked, not the whole sentence as one word.
  EXPECT_EQ(Augmenter(mask, n, "[MASK]", 1).augment("很好的酒店", 0, 1), "[MASK][MASK][MASK][MASK][MASK]");
  AugmentOptions ngram = mask;
  ngram.mask_prob = 0;
  ngram.ngram_prob = 1;
  ngram.ngram_max = 3;
  for (int64_t k = 0; k < 20; ++k) {
    const auto g = Augmenter(ngram, n, "[MASK]", 1).augment("很好的酒店", 0, k);
    EXPECT_TRUE(std::string("很好的酒店").find(g) != std::string::npos) << g;  // a contiguous span of characters
    EXPECT_GE(text::count_codepoints(g), 1u);
    EXPECT_LE(text::count_codepoints(g), 3u);
  }
}
