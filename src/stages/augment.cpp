#include "kdtext/stages/augment.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "kdtext/io/checkpoint.h"
#include "kdtext/util/log.h"
#include "kdtext/util/atomic.h"
#include "kdtext/util/memory.h"
#include "kdtext/util/signals.h"
#include "kdtext/error.h"
#include "kdtext/util/progress.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

const FieldTable<AugmentConfig>& augment_config_fields() {
  using A = AugmentConfig;
  static const auto t = FieldTable<A>()
      .field("input", &A::input, "Labelled file (tsv, csv or jsonl)", required("a labelled file")).flag("input", true)
      .field("teacher", &A::teacher, "Checkpoint whose tokenizer and input embeddings find the neighbours",
             required("its tokenizer and embeddings find the neighbours"))
      .flag("--teacher", true)
      .field("mlm", &A::mlm,
             "Checkpoint with a masked-LM head whose predictions in context replace single-piece words "
             "(default: the teacher when it has one; none: embedding neighbours only)")
      .flag("--mlm")
      .field("output", &A::output, "Output file (JSON lines)", required()).flag("-o,--output", true)
      .field("overwrite", &A::overwrite, "Replace an existing output file").flag("--overwrite")
      .section("data", &A::data, text::labelled_format_fields())
      .section("augment", &A::augment, augment::augment_fields())
      .section("run", &A::run, cli::runtime_fields());
  return t;
}

Json to_json(const AugmentConfig& c) { return augment_config_fields().to_json(c); }
AugmentConfig augment_config_from_json(const Json& j) { return augment_config_fields().from_json(j); }

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

// The masked-LM that proposes candidates in context, or null: c.mlm names
// it, or (when empty) the teacher serves when it carries a masked-LM head.
std::unique_ptr<augment::MaskedLmCandidates> masked_lm(const AugmentConfig& c, io::Checkpoint& teacher,
                                                       io::Checkpoint& own, c10::Device device) {
  if (c.augment.copies == 0 || c.mlm == "none") return nullptr;
  io::Checkpoint* ck = &teacher;
  if (!c.mlm.empty()) {
    own = io::read_checkpoint(c.mlm);
    ck = &own;
    if (own.heads != model::Heads::kMaskedLM) {
      throw InputError(c.mlm + ": has no masked-LM head (mlm: a checkpoint from kdtext-pretrain or an imported "
                       "BertForMaskedLM; \"none\" for embedding neighbours only)");
    }
  } else if (teacher.heads != model::Heads::kMaskedLM) {
    log::info("augment: ", c.teacher, " has no masked-LM head: every replacement comes from embedding neighbours "
              "(--mlm names a checkpoint with one)");
    return nullptr;
  }
  model::Bert model(ck->config, ck->heads);
  io::load_weights(*model, ck->weights, ck->dir.string());
  log::info("augment: single-piece words replaced by the masked-LM predictions of ", ck->dir.string(), " on ",
            device.str(), ", the others by embedding neighbours");
  return std::make_unique<augment::MaskedLmCandidates>(model, *ck->tokenizer, device, c.augment.neighbours,
                                                       c.augment.max_len);
}

Json row(const text::Example& e, const std::string& text, const std::string& pair, const std::string& source) {
  Json j{{"text", text}, {"label", e.label}, {"source", source}};
  if (!e.pair.empty()) j["pair"] = pair;
  return j;
}

}  // namespace

namespace {
// The output is about (copies + 1) times the input as JSON lines: refused up
// front, naming --copies, when the disk holding it has no room for that.
void check_disk_space(const AugmentConfig& c, const text::LabelledData& data) {
  double input_bytes = 0;
  for (const auto& e : data.examples) input_bytes += static_cast<double>(e.text.size() + e.pair.size() + e.label.size() + 64);
  const double need = input_bytes * static_cast<double>(c.augment.copies + 1);
  const fs::path dir = fs::absolute(write_target(c.output).path).parent_path();
  std::error_code ec;
  const auto space = fs::space(dir, ec);
  if (ec) return;
  if (need > static_cast<double>(space.available)) {
    throw ConfigError("augment.copies: " + std::to_string(c.augment.copies) + " copies of " +
                      std::to_string(data.examples.size()) + " examples need about " + human_bytes(need) + " in " +
                      dir.string() + ", which has " + human_bytes(static_cast<double>(space.available)) +
                      " free; lower --copies");
  }
}
}  // namespace

Json run_augment(const AugmentConfig& c, c10::Device device) {
  const auto t0 = std::chrono::steady_clock::now();
  if (fs::exists(c.output) && !c.overwrite) {
    throw ConfigError(c.output + ": exists (pass --overwrite to replace it)");
  }
  auto data = text::read_labelled(c.input, c.data, true);
  if (data.examples.empty()) throw InputError(c.input + ": no labelled examples");
  auto ck = io::read_checkpoint(c.teacher);
  const auto emb = ck.weights.find("bert.embeddings.word_embeddings.weight");
  if (emb == ck.weights.end()) throw InputError(c.teacher + ": no bert.embeddings.word_embeddings.weight");
  const auto& o = c.augment;
  // No copies: the originals alone, as JSON lines (no neighbours needed).
  const auto words = o.copies > 0 ? augment::frequent_words(data.examples, o.vocabulary) : std::vector<std::string>{};
  const augment::WordNeighbours neighbours(words, *ck.tokenizer, emb->second, o.neighbours);
  log::info("augment: ", data.examples.size(), " examples, ", neighbours.size(), " of ", words.size(),
            " words with neighbours in the teacher's embeddings; ", o.copies, " copies each");
  const augment::Augmenter augmenter(o, neighbours, mask_token(*ck.tokenizer, o.mask_prob), c.run.seed);
  io::Checkpoint mlm_checkpoint;
  const auto mlm = masked_lm(c, ck, mlm_checkpoint, device);
  uint64_t in_context = 0;  // words given candidates by the masked-LM
  const auto candidates = [&](const std::string& text) {
    if (!mlm) return std::vector<std::vector<std::string>>{};
    auto lists = mlm->of(augment::split_words(text));
    for (const auto& l : lists) in_context += !l.empty();
    return lists;
  };

  check_disk_space(c, data);
  const StopSignalScope signals;  // SIGINT/SIGTERM: stop, and the temporary file goes with the writer
  AtomicFileWriter out(c.output);
  uint64_t rows = 0;
  Progress progress("augment", static_cast<double>(data.examples.size()), "examples");
  for (size_t i = 0; i < data.examples.size(); ++i) {
    if (const int sig = StopSignalScope::received()) {
      throw Interrupted(sig, "augment: stopped by signal " + std::to_string(sig) + " after " + std::to_string(i) +
                                 " examples; nothing written to " + c.output);
    }
    progress.update(static_cast<double>(i));
    const auto& e = data.examples[i];
    const std::string origin = c.input + ":" + std::to_string(e.line) + "#";
    out.write(row(e, e.text, e.pair, origin + "0").dump() + "\n");
    const auto text_candidates = o.copies > 0 ? candidates(e.text) : std::vector<std::vector<std::string>>{};
    const auto pair_candidates = o.copies > 0 && !e.pair.empty() ? candidates(e.pair)
                                                                 : std::vector<std::vector<std::string>>{};
    for (int64_t k = 1; k <= o.copies; ++k) {
      const std::string pair = e.pair.empty() ? "" : augmenter.augment(e.pair, 2 * i + 1, k, pair_candidates);
      out.write(row(e, augmenter.augment(e.text, 2 * i, k, text_candidates), pair, origin + std::to_string(k)).dump() +
                "\n");
    }
    rows += 1 + static_cast<uint64_t>(o.copies);
  }
  progress.update(static_cast<double>(data.examples.size()), "", true);
  out.commit();
  const double seconds = seconds_since(t0);
  log::info("wrote ", rows, " rows in ", log::fixed(seconds, 1), " s -> ", c.output);
  return Json{{"examples", data.examples.size()}, {"rows", rows}, {"words", words.size()},
              {"words_with_neighbours", neighbours.size()},
              {"masked_lm", mlm ? (c.mlm.empty() ? c.teacher : c.mlm) : ""}, {"words_in_context", in_context},
              {"skipped_lines", data.skipped}, {"seconds", seconds}};
}

}  // namespace kdtext::stages
