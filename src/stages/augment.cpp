#include "kdtext/stages/augment.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "kdtext/io/checkpoint.h"
#include "kdtext/log.h"
#include "kdtext/util/atomic.h"
#include "kdtext/util/error.h"
#include "kdtext/util/progress.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

Json to_json(const AugmentConfig& c) {
  return Json{{"input", c.input},
              {"teacher", c.teacher},
              {"output", c.output},
              {"overwrite", c.overwrite},
              {"data", text::to_json(c.data)},
              {"augment", augment::to_json(c.augment)},
              {"run", cli::to_json(c.run)}};
}

AugmentConfig augment_config_from_json(const Json& j) {
  AugmentConfig c;
  JsonFields f(j, "");
  f.get("input", c.input);
  f.get("teacher", c.teacher);
  f.get("output", c.output);
  f.get("overwrite", c.overwrite);
  c.data = text::labelled_format_from_json(f.child("data"));
  c.augment = augment::augment_options_from_json(f.child("augment"));
  c.run = cli::runtime_options_from_json(f.child("run"));
  if (c.input.empty()) throw ConfigError("input: required (a labelled file)");
  if (c.teacher.empty()) throw ConfigError("teacher: required (its tokenizer and embeddings find the neighbours)");
  if (c.output.empty()) throw ConfigError("output: required");
  text::validate(c.data, "data");
  return c;
}

namespace {

// The tokenizer's mask piece, checked to come back as the mask id when it
// stands in a text (sentencepiece puts a word-boundary piece before it; a
// lowercasing normaliser would break it).
std::string mask_token(const text::Tokenizer& tok, double mask_prob) {
  const int32_t mask = tok.special_ids().mask;
  const std::string piece = tok.id_to_piece(mask);
  const auto ids = tok.encode(piece);
  if (mask_prob > 0 && std::count(ids.begin(), ids.end(), mask) != 1) {
    throw ConfigError("augment.mask_prob: the teacher's tokenizer does not read '" + piece +
                      "' in a text as its mask token; set --mask-prob 0");
  }
  return piece;
}

Json row(const text::Example& e, const std::string& text, const std::string& pair, const std::string& source) {
  Json j{{"text", text}, {"label", e.label}, {"source", source}};
  if (!e.pair.empty()) j["pair"] = pair;
  return j;
}

}  // namespace

Json run_augment(const AugmentConfig& c) {
  const auto t0 = std::chrono::steady_clock::now();
  if (fs::exists(c.output) && !c.overwrite) {
    throw ConfigError(c.output + ": exists (pass --overwrite to replace it)");
  }
  auto data = text::read_labelled(c.input, c.data, true);
  if (data.examples.empty()) throw InputError(c.input + ": no labelled examples");
  const auto ck = io::read_checkpoint(c.teacher);
  const auto emb = ck.weights.find("bert.embeddings.word_embeddings.weight");
  if (emb == ck.weights.end()) throw InputError(c.teacher + ": no bert.embeddings.word_embeddings.weight");
  const auto& o = c.augment;
  // No copies: the originals alone, as JSON lines (no neighbours needed).
  const auto words = o.copies > 0 ? augment::frequent_words(data.examples, o.vocabulary) : std::vector<std::string>{};
  const augment::WordNeighbours neighbours(words, *ck.tokenizer, emb->second, o.neighbours);
  log::info("augment: ", data.examples.size(), " examples, ", neighbours.size(), " of ", words.size(),
            " words with neighbours in the teacher's embeddings; ", o.copies, " copies each");
  const augment::Augmenter augmenter(o, neighbours, mask_token(*ck.tokenizer, o.mask_prob), c.run.seed);

  AtomicFileWriter out(c.output);
  uint64_t rows = 0;
  for (size_t i = 0; i < data.examples.size(); ++i) {
    const auto& e = data.examples[i];
    const std::string origin = c.input + ":" + std::to_string(e.line) + "#";
    out.write(row(e, e.text, e.pair, origin + "0").dump() + "\n");
    for (int64_t k = 1; k <= o.copies; ++k) {
      const std::string pair = e.pair.empty() ? "" : augmenter.augment(e.pair, 2 * i + 1, k);
      out.write(row(e, augmenter.augment(e.text, 2 * i, k), pair, origin + std::to_string(k)).dump() + "\n");
    }
    rows += 1 + static_cast<uint64_t>(o.copies);
  }
  out.commit();
  const double seconds = seconds_since(t0);
  log::info("wrote ", rows, " rows in ", log::fixed(seconds, 1), " s -> ", c.output);
  return Json{{"examples", data.examples.size()}, {"rows", rows}, {"words", words.size()},
              {"words_with_neighbours", neighbours.size()}, {"skipped_lines", data.skipped}, {"seconds", seconds}};
}

}  // namespace kdtext::stages
