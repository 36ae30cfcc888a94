#include "kdtext/infer/precision_probe.h"

#include "kdtext/infer/predict.h"

#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <random>

#include "kdtext/version.h"
#include "kdtext/error.h"
#include "kdtext/util/cpu.h"
#include "kdtext/util/log.h"
#include "kdtext/util/paths.h"

namespace kdtext::infer {

std::vector<Precision> offered_precisions(const std::string& architecture, torch::Device device) {
  const bool cpu = device.is_cpu();
  if (architecture == "bert" || architecture == "cnn") {
    if (cpu) return {Precision::kFloat32, Precision::kBFloat16, Precision::kInt8};
    return {Precision::kFloat32, Precision::kBFloat16};
  }
  if (architecture == "bag" && cpu) return {Precision::kFloat32, Precision::kInt8};
  return {Precision::kFloat32};
}

std::vector<feed::Encoded> probe_rows(const text::Tokenizer& tokenizer, int64_t rows, int64_t shortest,
                                      int64_t longest, uint64_t seed) {
  const auto special = tokenizer.special_ids();
  const auto vocab = static_cast<int32_t>(tokenizer.vocab_size());
  // Ordinary pieces: not special, not a placeholder such as [unused7] or <s>.
  std::vector<int32_t> pool;
  for (int32_t id = 0; id < vocab; ++id) {
    if (id == special.pad || id == special.unk || id == special.cls || id == special.sep || id == special.mask) continue;
    const auto piece = tokenizer.id_to_piece(id);
    if (piece.empty() || piece.front() == '[' || piece.front() == '<') continue;
    pool.push_back(id);
  }
  if (pool.empty()) throw InputError("the tokenizer has no ordinary tokens to measure precisions with");
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
  const int64_t hi = std::max<int64_t>(3, longest);
  std::uniform_int_distribution<int64_t> length(std::clamp<int64_t>(shortest, 3, hi), hi);
  std::vector<feed::Encoded> out(static_cast<size_t>(rows));
  for (auto& row : out) {
    const int64_t n = length(rng);
    row.ids.push_back(special.cls);
    for (int64_t i = 2; i < n; ++i) row.ids.push_back(pool[pick(rng)]);
    row.ids.push_back(special.sep);
    row.segments.assign(row.ids.size(), 0);
  }
  return out;
}

namespace {
bool has_sample(const ProbeShape& shape) { return shape.sample != nullptr && !shape.sample->empty(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

Measured measure_precisions(const EngineFactory& factory, const std::vector<Precision>& candidates,
                            const text::Tokenizer& tokenizer, const ProbeShape& shape) {
  torch::InferenceMode guard;
  if (std::find(candidates.begin(), candidates.end(), Precision::kFloat32) == candidates.end()) {
    throw ConfigError("precision measurement needs fp32 among the candidates");
  }
  Measured m;
  const auto agreement_rows =
      has_sample(shape)
          ? std::vector<feed::Encoded>(shape.sample->begin(),
                                       shape.sample->begin() + std::min<int64_t>(kSampleRows, shape.sample->size()))
          : probe_rows(tokenizer, kAgreementRows, kShortestProbe, shape.tokens, 1);
  const int64_t batch = std::max<int64_t>(1, shape.batch_size);
  // Timed: the run's own rows when there are some (their lengths are the real shapes; four
  // batches, sorted by length as the run sorts them), else random rows of `tokens`.
  std::vector<feed::Encoded> timed_rows;
  if (has_sample(shape)) {
    const auto n = std::min<int64_t>(shape.sample->size(), std::max(kTimedRowsPerRound, 4 * batch));
    timed_rows.assign(shape.sample->begin(), shape.sample->begin() + n);
  } else {
    timed_rows = probe_rows(tokenizer, (kTimedRowsPerRound + batch - 1) / batch * batch, shape.tokens, shape.tokens, 2);
  }
  m.timed_batches = (static_cast<int64_t>(timed_rows.size()) + batch - 1) / batch;
  std::map<Precision, torch::Tensor> labels;
  for (const auto p : candidates) {
    m.engines[p] = factory(p);
    // Batched as the run batches (length-sorted, its batch size): int8 quantizes activations per
    // batch, so a row's label can depend on the rows it is batched with.
    labels[p] = predict_logits(*m.engines[p], agreement_rows, batch).argmax(1);
    predict_logits(*m.engines[p], timed_rows, batch);  // first calls at these shapes prepare kernels
  }
  // Interleaved rounds (a change of load hits every precision alike), at least kTimedRounds and
  // until fp32 has run kTimedSeconds (small models: one round is a few milliseconds).
  std::map<Precision, std::vector<double>> rounds;
  double fp32_total = 0;
  for (int r = 0; r < kTimedRounds || (fp32_total < kTimedSeconds && r < kMaxTimedRounds); ++r) {
    for (const auto p : candidates) {
      const auto t0 = std::chrono::steady_clock::now();
      predict_logits(*m.engines[p], timed_rows, batch);
      const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
      rounds[p].push_back(dt.count());
      if (p == Precision::kFloat32) fp32_total += dt.count();
    }
  }
  for (const auto p : candidates) {
    PrecisionMeasurement x;
    x.precision = p;
    x.seconds = median(rounds[p]) / static_cast<double>(m.timed_batches);  // per batch
    x.agreement = labels[p].eq(labels[Precision::kFloat32]).to(torch::kDouble).mean().item<double>();
    m.figures.push_back(x);
  }
  return m;
}

namespace {
ProbeKey probe_key(const std::vector<Precision>& candidates, torch::Device device,
                   const std::filesystem::path& checkpoint_dir, const ProbeShape& shape) {
  ProbeKey k;
  k.model = model_identity(checkpoint_dir);
  k.cpu = describe(this_cpu());
  k.device = device.str();
  k.threads = torch::get_num_threads();
  k.batch_size = shape.batch_size;
  k.tokens = shape.tokens;
  // Labels compared on the run's text or on random rows: two measurements (the
  // first text seen stands for the model's text afterwards).
  k.labels_on = has_sample(shape) ? "text" : "random";
  for (const auto p : candidates) k.candidates.push_back(precision_name(p));
  k.libtorch = TORCH_VERSION;
  k.kdtext = std::string(KDTEXT_VERSION) + " engine " + std::to_string(kEngineRevision);
  return k;
}

std::string shape_text(const ProbeShape& shape) {
  const bool text = has_sample(shape);
  return "batch " + std::to_string(shape.batch_size) + " x " + std::to_string(shape.tokens) + " tokens, " +
         std::to_string(torch::get_num_threads()) + " thread(s), " + this_cpu().model + "; labels on " +
         (text ? std::to_string(std::min<int64_t>(kSampleRows, shape.sample->size())) + " rows of the input"
               : std::to_string(kAgreementRows) + " random rows");
}
}  // namespace

ResolvedPrecision resolve_precision(Precision requested, const EngineFactory& factory, const std::string& architecture,
                                    torch::Device device, const text::Tokenizer& tokenizer,
                                    const std::filesystem::path& checkpoint_dir, const ProbeShape& shape) {
  ResolvedPrecision r;
  const bool explicit_reduced = requested != Precision::kAuto && measures_precision(requested, device);
  if (requested != Precision::kAuto) {
    r.precision = requested;
    r.engine = factory(requested);  // an unsupported request fails here, before any measuring
    if (!explicit_reduced) return r;
  }
  // An explicit precision is measured with the engine already built for it.
  const EngineFactory reuse = [&](Precision p) { return p == requested && r.engine ? r.engine : factory(p); };
  const auto candidates = offered_precisions(architecture, device);
  const auto key = probe_key(candidates, device, checkpoint_dir, shape);
  const auto file = probe_cache_file(cache_root() / "precision", key);
  Measured m;
  if (auto cached = read_probe_cache(file, key)) {
    r.measured = std::move(*cached);
    r.from_cache = true;
  } else {
    const auto t0 = std::chrono::steady_clock::now();
    m = measure_precisions(reuse, candidates, tokenizer, shape);
    r.measured = m.figures;
    write_probe_cache(file, key, r.measured);
    const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
    log::info("measured the precisions in ", log::fixed(dt.count(), 2), " s (cached in ", file.string(), ")");
  }
  const auto figures = describe_measurements(r.measured);
  if (explicit_reduced) {
    if (const auto warning = precision_warning(requested, r.measured)) log::warn(*warning, " (", figures, ")");
    return r;
  }
  const auto choice = choose_precision(r.measured);
  r.precision = choice.precision;
  r.reason = choice.reason;
  const auto built = m.engines.find(choice.precision);
  r.engine = built != m.engines.end() ? built->second : factory(choice.precision);
  log::info("precision auto chose ", choice.reason, " (", shape_text(shape), ": ", figures,
            r.from_cache ? "; measured earlier" : "", ")");
  return r;
}

}  // namespace kdtext::infer
