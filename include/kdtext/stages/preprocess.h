// Stage 1: clean an unlabelled corpus, train (or reuse) a tokenizer, and write
// token shards. Output directory layout (see docs/FORMATS.md):
//   config.json       resolved configuration of the run
//   stats.json        corpus statistics
//   metrics.jsonl     progress records
//   tokenizer/        tokenizer.json + model
//   shards/           index.json + shard-NNNNN.kdts
#pragma once

#include <string>
#include <vector>

#include "kdtext/cli/runtime.h"
#include "kdtext/text/cleaner.h"
#include "kdtext/text/tokenizer.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::stages {

struct PreprocessConfig {
  std::vector<std::string> inputs;             // files or directories (UTF-8 text)
  std::string output;                          // output directory
  bool overwrite = false;                      // replace a non-empty output directory
  std::string doc_mode = "line";               // line | paragraph (blank-line separated)
  text::CleanOptions clean;                    // cleaning and filters
  std::string tokenizer;                       // existing tokenizer directory to reuse ("" = train one)
  text::SentencePieceTrainOptions train;       // tokenizer training (when not reusing)
  uint64_t shard_tokens = 64ull << 20;         // tokens per shard before rolling to the next
  int64_t batch_documents = 4096;              // documents cleaned/encoded per parallel batch
  cli::RuntimeOptions run;                     // device, threads, seed, logging
};

const FieldTable<PreprocessConfig>& preprocess_fields();
Json to_json(const PreprocessConfig& c);
// Typed view of a resolved JSON config; validates, throwing ConfigError naming the key.
PreprocessConfig preprocess_config_from_json(const Json& j);

// Runs the stage. Output appears atomically (staged then renamed). Returns
// the statistics written to stats.json.
Json run_preprocess(const PreprocessConfig& config);

}  // namespace kdtext::stages
