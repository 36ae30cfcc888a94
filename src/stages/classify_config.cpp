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

Json to_json(const ClassifyConfig& c) {
  return Json{{"checkpoint", c.checkpoint},
              {"inputs", c.inputs},
              {"data", text::to_json(c.data)},
              {"output", c.output},
              {"output_format", choice_name(c.output_format, kOutputFormats)},
              {"all_probabilities", c.all_probabilities},
              {"top_k", c.top_k},
              {"logits", c.logits},
              {"batch_size", c.batch_size},
              {"max_len", c.max_len},
              {"precision", infer::precision_name(c.precision)},
              {"adaptive_threads", c.adaptive_threads},
              {"eval", c.eval},
              {"metrics", c.metrics},
              {"timings", c.timings},
              {"stream", choice_name(c.stream, kStreamModes)},
              {"stream_wait_ms", c.stream_wait_ms},
              {"run", cli::to_json(c.run)}};
}

namespace {
// Parsed once; the message names the choices as the flag's help does.
void read_stream_mode(const JsonFields& f, StreamMode& mode) {
  std::string name = choice_name(mode, kStreamModes);
  f.get("stream", name);
  for (const auto& [n, v] : kStreamModes) {
    if (name == n) {
      mode = v;
      return;
    }
  }
  throw ConfigError("stream: unknown '" + name + "' (expected auto, on or off)");
}
}  // namespace

ClassifyConfig classify_config_from_json(const Json& j) {
  ClassifyConfig c = default_classify_config();
  JsonFields f(j, "");
  f.get("checkpoint", c.checkpoint);
  f.get("inputs", c.inputs);
  c.data = text::labelled_format_from_json(f.child("data"));
  f.get("output", c.output);
  f.get_choice("output_format", c.output_format, kOutputFormats);
  f.get("all_probabilities", c.all_probabilities);
  f.get("top_k", c.top_k);
  f.get("logits", c.logits);
  f.get("batch_size", c.batch_size);
  f.get("max_len", c.max_len);
  std::string precision = infer::precision_name(c.precision);
  f.get("precision", precision);
  c.precision = infer::parse_precision(precision, "precision");
  f.get("adaptive_threads", c.adaptive_threads);
  f.get("eval", c.eval);
  f.get("metrics", c.metrics);
  f.get("timings", c.timings);
  read_stream_mode(f, c.stream);
  f.get("stream_wait_ms", c.stream_wait_ms);
  c.run = cli::runtime_options_from_json(f.child("run"));
  if (c.checkpoint.empty()) throw ConfigError("checkpoint: required (--model DIR)");
  if (c.inputs.empty()) c.inputs = {"-"};
  text::validate(c.data, "data");
  if (c.top_k < 1) throw ConfigError("top_k: must be >= 1");
  if (c.batch_size < 1) throw ConfigError("batch_size: must be >= 1");
  if (c.max_len < 0) throw ConfigError("max_len: must be >= 0");
  if (c.eval && c.data.label_column.empty()) throw ConfigError("eval: needs a label column (data.label_column)");
  if (c.stream_wait_ms < 0) throw ConfigError("stream_wait_ms: must be >= 0");
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
  return c;
}

}  // namespace kdtext::stages
