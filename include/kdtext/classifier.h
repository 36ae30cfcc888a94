// kdtext's C++ API for deployment: a trained classifier (a student or a
// fine-tuned teacher, any checkpoint with a classification head) loaded once
// and called from a service.
//
//   #include <kdtext/classifier.h>
//   kdtext::Classifier model("runs/student/best", {/*device*/ "cpu", /*precision*/ "int8"});
//   for (const auto& p : model.classify({"a gripping film", "dull and slow"}))
//     std::cout << p.label << " " << p.probability << "\n";
//
// It runs the same inference engine, batching and tokenizer as kdtext-classify
// (infer/engine.h, infer/predict.h): the same labels and probabilities, at the
// same speed. The header needs only the standard library; link kdtext::kdtext
// (find_package(kdtext), see examples/classify_api/).
//
// Thread safety: one Classifier may be shared by any number of threads.
// classify() and classify_pairs() are const and keep no state between calls
// (each call has its own activations); the loaded engine is immutable. The
// intra-op thread count (options.threads) is LibTorch's, process-wide: it is
// set when a Classifier is constructed with threads > 0 (and, with
// adaptive_threads, before each batch).
//
// Errors are kdtext's typed exceptions (kdtext/error.h, both derived from
// std::exception): kdtext::InputError for a missing, corrupt or
// non-classification checkpoint (the message names the file), and
// kdtext::ConfigError for a bad option (the message names it).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kdtext/error.h"  // what it throws: ConfigError, InputError

namespace kdtext {

namespace infer {
struct LoadedModel;
}  // namespace infer

struct ClassifierOptions {
  std::string device = "cpu";      // "cpu", "cuda", "cuda:N" or "auto" (a GPU when there is one)
  // "fp32", "bf16", "int8" (int8: CPU only) or "auto": the fastest this model
  // offers on this machine whose labels keep 99% of fp32's, measured at load
  // at `batch_size` and cached (infer/precision.h); facts().precision says
  // which. An explicit bf16 or int8 slower than fp32 here logs a warning.
  std::string precision = "fp32";
  int threads = 0;                 // intra-op threads, process-wide; 0 leaves LibTorch's setting
  int64_t max_len = 0;             // tokens per input (longer ones are truncated); 0: the model's limit
  int64_t batch_size = 32;         // inputs per forward pass (sorted by length first)
  // Texts like those the model will classify: `auto` (and an explicit bf16 or
  // int8) compares labels with fp32 on the first 1,024 of them; when empty, on
  // random rows of the model's vocabulary, which is more cautious (it rejects
  // int8 more often than real text would).
  std::vector<std::string> precision_sample;
  // CPU: before each batch, run on the cores other processes leave idle (at
  // most `threads`; infer/threads.h), as kdtext-classify does by default.
  bool adaptive_threads = false;
};

struct Prediction {
  std::string label;                // the most probable label
  int64_t label_id = 0;             // its index in Classifier::labels()
  float probability = 0;            // its probability
  std::vector<float> probabilities; // one per label, in labels() order
  std::vector<float> logits;        // one per label; filled only when asked for
};

// What a loaded model is.
struct ModelFacts {
  std::string checkpoint;  // the directory it was loaded from
  std::string architecture;  // "bert" (a transformer), or a "bilstm", "cnn" or "bag" student
  std::string device;      // e.g. "cpu", "cuda:0"
  std::string precision;   // "fp32", "bf16", "int8": the one running (auto resolved)
  std::string precision_requested;  // as asked: also "auto"
  // Transformers: their sizes. Other students: layers (bilstm: LSTM layers;
  // cnn, bag: 1), hidden_size = the sentence vector's width, heads and
  // intermediate_size 0.
  int64_t layers = 0, hidden_size = 0, heads = 0, intermediate_size = 0;
  int64_t vocab_size = 0;
  int64_t max_len = 0;     // tokens per input used (options.max_len or the model's limit)
  int64_t parameters = 0;
};

class Classifier {
 public:
  // Loads the checkpoint directory once (config.json, model.safetensors,
  // tokenizer/, kdtext.json). Throws InputError / ConfigError (see above).
  explicit Classifier(const std::string& checkpoint_dir, const ClassifierOptions& options = {});
  ~Classifier();
  Classifier(Classifier&&) noexcept;
  Classifier& operator=(Classifier&&) noexcept;
  Classifier(const Classifier&) = delete;
  Classifier& operator=(const Classifier&) = delete;

  // One prediction per text, in order. `with_logits` also fills logits.
  std::vector<Prediction> classify(const std::vector<std::string>& texts, bool with_logits = false) const;
  // For models trained on text pairs (premise/hypothesis, question/answer).
  std::vector<Prediction> classify_pairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                                         bool with_logits = false) const;

  // The label names, indexed by Prediction::label_id.
  const std::vector<std::string>& labels() const;
  const ModelFacts& facts() const;

  // For kdtext's own programs (kdtext-classify): the loaded model (engine, tokenizer, labels).
  const infer::LoadedModel& model() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kdtext
