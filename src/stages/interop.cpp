#include "kdtext/stages/interop.h"

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "kdtext/io/checkpoint.h"
#include "kdtext/io/hf.h"
#include "kdtext/io/safetensors.h"
#include "kdtext/util/log.h"
#include "kdtext/model/bert.h"
#include "kdtext/text/labelled.h"
#include "kdtext/text/wordpiece.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

// ------------------------------------------------------------ import-hf

const FieldTable<ImportHfConfig>& import_hf_fields() {
  using I = ImportHfConfig;
  static const auto t = FieldTable<I>()
      .field("source", &I::source, "Hugging Face model directory", required("a Hugging Face model directory"))
      .flag("source", true)
      .field("output", &I::output, "kdtext checkpoint directory to write", required()).flag("output", true)
      .field("overwrite", &I::overwrite, "Replace an existing output directory").flag("--overwrite")
      .section("run", &I::run, cli::runtime_fields());
  return t;
}

Json to_json(const ImportHfConfig& c) { return import_hf_fields().to_json(c); }
ImportHfConfig import_hf_config_from_json(const Json& j) { return import_hf_fields().from_json(j); }

Json run_import_hf(const ImportHfConfig& c) {
  const fs::path src(c.source);
  auto [config, architecture] = io::read_hf_config(src, c.source);
  const fs::path weights_path = src / "model.safetensors";
  std::vector<std::string> dropped;
  const io::TensorMap weights = io::read_hf_weights(src, config, c.source, dropped);
  const model::Heads heads = io::heads_of_weights(weights);
  if (heads == model::Heads::kClassifier && config.labels.empty()) {
    // transformers writes id2label for every classifier; a bare num_labels means LABEL_0, LABEL_1, ...
    const int64_t n = weights.at("classifier.weight").size(0);
    const Json hf = read_json_file(src / "config.json");
    if (auto it = hf.find("num_labels"); it != hf.end() && !(it->is_number_integer() && it->get<int64_t>() == n)) {
      throw InputError((src / "config.json").string() + ": num_labels " + it->dump() + ", but classifier.weight has " +
                       std::to_string(n) + " rows");
    }
    for (int64_t i = 0; i < n; ++i) config.labels.push_back("LABEL_" + std::to_string(i));
  }
  if (heads != model::Heads::kClassifier) config.labels.clear();
  auto tokenizer = text::WordPieceTokenizer::from_hf_dir(src);
  if (tokenizer->vocab_size() != config.vocab_size) {
    const auto file = fs::exists(src / "vocab.txt") ? src / "vocab.txt" : src / "tokenizer.json";
    throw InputError(file.string() + ": " + std::to_string(tokenizer->vocab_size()) +
                     " pieces, but config.json says vocab_size " + std::to_string(config.vocab_size));
  }

  model::Bert m(config, heads);
  io::LoadRules rules;
  if (!weights.count("bert.pooler.dense.weight") && heads != model::Heads::kClassifier) {
    rules.allow_missing_prefixes.push_back("bert.pooler.");  // saved without a pooler; kept as initialised
    log::warn(c.source + ": no pooler weights; the pooler starts as initialised (fine-tuning trains it)");
  }
  const fs::path weights_file = fs::exists(weights_path) ? weights_path : src / "pytorch_model.bin";
  io::load_weights(*m, weights, weights_file.string(), rules);
  const auto params = m->parameter_count();
  Json summary{{"source", fs::absolute(src).string()},
               {"architecture", architecture},
               {"heads", heads == model::Heads::kClassifier ? "classifier"
                         : heads == model::Heads::kMaskedLM ? "masked-lm"
                                                            : "none"},
               {"layers", config.num_hidden_layers},
               {"hidden", config.hidden_size},
               {"parameters", params.total},
               {"tokenizer", tokenizer->fingerprint()},
               {"dropped", dropped}};
  StagedDirectory out(c.output, c.overwrite);
  io::write_checkpoint_files(out.path(), *m, *tokenizer, io::CheckpointInfo{"import-hf", summary});
  out.commit();
  log::info("imported ", architecture, " (", config.num_hidden_layers, " layers x ", config.hidden_size, ", ",
            params.total, " parameters, ", tokenizer->vocab_size(), " WordPiece pieces) -> ",
            out.final_path().string());
  return summary;
}

// ------------------------------------------------------------ tokenize

const FieldTable<TokenizeConfig>& tokenize_fields() {
  using T = TokenizeConfig;
  static const auto t = FieldTable<T>()
      .field("inputs", &T::inputs, "Text files, one text per line ('-' or none: standard input)").flag("inputs")
      .field("tokenizer", &T::tokenizer, "Tokenizer, checkpoint or Hugging Face directory", required())
      .flag("-t,--tokenizer", true)
      .field("output", &T::output, "Output file ('-': standard output)").flag("-o,--output")
      .field("pieces", &T::pieces, "Print pieces instead of ids").flag("--pieces")
      .field("special", &T::special, "Add [CLS] and [SEP]").flag("--special")
      .section("run", &T::run, cli::runtime_fields());
  return t;
}

Json to_json(const TokenizeConfig& c) { return tokenize_fields().to_json(c); }
TokenizeConfig tokenize_config_from_json(const Json& j) {
  TokenizeConfig c = tokenize_fields().from_json(j);
  if (c.inputs.empty()) c.inputs = {"-"};
  return c;
}

void run_tokenize(const TokenizeConfig& c) {
  const auto tok = text::load_any_tokenizer(c.tokenizer);
  const auto sp = tok->special_ids();
  std::ostringstream out;
  const auto process = [&](std::istream& in, const std::string& source) {
    std::string line;
    uint64_t n = 0;
    while (std::getline(in, line)) {
      text::check_text_encoding(line, source, ++n);  // NUL refused, as by every reader of text
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto ids = text::encode_long(*tok, line);  // a line of megabytes a piece at a time
      if (c.special) {
        ids.insert(ids.begin(), sp.cls);
        ids.push_back(sp.sep);
      }
      for (size_t i = 0; i < ids.size(); ++i) {
        if (i) out << ' ';
        if (c.pieces) out << tok->id_to_piece(ids[i]);
        else out << ids[i];
      }
      out << '\n';
    }
  };
  for (const auto& input : c.inputs) {
    if (input == "-") {
      process(std::cin, "<stdin>");
    } else {
      std::ifstream in(input, std::ios::binary);
      if (!in) throw InputError(input + ": cannot open");
      process(in, input);
    }
  }
  if (c.output == "-") std::cout << out.str() << std::flush;
  else write_file_atomic(c.output, out.str());
}

}  // namespace kdtext::stages
