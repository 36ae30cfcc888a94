#include "kdtext/stages/preprocess.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "kdtext/util/atomic.h"
#include "kdtext/log.h"
#include "kdtext/text/corpus.h"
#include "kdtext/text/sample.h"
#include "kdtext/text/shard.h"
#include "kdtext/util/error.h"
#include "kdtext/util/progress.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

Json to_json(const PreprocessConfig& c) {
  return Json{{"inputs", c.inputs},
              {"output", c.output},
              {"overwrite", c.overwrite},
              {"doc_mode", c.doc_mode},
              {"clean", text::to_json(c.clean)},
              {"tokenizer", c.tokenizer},
              {"train", text::to_json(c.train)},
              {"shard_tokens", c.shard_tokens},
              {"batch_documents", c.batch_documents},
              {"run", cli::to_json(c.run)}};
}

PreprocessConfig preprocess_config_from_json(const Json& j) {
  PreprocessConfig c;
  JsonFields f(j, "");
  f.get("inputs", c.inputs);
  f.get("output", c.output);
  f.get("overwrite", c.overwrite);
  f.get("doc_mode", c.doc_mode);
  c.clean = text::clean_options_from_json(f.child("clean"));
  f.get("tokenizer", c.tokenizer);
  c.train = text::spm_options_from_json(f.child("train"));
  f.get("shard_tokens", c.shard_tokens);
  f.get("batch_documents", c.batch_documents);
  c.run = cli::runtime_options_from_json(f.child("run"));

  if (c.inputs.empty()) throw ConfigError("inputs: give at least one input file or directory");
  if (c.output.empty()) throw ConfigError("output: required (--output DIR)");
  text::parse_doc_mode(c.doc_mode, "doc_mode");
  text::validate(c.clean, "clean");
  text::validate(c.train, "train");
  if (c.shard_tokens < 1024) throw ConfigError("shard_tokens: must be >= 1024, got " + std::to_string(c.shard_tokens));
  if (c.batch_documents < 1) throw ConfigError("batch_documents: must be >= 1");
  if (!c.tokenizer.empty() && !fs::exists(fs::path(c.tokenizer) / text::kTokenizerMetaFile)) {
    throw ConfigError("tokenizer: '" + c.tokenizer + "' is not a kdtext tokenizer directory (no " +
                      text::kTokenizerMetaFile + ")");
  }
  return c;
}

namespace {

// Runs `fn(i)` for i in [0, n) on up to `threads` threads, in contiguous blocks.
template <typename Fn>
void parallel_for(size_t n, int threads, Fn&& fn) {
  const size_t t = std::min<size_t>(std::max(1, threads), std::max<size_t>(1, n / 64));
  if (t <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::vector<std::thread> pool;
  std::exception_ptr error;
  std::mutex error_mutex;
  const size_t block = (n + t - 1) / t;
  for (size_t w = 0; w < t; ++w) {
    pool.emplace_back([&, w] {
      try {
        for (size_t i = w * block; i < std::min(n, (w + 1) * block); ++i) fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  if (error) std::rethrow_exception(error);
}

// Reads documents in batches and cleans them in parallel; `sink` receives the
// kept documents in corpus order.
template <typename Sink>
void clean_corpus(text::CorpusReader& reader, text::CorpusCleaner& cleaner, size_t batch, int threads,
                  Progress& progress, Sink&& sink) {
  std::vector<text::Document> docs(batch);
  std::vector<text::Normalized> normalized(batch);
  while (true) {
    size_t n = 0;
    while (n < batch && reader.next(docs[n])) ++n;
    if (n == 0) break;
    parallel_for(n, threads, [&](size_t i) { normalized[i] = cleaner.normalize(docs[i]); });
    for (size_t i = 0; i < n; ++i) {
      if (cleaner.accept(docs[i], normalized[i])) sink(std::move(normalized[i].text));
    }
    progress.update(static_cast<double>(reader.bytes_read()),
                    log::cat(cleaner.stats().documents_kept, " docs kept"));
    if (n < batch) break;
  }
}

}  // namespace

Json run_preprocess(const PreprocessConfig& c) {
  const auto t0 = std::chrono::steady_clock::now();
  const int threads = cli::effective_threads(c.run);
  const auto files = text::expand_inputs(c.inputs);
  const text::DocMode mode = text::parse_doc_mode(c.doc_mode, "doc_mode");

  std::unique_ptr<text::Tokenizer> existing;
  if (!c.tokenizer.empty()) existing = text::Tokenizer::load(c.tokenizer);

  StagedDirectory out(c.output, c.overwrite);
  const fs::path dir = out.path();
  write_file_atomic(dir / "config.json", to_json(c).dump(2) + "\n");
  MetricsLog metrics(dir / "metrics.jsonl");

  log::info("preprocess: ", files.size(), " input file(s), ", text::to_string(mode), " mode, ", threads,
            " thread(s) -> ", out.final_path().string());

  // Pass 1: clean + dedup into a temporary file, keeping a bounded reservoir
  // sample for tokenizer training.
  text::CleanOptions clean = c.clean;
  if (existing) clean.normalizer = existing->normalizer().options();  // encode as the tokenizer expects
  text::CorpusCleaner cleaner(clean);
  const fs::path clean_path = dir / "clean.tmp.txt";
  text::ReservoirSample sample(static_cast<uint64_t>(c.train.sample_documents),
                               static_cast<uint64_t>(c.train.sample_bytes),
                               static_cast<uint64_t>(c.train.max_sentence_bytes), c.run.seed);
  {
    std::ofstream clean_out(clean_path, std::ios::binary);
    if (!clean_out) throw std::runtime_error(clean_path.string() + ": cannot open for writing");
    text::CorpusReader reader(files, mode);
    Progress progress("pass 1/2 clean", static_cast<double>(reader.total_bytes()), "MB", 1e6);
    clean_corpus(reader, cleaner, static_cast<size_t>(c.batch_documents), threads, progress, [&](std::string&& doc) {
      clean_out << doc << '\n';
      if (!existing) sample.offer(doc);
    });
    clean_out.flush();
    if (!clean_out) throw std::runtime_error(clean_path.string() + ": write failed (disk full?)");
    progress.update(static_cast<double>(reader.bytes_read()), "done", true);
  }
  const auto& cs = cleaner.stats();
  metrics.write({{"event", "cleaned"}, {"stats", cs.to_json()}});
  if (cs.documents_kept == 0) {
    throw InputError("no documents left after cleaning (" + std::to_string(cs.documents_read) + " read, " +
                     std::to_string(cs.filtered_too_short) + " too short, " + std::to_string(cs.filtered_too_long) +
                     " too long, " + std::to_string(cs.duplicates_removed) + " duplicates); inputs: " +
                     files.front().string() + (files.size() > 1 ? " ..." : ""));
  }
  log::info("cleaned: ", cs.documents_read, " read, ", cs.documents_kept, " kept, ", cs.duplicates_removed,
            " duplicates, ", cs.filtered_too_short, " too short, ", cs.filtered_too_long, " too long");

  // Tokenizer: reuse or train on the sample.
  const auto t_train = std::chrono::steady_clock::now();
  std::unique_ptr<text::Tokenizer> tokenizer;
  if (existing) {
    tokenizer = std::move(existing);
    log::info("reusing tokenizer ", c.tokenizer, " (", tokenizer->vocab_size(), " pieces, ", tokenizer->fingerprint(),
              ")");
  } else {
    log::info("training ", c.train.model_type, " tokenizer: vocab ", c.train.vocab_size, " on a sample of ",
              sample.documents().size(), " documents (", log::fixed(sample.bytes() / 1e6, 1), " MB)");
    tokenizer = text::SentencePieceTokenizer::train(sample.take(), c.train, clean.normalizer, threads, c.run.seed);
  }
  const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_train).count();
  tokenizer->save(dir / "tokenizer");
  metrics.write({{"event", "tokenizer"}, {"seconds", train_seconds}, {"vocab_size", tokenizer->vocab_size()}});

  // Pass 2: encode the cleaned text into shards.
  text::ShardSetWriter shards(dir / "shards", tokenizer->vocab_size(), c.shard_tokens);
  uint64_t tokens = 0, unknown = 0;
  {
    std::ifstream in(clean_path, std::ios::binary);
    if (!in) throw std::runtime_error(clean_path.string() + ": cannot reopen");
    const size_t batch = static_cast<size_t>(c.batch_documents);
    std::vector<std::string> docs(batch);
    std::vector<std::vector<int32_t>> ids(batch);
    const int32_t unk_id = tokenizer->special_ids().unk;
    Progress progress("pass 2/2 encode", static_cast<double>(cs.bytes_kept + cs.documents_kept), "MB", 1e6);
    double bytes = 0;
    while (true) {
      size_t n = 0;
      while (n < batch && std::getline(in, docs[n])) bytes += static_cast<double>(docs[n++].size() + 1);
      if (n == 0) break;
      parallel_for(n, threads, [&](size_t i) { ids[i] = tokenizer->encode_normalized(docs[i]); });
      for (size_t i = 0; i < n; ++i) {
        tokens += ids[i].size();
        unknown += static_cast<uint64_t>(std::count(ids[i].begin(), ids[i].end(), unk_id));
        shards.add_document(ids[i]);
      }
      progress.update(bytes, log::cat(tokens, " tokens"));
      if (n < batch) break;
    }
    progress.update(bytes, log::cat(tokens, " tokens"), true);
  }
  const Json index = shards.finish();
  fs::remove(clean_path);

  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  Json stats = cs.to_json();
  stats["input_files"] = files.size();
  stats["tokens_written"] = tokens;
  stats["unknown_tokens"] = unknown;
  stats["unknown_token_rate"] = tokens > 0 ? static_cast<double>(unknown) / static_cast<double>(tokens) : 0.0;
  stats["shards"] = index["shards"].size();
  stats["vocab_size"] = tokenizer->vocab_size();
  stats["tokenizer"] = {{"type", tokenizer->type()},
                        {"fingerprint", tokenizer->fingerprint()},
                        {"trained", c.tokenizer.empty()},
                        {"seconds", train_seconds}};
  stats["seconds"] = seconds;
  stats["mb_per_second"] = seconds > 0 ? static_cast<double>(cs.bytes_read) / 1e6 / seconds : 0.0;
  write_file_atomic(dir / "stats.json", stats.dump(2) + "\n");
  metrics.write({{"event", "done"}, {"seconds", seconds}, {"tokens", tokens}});
  out.commit();
  log::info("wrote ", tokens, " tokens in ", index["shards"].size(), " shard(s), unknown-token rate ",
            log::fixed(100.0 * stats["unknown_token_rate"].get<double>(), 4), "%, ", log::fixed(seconds, 1), "s (",
            log::fixed(stats["mb_per_second"].get<double>(), 2), " MB/s) -> ", out.final_path().string());
  return stats;
}

}  // namespace kdtext::stages
