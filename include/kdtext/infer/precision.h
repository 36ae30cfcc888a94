// The precisions the inference engines run in, and how `--precision auto`
// picks one: by measuring the engines at load on the machine that runs them.
//
// Why measured: the fastest precision depends on the CPU, not only on its
// flags. On an AMD EPYC (AVX512-BF16) bf16 runs the teacher 1.9-2.1x faster
// than fp32; on an Intel Xeon with the same flags and no AMX it runs 0.6-0.8x
// (docs/RESULTS.md, "Precision chosen by measurement"). So the engine is built
// in each allowed precision, timed on a few batches of the run's shapes, and
// checked against fp32 for labels; the choice is cached per model, CPU model,
// thread count and shape (precision/ under kdtext's cache, util/paths.h).
// This part is the rule and the cache, without LibTorch (unit-tested with
// injected timings); infer/precision_probe.h measures.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "kdtext/util/json.h"

namespace kdtext::infer {

// kAuto is a request, never an engine's precision.
enum class Precision { kFloat32, kBFloat16, kInt8, kAuto };

// "fp32" | "bf16" | "int8" | "auto" (when `allow_auto`); anything else is a
// ConfigError naming `key`.
Precision parse_precision(const std::string& name, const std::string& key, bool allow_auto = true);
std::string precision_name(Precision p);

// One precision as measured: seconds per batch (the median round over its
// batches) and the share of probe rows whose label equals fp32's.
struct PrecisionMeasurement {
  Precision precision = Precision::kFloat32;
  double seconds = 0;
  double agreement = 1.0;
};

// The bound a precision's labels must keep: the same label as fp32 on at
// least 99% of the probe rows (the bench's bound on real sets, issue 30).
inline constexpr double kAgreementBound = 0.99;
// A reduced precision is chosen only when at least 3% faster than fp32 (a
// smaller gain is within the noise of a short measurement); an explicit one
// more than 3% slower than fp32 is warned about.
inline constexpr double kSpeedMargin = 1.03;

struct PrecisionChoice {
  Precision precision = Precision::kFloat32;
  std::string reason;  // one line: the figures and why
};

// The fastest precision whose labels keep kAgreementBound, when it beats fp32
// by kSpeedMargin; otherwise fp32. `measured` must hold fp32 (a ConfigError
// otherwise, as is a non-positive time).
PrecisionChoice choose_precision(const std::vector<PrecisionMeasurement>& measured);

// For an explicit reduced precision: a warning with the measured ratio when it
// runs slower than fp32 by more than the margin; nothing otherwise (or when
// either was not measured).
std::optional<std::string> precision_warning(Precision requested, const std::vector<PrecisionMeasurement>& measured);

// "fp32 12.10 ms, bf16 6.02 ms (2.01x, labels 100.0%), int8 ..." per batch.
std::string describe_measurements(const std::vector<PrecisionMeasurement>& measured);

// What a measurement depends on: the model (identity of its files), the CPU
// model and flags, the device, threads, batch shape, LibTorch and kdtext.
struct ProbeKey {
  std::string model;   // model_identity() of the checkpoint
  std::string cpu;     // describe(this_cpu())
  std::string device;  // "cpu", "cuda:0"
  int threads = 0;
  int64_t batch_size = 0, tokens = 0;
  std::vector<std::string> candidates;  // the precisions measured
  std::string labels_on;                // "text" (the run's) or "random" (rows)
  std::string libtorch, kdtext;
  Json to_json() const;
};

// A checkpoint's identity without hashing its weights: its config.json and
// kdtext.json (which carries the time it was written) and the size of each
// weights file. Missing files count as empty.
std::string model_identity(const std::filesystem::path& checkpoint_dir);

// <dir>/<fnv1a64 of the key>.json
std::filesystem::path probe_cache_file(const std::filesystem::path& dir, const ProbeKey& key);
// The measurements stored for exactly this key; nothing when the file is
// absent, another key's (a hash collision), or unreadable (logged: the cache
// is rebuilt, never trusted half-read).
std::optional<std::vector<PrecisionMeasurement>> read_probe_cache(const std::filesystem::path& file, const ProbeKey& key);
// Written atomically; a failure to write is logged and otherwise ignored (the
// cache only saves time).
void write_probe_cache(const std::filesystem::path& file, const ProbeKey& key,
                       const std::vector<PrecisionMeasurement>& measured);

}  // namespace kdtext::infer
