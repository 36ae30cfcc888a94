// kdtext-classify: label text with a classification checkpoint, optionally evaluate.
#include "kdtext/cli/app.h"
#include "kdtext/stages/classify.h"

int main(int argc, char** argv) {
  using namespace kdtext;
  cli::StageApp app("classify",
                    "Classify text with a kdtext classification checkpoint (teacher or student). Reads files or "
                    "standard input; writes TSV or JSON lines in input order; --eval scores against gold labels.",
                    "echo 'the striker scored twice' | kdtext-classify --model runs/teacher/best",
                    stages::to_json(stages::default_classify_config()));
  app.positional("inputs", "inputs", "Input files ('-' or none: standard input)");
  app.option("-m,--model", "checkpoint", "Classification checkpoint directory", true);
  app.option("-o,--output", "output", "Output file ('-': standard output)");
  app.option("--output-format", "output_format", "tsv or jsonl");
  app.flag("all-probs", "all_probabilities", "Print every label's probability");
  app.option("--top-k", "top_k", "Print the k most probable labels");
  app.flag("logits", "logits", "Also print the raw classifier logits");
  cli::add_data_format_flags(app);
  app.option("--batch-size", "batch_size", "Texts per batch");
  app.option("--precision", "precision",
             "fp32 | bf16 (bfloat16 weights and activations; CPUs with AVX512-BF16, GPUs) | int8 (dynamically "
             "quantized Linear layers, per-channel weight scales; CPU only)");
  app.flag("adaptive-threads", "adaptive_threads",
           "Use fewer intra-op threads while other processes keep the cores busy (OpenMP threads of two processes "
           "spin against each other); a change is logged");
  app.option("--max-len", "max_len", "Tokens per text (0: the model's maximum)");
  app.flag("eval", "eval", "Compute accuracy, F1 and the confusion matrix against gold labels");
  app.option("--metrics", "metrics", "Where --eval writes its JSON");
  app.option("--timings", "timings", "Write tokenisation time and per-batch latencies (JSON) here");
  app.option("--stream", "stream",
             "on: answer standard input line by line as it arrives (micro-batches, flushed); off: read it whole "
             "first; auto: on when standard input is a pipe or terminal");
  app.option("--stream-wait-ms", "stream_wait_ms", "A micro-batch closes this long after its first line, or when full");
  return app.run(argc, argv, [](const cli::RunContext& ctx) {
    stages::run_classify(stages::classify_config_from_json(ctx.config), ctx.device);
  });
}
