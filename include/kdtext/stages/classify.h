// Stage 6: classify text with any classification checkpoint (teacher or
// student), and evaluate against gold labels.
#pragma once

#include <string>
#include <vector>

#include "kdtext/cli/runtime.h"
#include "kdtext/infer/engine.h"
#include "kdtext/text/labelled.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::stages {

enum class OutputFormat { kTsv, kJsonl };
inline constexpr std::pair<const char*, OutputFormat> kOutputFormats[] = {{"tsv", OutputFormat::kTsv},
                                                                          {"jsonl", OutputFormat::kJsonl}};

// Standard input read as a stream: on, off, or auto (on for a pipe or terminal).
enum class StreamMode { kAuto, kOn, kOff };
inline constexpr std::pair<const char*, StreamMode> kStreamModes[] = {
    {"auto", StreamMode::kAuto}, {"on", StreamMode::kOn}, {"off", StreamMode::kOff}};

struct ClassifyConfig {
  std::string checkpoint;                    // classification checkpoint directory
  std::vector<std::string> inputs{"-"};      // files; "-" reads standard input
  text::LabelledFormat data;                 // input format (auto: by extension; stdin: plain lines)
  std::string output = "-";                  // "-" = standard output
  OutputFormat output_format = OutputFormat::kTsv;  // tsv | jsonl
  bool all_probabilities = false;            // every label's probability
  int64_t top_k = 1;                         // the k most probable labels
  bool logits = false;                       // also print the raw classifier logits
  int64_t batch_size = 32;
  int64_t max_len = 0;                       // 0: the model's max_position_embeddings
  infer::Precision precision = infer::Precision::kFloat32;  // fp32 | bf16 | int8 (CPU only): see infer/engine.h
  bool adaptive_threads = true;              // fewer threads while other processes keep cores busy (infer/threads.h)
  bool eval = false;                         // compute metrics against the gold labels
  std::string metrics = "";                  // metrics JSON path ("" = <output>.metrics.json or metrics.json)
  std::string timings = "";                  // write per-batch latencies (tokenised input to probabilities) here
  StreamMode stream = StreamMode::kAuto;     // on: answer standard input line by line as it arrives (micro-
                                             // batches); off: read it whole; auto: on for a pipe or terminal
  int64_t stream_wait_ms = 10;               // a micro-batch closes this long after its first line (or when full)
  cli::RuntimeOptions run;
};

ClassifyConfig default_classify_config();
const FieldTable<ClassifyConfig>& classify_fields();
Json to_json(const ClassifyConfig& c);
ClassifyConfig classify_config_from_json(const Json& j);

// Whether standard input is read as a stream: c.stream, with "auto" decided
// by what standard input is (a pipe, terminal or socket: yes; a file: no).
bool streams_stdin(const ClassifyConfig& c);

// Classifies every input; returns the metrics JSON when eval is set (else null).
Json run_classify(const ClassifyConfig& config, torch::Device device);

}  // namespace kdtext::stages
