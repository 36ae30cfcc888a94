#include "kdtext/stages/preprocess.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "kdtext/util/log.h"
#include "kdtext/text/corpus.h"
#include "kdtext/text/pipeline.h"
#include "kdtext/text/sample.h"
#include "kdtext/text/shard.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"
#include "kdtext/util/progress.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

const FieldTable<PreprocessConfig>& preprocess_fields() {
  using P = PreprocessConfig;
  static const auto t = FieldTable<P>()
      .field("inputs", &P::inputs, "Input text files or directories (UTF-8)").flag("inputs", true)
      .field("output", &P::output, "Output directory", required("--output DIR")).flag("-o,--output", true)
      .field("overwrite", &P::overwrite, "Replace a non-empty output directory").flag("--overwrite")
      .field("doc_mode", &P::doc_mode, "line: one document per line; paragraph: blank-line separated")
      .flag("--doc-mode")
      .section("clean", &P::clean, text::clean_fields())
      .field("tokenizer", &P::tokenizer, "Reuse this tokenizer directory instead of training one").flag("--tokenizer")
      .section("train", &P::train, text::spm_fields())
      .field("shard_tokens", &P::shard_tokens, "Tokens per shard", at_least(1024)).flag("--shard-tokens")
      .field("batch_documents", &P::batch_documents, "Documents cleaned and encoded per parallel batch", at_least(1))
      .section("run", &P::run, cli::runtime_fields())
      .rule([](const P& c, const std::string&) {
        if (c.inputs.empty()) throw ConfigError("inputs: give at least one input file or directory");
        text::parse_doc_mode(c.doc_mode, "doc_mode");
        if (!c.tokenizer.empty() && !fs::exists(fs::path(c.tokenizer) / text::kTokenizerMetaFile) &&
            !fs::exists(fs::path(c.tokenizer) / "tokenizer" / text::kTokenizerMetaFile)) {
          throw ConfigError("tokenizer: '" + c.tokenizer + "' is neither a kdtext tokenizer directory (no " +
                            text::kTokenizerMetaFile + ") nor a checkpoint holding one (no tokenizer/" +
                            text::kTokenizerMetaFile + ")");
        }
      });
  return t;
}

Json to_json(const PreprocessConfig& c) { return preprocess_fields().to_json(c); }
PreprocessConfig preprocess_config_from_json(const Json& j) {
  static const PreprocessConfig defaults;  // not a temporary: GCC 12 warns wrongly (maybe-uninitialized) on one
  return preprocess_fields().from_json(j, defaults);
}

namespace {

// Pass 1: clean + dedup into `cleaned` (one document per line), offering each
// kept document to the tokenizer-training sample when one is being trained.
void clean_pass(const PreprocessConfig& c, const std::vector<fs::path>& files, text::DocMode mode, int threads,
                text::CorpusCleaner& cleaner, text::ReservoirSample* sample, const fs::path& cleaned) {
  AtomicFileWriter clean_out(cleaned);
  text::CorpusReader reader(files, mode);
  Progress progress("pass 1/2 clean", static_cast<double>(reader.total_bytes()), "MB", 1e6);
  text::clean_corpus(reader, cleaner, static_cast<size_t>(c.batch_documents), threads, progress, [&](std::string&& doc) {
    doc.push_back('\n');
    clean_out.write(doc);
    doc.pop_back();
    if (sample) sample->offer(doc);
  });
  clean_out.commit();  // a failed write (disk full, ulimit -f) is an error naming the file
  progress.update(static_cast<double>(reader.bytes_read()), "done", true);
  const auto& cs = cleaner.stats();
  if (cs.documents_kept == 0) {
    throw InputError("no documents left after cleaning (" + std::to_string(cs.documents_read) + " read, " +
                     std::to_string(cs.filtered_too_short) + " too short, " + std::to_string(cs.filtered_too_long) +
                     " too long, " + std::to_string(cs.duplicates_removed) + " duplicates); inputs: " +
                     files.front().string() + (files.size() > 1 ? " ..." : ""));
  }
  log::info("cleaned: ", cs.documents_read, " read, ", cs.documents_kept, " kept, ", cs.duplicates_removed,
            " duplicates, ", cs.filtered_too_short, " too short, ", cs.filtered_too_long, " too long");
}

// The existing tokenizer, or one trained on the sample.
std::unique_ptr<text::Tokenizer> make_tokenizer(const PreprocessConfig& c, std::unique_ptr<text::Tokenizer> existing,
                                                text::ReservoirSample& sample, const text::NormalizerOptions& norm,
                                                int threads) {
  if (existing) {
    log::info("reusing tokenizer ", c.tokenizer, " (", existing->vocab_size(), " pieces, ", existing->fingerprint(), ")");
    return existing;
  }
  log::info("training ", c.train.model_type, " tokenizer: vocab ", c.train.vocab_size, " on a sample of ",
            sample.documents().size(), " documents (", log::fixed(sample.bytes() / 1e6, 1), " MB)");
  return text::SentencePieceTokenizer::train(sample.take(), c.train, norm, threads, c.run.seed);
}

Json run_stats(const PreprocessConfig& c, const text::CleanStats& cs, size_t files, const text::EncodeCounts& n,
               const Json& index, const text::Tokenizer& tokenizer, double train_seconds, double seconds) {
  Json stats = cs.to_json();
  stats["input_files"] = files;
  stats["tokens_written"] = n.tokens;
  stats["unknown_tokens"] = n.unknown;
  stats["unknown_token_rate"] = n.tokens > 0 ? static_cast<double>(n.unknown) / static_cast<double>(n.tokens) : 0.0;
  stats["shards"] = index["shards"].size();
  stats["vocab_size"] = tokenizer.vocab_size();
  stats["tokenizer"] = {{"type", tokenizer.type()},
                        {"fingerprint", tokenizer.fingerprint()},
                        {"trained", c.tokenizer.empty()},
                        {"seconds", train_seconds}};
  stats["seconds"] = seconds;
  stats["mb_per_second"] = seconds > 0 ? static_cast<double>(cs.bytes_read) / 1e6 / seconds : 0.0;
  return stats;
}

}  // namespace

Json run_preprocess(const PreprocessConfig& c) {
  const auto t0 = std::chrono::steady_clock::now();
  const int threads = cli::effective_threads(c.run);
  const auto files = text::expand_inputs(c.inputs);
  const text::DocMode mode = text::parse_doc_mode(c.doc_mode, "doc_mode");
  std::unique_ptr<text::Tokenizer> existing;
  if (!c.tokenizer.empty()) {  // a tokenizer directory, or a checkpoint's (the teacher's, for general distillation)
    const fs::path dir(c.tokenizer);
    existing = text::Tokenizer::load(fs::exists(dir / text::kTokenizerMetaFile) ? dir : dir / "tokenizer");
  }

  StagedDirectory out(c.output, c.overwrite);
  const fs::path dir = out.path();
  write_file_atomic(dir / "config.json", to_json(c).dump(2) + "\n");
  MetricsLog metrics(dir / "metrics.jsonl");
  log::info("preprocess: ", files.size(), " input file(s), ", text::to_string(mode), " mode, ", threads,
            " thread(s) -> ", out.final_path().string());

  text::CleanOptions clean = c.clean;
  if (existing) clean.normalizer = existing->normalizer().options();  // encode as the tokenizer expects
  text::CorpusCleaner cleaner(clean);
  text::ReservoirSample sample(static_cast<uint64_t>(c.train.sample_documents),
                               static_cast<uint64_t>(c.train.sample_bytes),
                               static_cast<uint64_t>(c.train.max_sentence_bytes), c.run.seed);
  const fs::path clean_path = dir / "clean.tmp.txt";
  clean_pass(c, files, mode, threads, cleaner, existing ? nullptr : &sample, clean_path);
  const auto& cs = cleaner.stats();
  metrics.write({{"event", "cleaned"}, {"stats", cs.to_json()}});

  const auto t_train = std::chrono::steady_clock::now();
  const auto tokenizer = make_tokenizer(c, std::move(existing), sample, clean.normalizer, threads);
  const double train_seconds = seconds_since(t_train);
  tokenizer->save(dir / "tokenizer");
  metrics.write({{"event", "tokenizer"}, {"seconds", train_seconds}, {"vocab_size", tokenizer->vocab_size()}});

  text::ShardSetWriter shards(dir / "shards", tokenizer->vocab_size(), c.shard_tokens);
  const auto counts = text::encode_lines_to_shards(clean_path, *tokenizer, shards, static_cast<size_t>(c.batch_documents),
                                                   threads, static_cast<double>(cs.bytes_kept + cs.documents_kept));
  const Json index = shards.finish();
  fs::remove(clean_path);

  const double seconds = seconds_since(t0);
  const Json stats = run_stats(c, cs, files.size(), counts, index, *tokenizer, train_seconds, seconds);
  write_file_atomic(dir / "stats.json", stats.dump(2) + "\n");
  metrics.write({{"event", "done"}, {"seconds", seconds}, {"tokens", counts.tokens}});
  out.commit();
  log::info("wrote ", counts.tokens, " tokens in ", index["shards"].size(), " shard(s), unknown-token rate ",
            log::fixed(100.0 * stats["unknown_token_rate"].get<double>(), 4), "%, ", log::fixed(seconds, 1), "s (",
            log::fixed(stats["mb_per_second"].get<double>(), 2), " MB/s) -> ", out.final_path().string());
  return stats;
}

}  // namespace kdtext::stages
