#include "kdtext/classifier.h"

#include <torch/torch.h>

#include "kdtext/device/device.h"
#include "kdtext/infer/predict.h"
#include "kdtext/feed/batching.h"
#include "kdtext/error.h"

namespace kdtext {

struct Classifier::Impl {
  infer::LoadedModel model;
  std::vector<std::string> labels;
  ModelFacts facts;
  int64_t batch_size = 32;

  std::vector<Prediction> run(const std::vector<text::Example>& examples, bool with_logits) const {
    const auto encoded = feed::encode_examples(*model.tokenizer, examples, facts.max_len);
    torch::Tensor logits;
    {
      torch::InferenceMode guard;
      logits = infer::predict_logits(*model.engine, encoded, batch_size, nullptr, model.threads.get());
    }
    const auto probs = torch::softmax(logits, -1).contiguous();
    const auto best = probs.argmax(1);
    const auto best_id = best.accessor<int64_t, 1>();
    const int64_t k = probs.size(1);
    std::vector<Prediction> out(examples.size());
    for (size_t i = 0; i < out.size(); ++i) {
      const auto row = static_cast<int64_t>(i);
      const float* p = probs.data_ptr<float>() + row * k;
      Prediction& pred = out[i];
      pred.label_id = best_id[row];
      pred.label = labels[static_cast<size_t>(pred.label_id)];
      pred.probability = p[pred.label_id];
      pred.probabilities.assign(p, p + k);
      if (with_logits) {
        const float* l = logits.data_ptr<float>() + row * k;
        pred.logits.assign(l, l + k);
      }
    }
    return out;
  }
};

Classifier::Classifier(const std::string& checkpoint_dir, const ClassifierOptions& options)
    : impl_(std::make_unique<Impl>()) {
  if (options.batch_size < 1) {
    throw ConfigError("ClassifierOptions.batch_size: must be >= 1, got " + std::to_string(options.batch_size));
  }
  if (options.threads < 0) {
    throw ConfigError("ClassifierOptions.threads: must be >= 0, got " + std::to_string(options.threads));
  }
  const auto precision = infer::parse_precision(options.precision, "ClassifierOptions.precision");
  const torch::Device device = device::resolve_device(options.device);
  if (options.threads > 0) torch::set_num_threads(options.threads);
  // Before the model is loaded: its first reading counts this process as one runnable task.
  auto threads = options.adaptive_threads && device.is_cpu()
                     ? std::make_shared<infer::AdaptiveThreads>(torch::get_num_threads()) : nullptr;
  std::vector<text::Example> sample(options.precision_sample.size());
  for (size_t i = 0; i < sample.size(); ++i) sample[i].text = options.precision_sample[i];
  impl_->model = infer::load_classifier(checkpoint_dir, device, precision, options.batch_size, options.max_len,
                                        sample.empty() ? nullptr : &sample);
  impl_->model.threads = std::move(threads);
  impl_->labels = impl_->model.labels.names();
  impl_->batch_size = options.batch_size;
  ModelFacts& f = impl_->facts;
  const auto& m = impl_->model;
  f.checkpoint = checkpoint_dir;
  f.architecture = m.architecture;
  f.device = device.str();
  f.precision = infer::precision_name(impl_->model.precision);
  f.precision_requested = infer::precision_name(precision);
  if (m.architecture == "bert") {
    const auto& c = m.config;
    f.layers = c.num_hidden_layers;
    f.hidden_size = c.hidden_size;
    f.heads = c.num_attention_heads;
    f.intermediate_size = c.intermediate_size;
    f.vocab_size = c.vocab_size;
  } else {
    const auto& c = m.sentence;
    f.layers = c.arch == model::SentenceArch::kBiLstm ? c.layers : 1;
    f.hidden_size = c.sentence_width();
    f.vocab_size = c.vocab_size;
  }
  f.max_len = infer::checked_max_len(options.max_len, m, "ClassifierOptions.max_len");
  f.parameters = impl_->model.parameters;
}

Classifier::~Classifier() = default;
Classifier::Classifier(Classifier&&) noexcept = default;
Classifier& Classifier::operator=(Classifier&&) noexcept = default;

std::vector<Prediction> Classifier::classify(const std::vector<std::string>& texts, bool with_logits) const {
  std::vector<text::Example> examples(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) examples[i].text = texts[i];
  return impl_->run(examples, with_logits);
}

std::vector<Prediction> Classifier::classify_pairs(const std::vector<std::pair<std::string, std::string>>& pairs,
                                                   bool with_logits) const {
  std::vector<text::Example> examples(pairs.size());
  for (size_t i = 0; i < pairs.size(); ++i) {
    examples[i].text = pairs[i].first;
    examples[i].pair = pairs[i].second;
  }
  return impl_->run(examples, with_logits);
}

const std::vector<std::string>& Classifier::labels() const { return impl_->labels; }
const ModelFacts& Classifier::facts() const { return impl_->facts; }
const infer::LoadedModel& Classifier::model() const { return impl_->model; }

}  // namespace kdtext
