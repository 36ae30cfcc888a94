#include "kdtext/feed/batching.h"

#include <algorithm>
#include <numeric>

namespace kdtext::feed {

Encoded encode_example(const text::Tokenizer& tok, const std::string& text, const std::string& pair, int64_t max_len) {
  const bool has_pair = !pair.empty();
  const size_t budget = static_cast<size_t>(std::max<int64_t>(0, max_len - (has_pair ? 3 : 2)));
  // Each text's first `budget` ids decide the truncation below (longest first) as its whole would:
  // a line of megabytes is never encoded whole.
  auto a = text::encode_long(tok, text, std::max<size_t>(budget, 1));
  std::vector<int32_t> b;
  if (has_pair) b = text::encode_long(tok, pair, std::max<size_t>(budget, 1));
  while (a.size() + b.size() > budget) {
    if (a.size() > b.size()) a.pop_back();  // longest first; ties from the pair, as transformers
    else b.pop_back();
  }
  const text::SpecialIds sp = tok.special_ids();
  Encoded e;
  e.ids.reserve(a.size() + b.size() + 3);
  e.ids.push_back(sp.cls);
  e.ids.insert(e.ids.end(), a.begin(), a.end());
  e.ids.push_back(sp.sep);
  e.segments.assign(e.ids.size(), 0);
  if (has_pair) {
    e.ids.insert(e.ids.end(), b.begin(), b.end());
    e.ids.push_back(sp.sep);
    e.segments.resize(e.ids.size(), 1);
  }
  return e;
}

std::vector<Encoded> encode_examples(const text::Tokenizer& tok, const std::vector<text::Example>& examples, int64_t max_len) {
  std::vector<Encoded> out;
  out.reserve(examples.size());
  for (const auto& e : examples) out.push_back(encode_example(tok, e.text, e.pair, max_len));
  return out;
}

Batch make_batch(const std::vector<Encoded>& encoded, const std::vector<size_t>& rows,
                 const std::vector<int64_t>* labels) {
  size_t t = 1;
  for (size_t r : rows) t = std::max(t, encoded[r].ids.size());
  const auto n = static_cast<int64_t>(rows.size());
  Batch b;
  // Padding positions are masked out, so their id only has to exist: 0 is [PAD]
  // in kdtext's and in BERT's vocabularies.
  b.input_ids = torch::full({n, static_cast<int64_t>(t)}, text::SpecialTokens::kPad, torch::kLong);
  b.attention_mask = torch::zeros({n, static_cast<int64_t>(t)}, torch::kLong);
  b.token_type_ids = torch::zeros({n, static_cast<int64_t>(t)}, torch::kLong);
  auto* ids = b.input_ids.data_ptr<int64_t>();
  auto* mask = b.attention_mask.data_ptr<int64_t>();
  auto* seg = b.token_type_ids.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    const auto& e = encoded[rows[i]];
    std::copy(e.ids.begin(), e.ids.end(), ids + i * t);
    std::fill(mask + i * t, mask + i * t + e.ids.size(), 1);
    std::copy(e.segments.begin(), e.segments.end(), seg + i * t);
  }
  if (labels) {
    std::vector<int64_t> y;
    for (size_t r : rows) y.push_back((*labels)[r]);
    b.labels = torch::tensor(y, torch::kLong);
  }
  b.index = rows;
  return b;
}

std::vector<std::vector<size_t>> bucketed_batches(const std::vector<Encoded>& encoded, int64_t batch_size,
                                                  std::mt19937_64& rng, int64_t pool_batches) {
  std::vector<size_t> order(encoded.size());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  const size_t pool = static_cast<size_t>(batch_size * pool_batches);
  for (size_t s = 0; s < order.size(); s += pool) {
    const auto end = order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), s + pool));
    std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(s), end,
                     [&](size_t a, size_t b) { return encoded[a].ids.size() < encoded[b].ids.size(); });
  }
  std::vector<std::vector<size_t>> batches;
  for (size_t s = 0; s < order.size(); s += static_cast<size_t>(batch_size)) {
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(s),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), s + batch_size)));
  }
  std::shuffle(batches.begin(), batches.end(), rng);
  return batches;
}

std::vector<std::vector<size_t>> sorted_batches(const std::vector<Encoded>& encoded, int64_t batch_size) {
  std::vector<size_t> order(encoded.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return encoded[a].ids.size() > encoded[b].ids.size(); });
  std::vector<std::vector<size_t>> batches;
  for (size_t s = 0; s < order.size(); s += static_cast<size_t>(batch_size)) {
    batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(s),
                         order.begin() + static_cast<std::ptrdiff_t>(std::min(order.size(), s + batch_size)));
  }
  return batches;
}

}  // namespace kdtext::feed
