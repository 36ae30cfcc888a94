// Measuring the precisions of one checkpoint at load (infer/precision.h has
// the rule and the cache): the engine is built in each precision the model
// offers, run on probe rows of the run's shape, timed in interleaved rounds,
// and its labels compared with fp32's.
//
// Labels are compared on the run's own text when the caller has some (the
// first kSampleRows texts of kdtext-classify's first input file, the dev set
// of a training stage's report, ClassifierOptions::precision_sample), else on
// kAgreementRows rows of ordinary tokens drawn at random from the model's
// vocabulary, kShortestProbe to `tokens` long. Random text is a cautious
// stand-in: it sits nearer the decision boundary than real text, so it flips
// more labels (SST-2 student, int8: 97.7% on random rows, 99.7% on the dev
// set; docs/RESULTS.md, "Precision chosen by measurement"). Timed rows are
// the run's own rows when there are some (their lengths decide which precision
// wins: a small cnn is faster in int8 at 64 tokens, slower at SST-2's 25), else
// random tokens `tokens` long, in batches of the run's size.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kdtext/feed/batching.h"
#include "kdtext/infer/engine.h"
#include "kdtext/infer/precision.h"
#include "kdtext/text/tokenizer.h"

namespace kdtext::infer {

// The precisions an architecture ("bert", "bilstm", "cnn", "bag") offers on
// a device, fp32 first: bert and cnn fp32, bf16 and (CPU) int8; bag fp32 and
// (CPU) int8; bilstm fp32.
std::vector<Precision> offered_precisions(const std::string& architecture, torch::Device device);

// Whether a request is measured at load: auto anywhere, an explicit bf16 or
// int8 on the CPU (to warn when it is slower than fp32). fp32 never is.
inline bool measures_precision(Precision requested, torch::Device device) {
  return requested == Precision::kAuto || (requested != Precision::kFloat32 && device.is_cpu());
}

// The engine of one checkpoint in a precision (throws what its constructor throws).
using EngineFactory = std::function<std::shared_ptr<const ClassifierEngine>(Precision)>;

// The shapes measured: the run's batch size, and tokens per row (the run's
// max_len, at most kProbeTokens: sorted batches of real text are mostly shorter).
struct ProbeShape {
  int64_t batch_size = 32;
  int64_t tokens = 64;
  // The run's own text, encoded (its first kSampleRows rows are compared); null: random rows.
  const std::vector<feed::Encoded>* sample = nullptr;
};
inline constexpr int64_t kProbeTokens = 64;
inline constexpr int64_t kAgreementRows = 256;  // random rows compared with fp32
inline constexpr int64_t kSampleRows = 1024;    // rows of the run's own text compared, at most
inline constexpr int64_t kTimedRowsPerRound = 32;  // at least; whole batches
inline constexpr int kTimedRounds = 3;           // at least, after one untimed pass
inline constexpr double kTimedSeconds = 0.3;     // of fp32, at least (up to kMaxTimedRounds)
inline constexpr int kMaxTimedRounds = 50;
inline constexpr int64_t kShortestProbe = 8;     // tokens of the shortest rows compared

// `rows` probe rows of `shortest` to `longest` tokens (at least 3; uniformly
// drawn), the same for a seed.
std::vector<feed::Encoded> probe_rows(const text::Tokenizer& tokenizer, int64_t rows, int64_t shortest,
                                      int64_t longest, uint64_t seed);

struct Measured {
  std::vector<PrecisionMeasurement> figures;  // in `candidates` order
  std::map<Precision, std::shared_ptr<const ClassifierEngine>> engines;
  int64_t timed_batches = 0;  // per round (figures are per batch)
};
// Builds each candidate's engine (fp32 must be among them), compares its
// labels with fp32's on the sample or kAgreementRows random rows (batched as
// predict_logits batches them at `shape.batch_size`), then times batches of
// `shape` in interleaved rounds (the median round counts) after one untimed
// pass each (first calls at a new shape prepare kernels).
Measured measure_precisions(const EngineFactory& factory, const std::vector<Precision>& candidates,
                            const text::Tokenizer& tokenizer, const ProbeShape& shape);

struct ResolvedPrecision {
  Precision precision = Precision::kFloat32;
  std::shared_ptr<const ClassifierEngine> engine;
  std::vector<PrecisionMeasurement> measured;  // empty when nothing was measured
  bool from_cache = false;
  std::string reason;  // auto: why this one
};

// What load_classifier does with a requested precision: fp32 (and anything
// on a GPU but auto) is built as asked, unmeasured. auto measures (or reads
// the cache) and builds the choice, logging it with the figures; an explicit
// bf16 or int8 on the CPU is built as asked, measured against fp32, and
// warned about when slower. The cache is <cache_root()>/precision.
ResolvedPrecision resolve_precision(Precision requested, const EngineFactory& factory, const std::string& architecture,
                                    torch::Device device, const text::Tokenizer& tokenizer,
                                    const std::filesystem::path& checkpoint_dir, const ProbeShape& shape);

}  // namespace kdtext::infer
