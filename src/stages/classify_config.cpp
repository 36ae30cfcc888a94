// kdtext-classify's configuration: JSON form and validation.
#include <string>
#include <vector>

#include "kdtext/stages/classify.h"
#include "kdtext/error.h"

namespace kdtext::stages {

ClassifyConfig default_classify_config() {
  ClassifyConfig c;
  c.data.header = "auto";
  return c;
}

namespace {
void validate_classify(const ClassifyConfig& c) {
  if (c.eval && c.data.label_column.empty()) throw ConfigError("eval: needs a label column (data.label_column)");
  if (c.stream == StreamMode::kOn) {
    const char* why = c.inputs != std::vector<std::string>{"-"} ? "reads standard input alone (inputs: -)"
                      : c.output != "-"                          ? "writes standard output (output: -); a file is "
                                                                   "written whole, atomically"
                      : c.eval                                   ? "does not evaluate (eval needs the whole input)"
                      : !text::one_record_per_line(c.data.format)
                          ? "reads one record per line (format lines or jsonl)"
                          : nullptr;
    if (why) throw ConfigError(std::string("stream: on ") + why);
  }
}
}  // namespace

const FieldTable<ClassifyConfig>& classify_fields() {
  using C = ClassifyConfig;
  static const auto t = FieldTable<C>()
      .field("inputs", &C::inputs, "Input files ('-' or none: standard input)").flag("inputs")
      .field("checkpoint", &C::checkpoint, "Classification checkpoint directory", required("--model DIR"))
      .flag("-m,--model", true)
      .field("output", &C::output, "Output file ('-': standard output)").flag("-o,--output")
      .choice("output_format", &C::output_format, kOutputFormats, "tsv or jsonl").flag("--output-format")
      .field("all_probabilities", &C::all_probabilities, "Print every label's probability").flag("--all-probs")
      .field("top_k", &C::top_k, "Print the k most probable labels", at_least(1)).flag("--top-k")
      .field("logits", &C::logits, "Also print the raw classifier logits").flag("--logits")
      .section("data", &C::data, text::labelled_format_fields())
      .field("batch_size", &C::batch_size, "Texts per batch", at_least(1)).flag("--batch-size")
      .parsed<infer::Precision>(
          "precision", &C::precision, [](const std::string& v, const std::string& k) { return infer::parse_precision(v, k); },
          infer::precision_name,
          "fp32 | bf16 (bfloat16 weights and activations; CPUs with AVX512-BF16, GPUs) | int8 (dynamically "
          "quantized Linear layers, per-channel weight scales; CPU only) | auto (the fastest the model offers on "
          "this machine whose labels match fp32's on 99% of probe rows, measured at load and cached; logged). "
          "An explicit bf16 or int8 slower than fp32 here is warned about")
      .flag("--precision")
      .field("adaptive_threads", &C::adaptive_threads,
             "Use fewer intra-op threads while other processes keep the cores busy (OpenMP threads of two "
             "processes spin against each other); a change is logged")
      .flag("--adaptive-threads")
      .field("max_len", &C::max_len, "Tokens per text (0: the model's maximum)", at_least(0)).flag("--max-len")
      .field("eval", &C::eval, "Compute accuracy, F1 and the confusion matrix against gold labels").flag("--eval")
      .field("metrics", &C::metrics, "Where --eval writes its JSON").flag("--metrics")
      .field("timings", &C::timings, "Write tokenisation time and per-batch latencies (JSON) here").flag("--timings")
      .choice("stream", &C::stream, kStreamModes,
              "on: answer standard input line by line as it arrives (micro-batches, flushed); off: read it whole "
              "first; auto: on when standard input is a pipe or terminal",
              /*unknown_form=*/true)
      .flag("--stream")
      .field("stream_wait_ms", &C::stream_wait_ms, "A micro-batch closes this long after its first line, or when full",
             at_least(0))
      .flag("--stream-wait-ms")
      .section("run", &C::run, cli::runtime_fields())
      .rule([](const C& c, const std::string&) { validate_classify(c); });
  return t;
}

Json to_json(const ClassifyConfig& c) { return classify_fields().to_json(c); }

ClassifyConfig classify_config_from_json(const Json& j) {
  ClassifyConfig c = default_classify_config();
  classify_fields().read(JsonFields(j, ""), c);
  if (c.inputs.empty()) c.inputs = {"-"};
  classify_fields().check(c, "");
  return c;
}

}  // namespace kdtext::stages
