#include "kdtext/model/sentence.h"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <stdexcept>

#include "kdtext/error.h"
#include "kdtext/util/memory.h"

namespace kdtext::model {

namespace {
constexpr int64_t kNgramPrime = 1000003;

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}
}  // namespace

const FieldTable<SentenceConfig>& sentence_fields() {
  using S = SentenceConfig;
  static const auto t = FieldTable<S>()
      .choice("arch", &S::arch, kSentenceArchs, "bilstm, cnn or bag")
      .field("vocab_size", &S::vocab_size, "Token vocabulary (the teacher's tokenizer)", at_least(1))
      .field("pad_token_id", &S::pad_token_id, "Padding token id", at_least(0))
      .field("embedding", &S::embedding, "Token embedding width", at_least(1))
      .field("hidden", &S::hidden, "bilstm: units per direction; cnn: filters per width; bag: hidden layer (0: none)",
             at_least(0))
      .field("layers", &S::layers, "bilstm: 1 or 2 layers", in_range(1, 2))
      .field("widths", &S::widths, "cnn: window widths in tokens")
      .choice("pooling", &S::pooling, kPoolings, "bilstm: max, mean or max_mean")
      .field("ngram_buckets", &S::ngram_buckets, "bag: hashed n-gram embeddings (0: none)", at_least(0))
      .field("ngram_order", &S::ngram_order, "bag: n-grams of 2..N tokens", at_least(2))
      .field("dropout", &S::dropout, "Dropout before the classifier", in_half_open(0, 1))
      .field("num_labels", &S::num_labels, "Classes", at_least(2))
      .rule([](const S& c, const std::string& prefix) {
        try {
          c.check();
        } catch (const std::invalid_argument& e) {
          throw ConfigError(field_path(prefix, e.what()));
        }
      });
  return t;
}

int64_t SentenceConfig::sentence_width() const {
  switch (arch) {
    case SentenceArch::kBiLstm: return 2 * hidden * (pooling == Pooling::kMaxMean ? 2 : 1);
    case SentenceArch::kCnn: return hidden * static_cast<int64_t>(widths.size());
    case SentenceArch::kBag: return hidden > 0 ? hidden : embedding;
  }
  return 0;
}

void SentenceConfig::check() const {
  require(vocab_size >= 1, "vocab_size: must be >= 1, got " + std::to_string(vocab_size));
  require(pad_token_id >= 0 && pad_token_id < vocab_size, "pad_token_id: must be a token id below vocab_size");
  require(embedding >= 1, "embedding: must be >= 1, got " + std::to_string(embedding));
  require(num_labels >= 2, "num_labels: must be >= 2, got " + std::to_string(num_labels));
  require(dropout >= 0 && dropout < 1, "dropout: must be in [0, 1)");
  if (arch == SentenceArch::kBiLstm) {
    require(hidden >= 1, "hidden: must be >= 1 for bilstm, got " + std::to_string(hidden));
    require(layers == 1 || layers == 2, "layers: must be 1 or 2 for bilstm, got " + std::to_string(layers));
  } else if (arch == SentenceArch::kCnn) {
    require(hidden >= 1, "hidden: must be >= 1 for cnn (filters per width), got " + std::to_string(hidden));
    require(!widths.empty(), "widths: at least one window width for cnn");
    for (int64_t w : widths) require(w >= 1, "widths: each must be >= 1, got " + std::to_string(w));
  } else {
    require(hidden >= 0, "hidden: must be >= 0 for bag (0: no hidden layer), got " + std::to_string(hidden));
    require(ngram_buckets >= 0, "ngram_buckets: must be >= 0, got " + std::to_string(ngram_buckets));
    require(ngram_buckets == 0 || ngram_order >= 2, "ngram_order: must be >= 2 with n-gram buckets");
    require(ngram_buckets <= (int64_t(1) << 40), "ngram_buckets: must be <= 2^40");
  }
}

torch::Tensor ngram_buckets(const torch::Tensor& input_ids, const torch::Tensor& attention_mask, int64_t order,
                            int64_t buckets) {
  const int64_t b = input_ids.size(0), t = input_ids.size(1);
  auto out = torch::full({b, t, std::max<int64_t>(order - 1, 0)}, -1, input_ids.options().dtype(torch::kLong));
  const auto ids = input_ids.to(torch::kLong);
  const auto real = attention_mask.to(torch::kBool);
  for (int64_t n = 2; n <= order && n <= t; ++n) {
    const int64_t starts = t - n + 1;
    auto h = ids.slice(1, 0, starts) % buckets;
    auto valid = real.slice(1, 0, starts);
    for (int64_t j = 1; j < n; ++j) {
      h = (h * kNgramPrime + ids.slice(1, j, j + starts)) % buckets;
      valid = valid & real.slice(1, j, j + starts);
    }
    out.select(2, n - 2).slice(1, 0, starts).copy_(torch::where(valid, h, torch::full_like(h, -1)));
  }
  return out;
}

SentenceClassifierImpl::SentenceClassifierImpl(const SentenceConfig& c) : config_(c) {
  c.check();
  check_fits_in_memory(c, "student config", 1, "hold");
  // Sparse gradients: a batch touches a few thousand rows of the tables
  // (train/sparse_rows.h updates only those).
  embeddings = register_module("embeddings",
                               torch::nn::Embedding(torch::nn::EmbeddingOptions(c.vocab_size, c.embedding).sparse(true)));
  if (c.arch == SentenceArch::kBiLstm) {
    lstm = register_module("lstm", torch::nn::LSTM(torch::nn::LSTMOptions(c.embedding, c.hidden)
                                                       .num_layers(c.layers)
                                                       .bidirectional(true)
                                                       .batch_first(true)
                                                       .dropout(c.layers > 1 ? c.dropout : 0.0)));
  } else if (c.arch == SentenceArch::kCnn) {
    convs = register_module("convs", torch::nn::ModuleList());
    for (int64_t w : c.widths) convs->push_back(torch::nn::Conv1d(torch::nn::Conv1dOptions(c.embedding, c.hidden, w)));
  } else {
    if (c.ngram_buckets > 0) {
      ngram_embeddings = register_module(
          "ngram_embeddings",
          torch::nn::Embedding(torch::nn::EmbeddingOptions(c.ngram_buckets, c.embedding).sparse(true)));
    }
    if (c.hidden > 0) hidden = register_module("hidden", torch::nn::Linear(c.embedding, c.hidden));
  }
  dropout = register_module("dropout", torch::nn::Dropout(c.dropout));
  classifier = register_module("classifier", torch::nn::Linear(c.sentence_width(), c.num_labels));
}

torch::Tensor SentenceClassifierImpl::encode_lstm(const torch::Tensor& x, const torch::Tensor& mask) {
  namespace rnn = torch::nn::utils::rnn;
  const auto lengths = mask.sum(1).to(torch::kCPU, torch::kLong);
  const auto packed = rnn::pack_padded_sequence(x, lengths, /*batch_first=*/true, /*enforce_sorted=*/false);
  const auto [out_packed, state] = lstm->forward_with_packed_input(packed);
  const auto h = std::get<0>(rnn::pad_packed_sequence(out_packed, /*batch_first=*/true, 0.0, x.size(1)));
  const auto m = mask.unsqueeze(-1).to(torch::kBool);
  const auto max = h.masked_fill(~m, -std::numeric_limits<float>::infinity()).amax(1);
  const auto mean = (h * m).sum(1) / m.sum(1).clamp_min(1);
  switch (config_.pooling) {
    case Pooling::kMax: return max;
    case Pooling::kMean: return mean;
    case Pooling::kMaxMean: return torch::cat({max, mean}, 1);
  }
  return max;
}

torch::Tensor SentenceClassifierImpl::encode_cnn(const torch::Tensor& x, const torch::Tensor& mask) {
  const int64_t widest = *std::max_element(config_.widths.begin(), config_.widths.end());
  // Padded positions are zero vectors; a sentence shorter than the widest
  // window is zero-padded to its width (Kim 2014) and its windows end there,
  // so a sentence's windows never depend on the batch's length.
  auto in = (x * mask.unsqueeze(-1).to(x.dtype())).transpose(1, 2);  // [B, E, T]
  if (in.size(2) < widest) in = torch::constant_pad_nd(in, {0, widest - in.size(2)});
  const auto lengths = mask.sum(1).clamp_min(widest);  // each sentence as zero-padded to the widest window
  std::vector<torch::Tensor> pooled;
  for (size_t i = 0; i < config_.widths.size(); ++i) {
    const int64_t w = config_.widths[i];
    const auto y = torch::relu(convs[i]->as<torch::nn::Conv1d>()->forward(in));  // [B, F, T' - w + 1]
    const auto windows = lengths - w + 1;                                       // windows per row
    const auto position = torch::arange(y.size(2), lengths.options()).unsqueeze(0);
    const auto valid = (position < windows.unsqueeze(1)).unsqueeze(1);           // [B, 1, W]
    pooled.push_back(y.masked_fill(~valid, -std::numeric_limits<float>::infinity()).amax(2));
  }
  return torch::cat(pooled, 1);
}

namespace {
// Sum of table's rows at indices[valid], per row of `valid` ([B, ...]):
// one embedding_bag over the valid indices only, so padding never reaches the
// table (nor its sparse gradient).
torch::Tensor masked_row_sum(const torch::Tensor& table, const torch::Tensor& indices, const torch::Tensor& valid) {
  const auto counts = valid.flatten(1).sum(1);
  const auto offsets = counts.cumsum(0) - counts;
  namespace F = torch::nn::functional;
  return F::embedding_bag(indices.masked_select(valid), table,
                          F::EmbeddingBagFuncOptions().offsets(offsets).mode(torch::kSum).sparse(true));
}
}  // namespace

torch::Tensor SentenceClassifierImpl::encode_bag(const torch::Tensor& ids, const torch::Tensor& mask) {
  const auto real = mask.to(torch::kBool);
  auto sum = masked_row_sum(embeddings->weight, ids, real);
  auto count = real.sum(1);
  if (config_.ngram_buckets > 0) {
    const auto b = ngram_buckets(ids, mask, config_.ngram_order, config_.ngram_buckets);  // [B, T, O]
    const auto valid = b >= 0;
    sum = sum + masked_row_sum(ngram_embeddings->weight, b, valid);
    count = count + valid.sum({1, 2});
  }
  auto s = sum / count.clamp_min(1).unsqueeze(1).to(sum.dtype());
  if (config_.hidden > 0) s = torch::relu(hidden->forward(s));
  return s;
}

torch::Tensor SentenceClassifierImpl::encode(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) {
  if (config_.arch == SentenceArch::kBag) return encode_bag(input_ids, attention_mask);
  const auto x = embeddings->forward(input_ids);
  switch (config_.arch) {
    case SentenceArch::kBiLstm: return encode_lstm(x, attention_mask);
    case SentenceArch::kCnn: return encode_cnn(x, attention_mask);
    case SentenceArch::kBag: break;
  }
  return x;
}

SentenceOutput SentenceClassifierImpl::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) {
  SentenceOutput out;
  out.sentence = encode(input_ids, attention_mask);
  out.logits = classifier->forward(dropout->forward(out.sentence));
  return out;
}

torch::Tensor reduce_embeddings(const torch::Tensor& embeddings, int64_t width) {
  const int64_t h = embeddings.size(1);
  require(width >= 1 && width <= h, "embedding: must be between 1 and the teacher's hidden size (" +
                                        std::to_string(h) + ") to start from its embeddings, got " +
                                        std::to_string(width));
  torch::NoGradGuard no_grad;
  const auto x = embeddings.detach().to(torch::kDouble);
  const auto centred = x - x.mean(0, /*keepdim=*/true);
  const auto vh = std::get<2>(torch::linalg_svd(centred, /*full_matrices=*/false));  // [k, H], descending
  auto projected = centred.matmul(vh.slice(0, 0, width).t());                          // [V, width]
  const auto largest = projected.abs().argmax(0);
  const auto sign = torch::sign(projected.gather(0, largest.unsqueeze(0)));
  projected = projected * torch::where(sign == 0, torch::ones_like(sign), sign);
  return projected.to(embeddings.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat);
}

int64_t parameter_count(const SentenceConfig& c) {
  int64_t n = c.vocab_size * c.embedding;
  if (c.arch == SentenceArch::kBiLstm) {
    for (int64_t l = 0; l < c.layers; ++l) {
      const int64_t in = l == 0 ? c.embedding : 2 * c.hidden;
      n += 2 * (4 * c.hidden * (in + c.hidden) + 2 * 4 * c.hidden);  // two directions; b_ih and b_hh
    }
  } else if (c.arch == SentenceArch::kCnn) {
    for (int64_t w : c.widths) n += c.hidden * c.embedding * w + c.hidden;
  } else {
    n += c.ngram_buckets * c.embedding;
    if (c.hidden > 0) n += c.embedding * c.hidden + c.hidden;
  }
  return n + c.sentence_width() * c.num_labels + c.num_labels;
}

double parameter_estimate(const SentenceConfig& c) {
  const double e = static_cast<double>(c.embedding), h = static_cast<double>(c.hidden);
  double n = static_cast<double>(c.vocab_size) * e, width = 0;
  if (c.arch == SentenceArch::kBiLstm) {
    for (int64_t l = 0; l < c.layers; ++l) {
      const double in = l == 0 ? e : 2 * h;
      n += 2 * (4 * h * (in + h) + 8 * h);
    }
    width = 2 * h * (c.pooling == Pooling::kMaxMean ? 2 : 1);
  } else if (c.arch == SentenceArch::kCnn) {
    for (int64_t w : c.widths) n += h * e * static_cast<double>(w) + h;
    width = h * static_cast<double>(c.widths.size());
  } else {
    n += static_cast<double>(c.ngram_buckets) * e + (c.hidden > 0 ? e * h + h : 0);
    width = c.hidden > 0 ? h : e;
  }
  return n + (width + 1) * static_cast<double>(c.num_labels);
}

void check_fits_in_memory(const SentenceConfig& c, const std::string& origin, double copies, const std::string& purpose) {
  const double params = parameter_estimate(c), need = params * 4.0 * copies;
  const MemoryBudget have = available_memory();
  if (need <= have.bytes) return;
  char count[32];
  std::snprintf(count, sizeof count, "%.3g", params);
  std::string sizes = "vocab_size " + std::to_string(c.vocab_size) + ", embedding " + std::to_string(c.embedding) +
                      ", hidden " + std::to_string(c.hidden);
  if (c.arch == SentenceArch::kBag) sizes += ", ngram_buckets " + std::to_string(c.ngram_buckets);
  if (c.arch == SentenceArch::kBiLstm) sizes += ", layers " + std::to_string(c.layers);
  if (c.arch == SentenceArch::kCnn) sizes += ", " + std::to_string(c.widths.size()) + " widths";
  throw ConfigError(origin + ": " + sizes + " make a " + choice_name(c.arch, kSentenceArchs) + " model of about " +
                    count + " parameters needing " + human_bytes(need) + " to " + purpose + ", more than the " +
                    human_bytes(have.bytes) + " available (" + have.limit + "); lower these sizes");
}

int64_t inference_flops(const SentenceConfig& c, int64_t tokens) {
  int64_t macs = c.sentence_width() * c.num_labels, adds = 0;
  if (c.arch == SentenceArch::kBiLstm) {
    for (int64_t l = 0; l < c.layers; ++l) {
      const int64_t in = l == 0 ? c.embedding : 2 * c.hidden;
      macs += 2 * tokens * 4 * c.hidden * (in + c.hidden);
    }
  } else if (c.arch == SentenceArch::kCnn) {
    const int64_t widest = *std::max_element(c.widths.begin(), c.widths.end());
    for (int64_t w : c.widths) macs += (std::max(tokens, widest) - w + 1) * c.hidden * c.embedding * w;
  } else {
    int64_t vectors = tokens;
    if (c.ngram_buckets > 0) {
      for (int64_t n = 2; n <= c.ngram_order; ++n) vectors += std::max<int64_t>(tokens - n + 1, 0);
    }
    adds = vectors * c.embedding;
    if (c.hidden > 0) macs += c.embedding * c.hidden;
  }
  return 2 * macs + adds;
}

}  // namespace kdtext::model
