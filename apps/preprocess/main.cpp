// kdtext-preprocess: clean a corpus, train or reuse a tokenizer, write token shards.
#include "kdtext/cli/app.h"
#include "kdtext/stages/preprocess.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  stages::PreprocessConfig defaults;
  cli::StageApp app("preprocess",
                    "Clean and de-duplicate an unlabelled corpus, train a sentencepiece tokenizer "
                    "(or reuse one) and write token-id shards for pretraining.",
                    "kdtext-preprocess data/corpus --output runs/prep --vocab-size 2000",
                    stages::to_json(defaults));
  app.positional("inputs", "inputs", "Input text files or directories (UTF-8)", true);
  app.option("-o,--output", "output", "Output directory", true);
  app.flag("overwrite", "overwrite", "Replace a non-empty output directory");
  app.option("--doc-mode", "doc_mode", "line: one document per line; paragraph: blank-line separated");
  app.flag("nfkc", "clean.nfkc", "Unicode NFKC normalisation");
  app.flag("lowercase", "clean.lowercase", "Lowercase the text");
  app.flag("remove-control", "clean.remove_control", "Remove control and format characters");
  app.flag("dedup", "clean.dedup", "Drop exact duplicate documents");
  app.option("--invalid-utf8", "clean.invalid_utf8", "error, repair (U+FFFD) or skip");
  app.option("--min-chars", "clean.min_chars", "Drop documents with fewer code points");
  app.option("--max-chars", "clean.max_chars", "Drop documents with more code points");
  app.option("--tokenizer", "tokenizer", "Reuse this tokenizer directory instead of training one");
  app.option("--model-type", "train.model_type", "Tokenizer model: unigram or bpe");
  app.option("--vocab-size", "train.vocab_size", "Tokenizer vocabulary size");
  app.option("--character-coverage", "train.character_coverage", "Character coverage (0.9995 for Chinese)");
  app.option("--sample-documents", "train.sample_documents", "Most documents sampled for tokenizer training");
  app.option("--sample-bytes", "train.sample_bytes", "Most bytes sampled for tokenizer training");
  app.flag("byte-fallback", "train.byte_fallback", "Encode unknown characters as bytes");
  app.option("--shard-tokens", "shard_tokens", "Tokens per shard");
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_preprocess(stages::preprocess_config_from_json(ctx.config));
  });
}
