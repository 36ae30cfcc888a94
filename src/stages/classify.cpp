#include "kdtext/stages/classify.h"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>

#include "classify_output.h"
#include "kdtext/classifier.h"
#include "kdtext/infer/predict.h"
#include "kdtext/util/log.h"
#include "kdtext/feed/batching.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"
#include "kdtext/util/line_batches.h"
#include "kdtext/util/progress.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

namespace {
// Totals over every input, for the log, --timings and --eval.
// The format standard input is read in: auto means plain lines (tsv with --eval).
text::LabelledFormat stdin_format(const ClassifyConfig& c) {
  text::LabelledFormat fmt = c.data;
  if (fmt.format == text::DataFormat::kAuto) fmt.format = c.eval ? text::DataFormat::kTsv : text::DataFormat::kLines;
  return fmt;
}

void classify_data(const ClassifyConfig& c, const infer::LoadedModel& m, int64_t max_len, const std::string& input,
                   const text::LabelledFormat& fmt, text::LabelledData& data, PredictionWriter& writer,
                   ClassifyTotals& totals) {
  if (c.eval) {
    const auto gold = text::encode_labels(data, m.labels, fmt);
    totals.gold.insert(totals.gold.end(), gold.begin(), gold.end());
  }
  totals.skipped += data.skipped;
  const auto tt = std::chrono::steady_clock::now();
  const auto enc = feed::encode_examples(*m.tokenizer, data.examples, max_len);
  totals.tokenize_seconds += seconds_since(tt);
  const auto t0 = std::chrono::steady_clock::now();
  torch::Tensor logits;
  {
    torch::InferenceMode guard;
    logits = infer::predict_logits(*m.engine, enc, c.batch_size, c.timings.empty() ? nullptr : &totals.batch_seconds,
                                   m.threads.get());
  }
  const auto probs = torch::softmax(logits, -1);
  totals.seconds += seconds_since(t0);  // tokenised input to probabilities, as --timings reports it
  const auto predicted = writer.add(input, data, logits, probs);
  totals.texts += enc.size();
  totals.predicted.insert(totals.predicted.end(), predicted.begin(), predicted.end());
}

void classify_input(const ClassifyConfig& c, const infer::LoadedModel& m, int64_t max_len, const std::string& input,
                    PredictionWriter& writer, ClassifyTotals& totals) {
  const auto fmt = input == "-" ? stdin_format(c) : c.data;
  auto data = text::read_labelled(input, fmt, c.eval);
  classify_data(c, m, max_len, input, fmt, data, writer, totals);
}

// Standard input as it arrives: each micro-batch classified, written and
// flushed before the next is read; output in input order.
void classify_stream(const ClassifyConfig& c, const infer::LoadedModel& m, int64_t max_len, PredictionWriter& writer,
                     ClassifyTotals& totals) {
  const auto fmt = stdin_format(c);
  const auto flush = [&] {
    const auto out = writer.take();
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
      throw InputError("standard output: write failed");
    }
  };
  flush();  // the TSV header at once
  read_line_batches(0, c.batch_size, c.stream_wait_ms, [&](const std::string& lines, uint64_t first_line) {
    auto data = text::parse_line_records(lines, "<stdin>", fmt, false, first_line);
    classify_data(c, m, max_len, "-", fmt, data, writer, totals);
    flush();
  });
}

}  // namespace

bool streams_stdin(const ClassifyConfig& c) {
  if (c.stream != StreamMode::kAuto) return c.stream == StreamMode::kOn;
  if (c.inputs != std::vector<std::string>{"-"} || c.output != "-" || c.eval) return false;
  if (!text::one_record_per_line(c.data.format)) return false;
  struct stat st {};
  return ::fstat(0, &st) == 0 && !S_ISREG(st.st_mode);
}

Json run_classify(const ClassifyConfig& c, torch::Device device) {
  check_outputs(c);
  // Before the model is loaded: the first reading counts this process as one runnable task.
  ClassifierOptions options;
  options.device = device.str();
  options.precision = infer::precision_name(c.precision);
  options.batch_size = c.batch_size;
  options.max_len = c.max_len;
  options.adaptive_threads = c.adaptive_threads;
  // A measured precision compares labels on the first input's texts (read once, before the model).
  std::optional<text::LabelledData> first;
  if (infer::measures_precision(c.precision, device) && !streams_stdin(c) && c.inputs.front() != "-") {
    first = text::read_labelled(c.inputs.front(), c.data, c.eval);
    const auto n = std::min<size_t>(first->examples.size(), static_cast<size_t>(infer::kSampleRows));
    for (size_t i = 0; i < n; ++i) options.precision_sample.push_back(first->examples[i].text);
  }
  const Classifier api(c.checkpoint, options);  // the C++ API (kdtext/classifier.h) loads and holds the model
  const auto& m = api.model();
  const int64_t max_len = infer::checked_max_len(c.max_len, m, "max_len");
  PredictionWriter writer(c, m.labels.names());
  ClassifyTotals totals;
  if (streams_stdin(c)) {  // written as it goes
    log::info("reading standard input as a stream: micro-batches of up to ", c.batch_size, " lines, closed ",
              c.stream_wait_ms, " ms after their first line (--stream off reads it whole)");
    classify_stream(c, m, max_len, writer, totals);
  } else {
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      if (i == 0 && first) {
        classify_data(c, m, max_len, c.inputs[0], c.data, *first, writer, totals);
      } else {
        classify_input(c, m, max_len, c.inputs[i], writer, totals);
      }
    }
    if (c.eval) check_evaluable(c, totals);  // before any output is written
    if (c.output == "-") {
      std::cout << writer.text() << std::flush;
    } else {
      write_file_atomic(c.output, writer.text());
    }
  }
  log::info("classified ", totals.texts, " texts in ", log::fixed(totals.seconds, 2), " s (",
            log::fixed(totals.texts / std::max(totals.seconds, 1e-9), 1), " texts/s)",
            totals.skipped ? log::cat(", skipped ", totals.skipped, " bad lines") : std::string());
  if (!c.timings.empty()) write_timings(c, m, totals);
  return c.eval ? write_eval(c, m, totals) : Json();
}

}  // namespace kdtext::stages
