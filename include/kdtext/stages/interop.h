// Hugging Face interoperability: import a transformers BERT directory as a
// kdtext checkpoint, and tokenize text with any tokenizer kdtext reads.
// (Export needs no stage: every kdtext checkpoint directory is also a
// transformers model directory; see docs/FORMATS.md.)
#pragma once

#include <string>
#include <vector>

#include "kdtext/cli/runtime.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::stages {

struct ImportHfConfig {
  std::string source;      // transformers directory: config.json, model.safetensors, vocab.txt, tokenizer_config.json
  std::string output;      // kdtext checkpoint directory
  bool overwrite = false;
  cli::RuntimeOptions run;
};
const FieldTable<ImportHfConfig>& import_hf_fields();
Json to_json(const ImportHfConfig& c);
ImportHfConfig import_hf_config_from_json(const Json& j);
// Writes the checkpoint; returns a summary (architecture, heads, parameters).
Json run_import_hf(const ImportHfConfig& c);

struct TokenizeConfig {
  std::string tokenizer;                 // kdtext tokenizer dir, checkpoint dir, or transformers dir (vocab.txt)
  std::vector<std::string> inputs{"-"};  // text files, one text per line; "-" reads standard input
  std::string output = "-";
  bool pieces = false;                   // print pieces instead of ids
  bool special = false;                  // add [CLS] ... [SEP]
  cli::RuntimeOptions run;
};
const FieldTable<TokenizeConfig>& tokenize_fields();
Json to_json(const TokenizeConfig& c);
TokenizeConfig tokenize_config_from_json(const Json& j);
void run_tokenize(const TokenizeConfig& c);

}  // namespace kdtext::stages
