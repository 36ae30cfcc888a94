#include "kdtext/stages/finetune.h"

#include <cmath>
#include <filesystem>
#include <random>

#include "kdtext/eval/metrics.h"
#include "kdtext/io/atomic.h"
#include "kdtext/io/checkpoint.h"
#include "kdtext/log.h"
#include "kdtext/model/bert.h"
#include "kdtext/stages/predict.h"
#include "kdtext/text/batching.h"
#include "kdtext/util/error.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

FinetuneConfig default_finetune_config() {
  FinetuneConfig c;
  c.trainer.max_steps = 0;  // derived from epochs
  c.trainer.lr = 5e-5;
  c.trainer.warmup_ratio = 0.1;
  c.trainer.max_grad_norm = 1.0;
  c.trainer.log_every = 20;
  return c;
}

Json to_json(const FinetuneConfig& c) {
  Json j{{"from", c.from}, {"class_weights", c.class_weights}};
  c.add_to_json(j);
  return j;
}

FinetuneConfig finetune_config_from_json(const Json& j) {
  FinetuneConfig c = default_finetune_config();
  JsonFields f(j, "");
  c.read_from_json(f);
  f.get("from", c.from);
  f.get("class_weights", c.class_weights);
  if (c.from.empty()) throw ConfigError("from: required");
  if (c.class_weights != "none" && c.class_weights != "balanced") {
    throw ConfigError("class_weights: expected none or balanced, got '" + c.class_weights + "'");
  }
  return c;
}

namespace {

std::vector<text::Encoded> encode_all(const text::Tokenizer& tok, const text::LabelledData& d, int64_t max_len) {
  std::vector<text::Encoded> out;
  out.reserve(d.examples.size());
  for (const auto& e : d.examples) out.push_back(text::encode_example(tok, e.text, e.pair, max_len));
  return out;
}

class FinetuneTask final : public train::TrainingTask {
 public:
  FinetuneTask(const FinetuneConfig& c, io::Checkpoint& ck, const text::LabelMap& labels,
               std::vector<text::Encoded> train, std::vector<int64_t> train_y, std::vector<text::Encoded> dev,
               std::vector<int64_t> dev_y, torch::Tensor class_weights, torch::Device device)
      : c_(c), tokenizer_(std::move(ck.tokenizer)), labels_(labels), train_(std::move(train)),
        train_y_(std::move(train_y)), dev_(std::move(dev)), dev_y_(std::move(dev_y)),
        class_weights_(class_weights.defined() ? class_weights.to(device) : class_weights), device_(device),
        model_(nullptr) {
    model::BertConfig mc = ck.config;
    const bool same_head = ck.heads == model::Heads::kClassifier && mc.labels == labels.names();
    mc.labels = labels.names();
    model_ = model::Bert(mc, model::Heads::kClassifier);
    io::LoadRules rules;
    rules.allow_unexpected_prefixes = {"cls."};
    if (!same_head) {
      rules.allow_missing_prefixes = {"classifier."};
      rules.allow_unexpected_prefixes.push_back("classifier.");
    }
    io::load_weights(*model_, ck.weights, ck.dir.string(), rules);
    source_ = ck.dir.string();
    start_epoch();
  }

  std::string stage() const override { return "finetune"; }
  torch::nn::Module& module() override { return *model_; }
  model::BertImpl& model() { return *model_; }
  const text::Tokenizer& tokenizer() const { return *tokenizer_; }
  std::string selection_metric() const override { return c_.metric; }
  bool higher_is_better() const override { return true; }

  train::StepOutput forward_step() override {
    if (batch_pos_ >= batches_.size()) {
      ++epoch_;
      start_epoch();
    }
    const auto b = text::make_batch(train_, batches_[batch_pos_++], &train_y_);
    auto out = model_->encode(b.input_ids.to(device_), b.attention_mask.to(device_), b.token_type_ids.to(device_));
    auto logits = model_->classify(out.pooled).to(torch::kFloat32);
    train::StepOutput s;
    auto opts = torch::nn::functional::CrossEntropyFuncOptions();
    if (class_weights_.defined()) opts = opts.weight(class_weights_);
    s.loss = torch::nn::functional::cross_entropy(logits, b.labels.to(device_), opts);
    s.tokens = b.attention_mask.sum().item<int64_t>();
    s.examples = b.input_ids.size(0);
    return s;
  }

  train::EvalResult evaluate() override {
    auto probs = predict_probabilities(*model_, dev_, c_.batch_size, device_);
    auto pred = probs.argmax(1);
    std::vector<int64_t> p(pred.data_ptr<int64_t>(), pred.data_ptr<int64_t>() + pred.numel());
    const auto m = eval::classification_metrics(dev_y_, p, labels_.size());
    auto y = torch::tensor(dev_y_, torch::kLong);
    const double loss = torch::nll_loss(torch::log(probs.clamp_min(1e-12)), y).item<double>();
    return {{{"accuracy", m.accuracy}, {"macro_f1", m.macro_f1}, {"dev_loss", loss}}};
  }

  Json data_state() const override { return Json{{"epoch", epoch_}, {"batch", batch_pos_}}; }
  void restore_data_state(const Json& s) override {
    epoch_ = s.at("epoch").get<int64_t>();
    start_epoch();
    batch_pos_ = s.at("batch").get<size_t>();
  }

  void write_model(const fs::path& dir, const Json& provenance) override {
    io::CheckpointInfo info{"finetune", provenance};
    info.provenance["from"] = source_;
    info.provenance["train"] = c_.train;
    info.provenance["dev"] = c_.dev;
    io::write_checkpoint_files(dir, *model_, *tokenizer_, info);
  }

  size_t batches_per_epoch() const { return batches_.size(); }

 private:
  void start_epoch() {
    std::mt19937_64 rng(c_.run.seed * 7919ULL + static_cast<uint64_t>(epoch_));
    batches_ = text::bucketed_batches(train_, c_.batch_size, rng);
    batch_pos_ = 0;
  }

  FinetuneConfig c_;
  std::unique_ptr<text::Tokenizer> tokenizer_;
  text::LabelMap labels_;
  std::vector<text::Encoded> train_;
  std::vector<int64_t> train_y_;
  std::vector<text::Encoded> dev_;
  std::vector<int64_t> dev_y_;
  torch::Tensor class_weights_;
  torch::Device device_;
  model::Bert model_;
  std::string source_;
  int64_t epoch_ = 0;
  std::vector<std::vector<size_t>> batches_;
  size_t batch_pos_ = 0;
};

}  // namespace

Json run_finetune(const FinetuneConfig& c, torch::Device device) {
  const fs::path out(c.output);
  auto ck = io::read_checkpoint(c.from);

  auto train_data = text::read_labelled(c.train, c.data, true);
  if (train_data.examples.empty()) throw InputError(c.train + ": no labelled examples");
  const text::LabelMap labels = text::LabelMap::from_examples(train_data.examples);
  if (labels.size() < 2) throw InputError(c.train + ": needs at least 2 distinct labels, found " + std::to_string(labels.size()));
  auto train_y = text::encode_labels(train_data, labels, false);
  auto dev_data = text::read_labelled(c.dev, c.data, true);
  auto dev_y = text::encode_labels(dev_data, labels, c.data.bad_lines == "skip");
  if (dev_data.examples.empty()) throw InputError(c.dev + ": no labelled examples");
  if (c.max_len > ck.config.max_position_embeddings) {
    throw ConfigError("max_len " + std::to_string(c.max_len) + " exceeds the checkpoint's max_position_embeddings " +
                      std::to_string(ck.config.max_position_embeddings));
  }
  if (train_data.skipped + dev_data.skipped > 0) {
    log::warn("skipped bad lines: ", train_data.skipped, " in ", c.train, ", ", dev_data.skipped, " in ", c.dev);
  }
  log::info("finetune: ", train_data.examples.size(), " training and ", dev_data.examples.size(),
            " dev examples, ", labels.size(), " labels");

  auto train_enc = encode_all(*ck.tokenizer, train_data, c.max_len);
  auto dev_enc = encode_all(*ck.tokenizer, dev_data, c.max_len);
  torch::Tensor weights;
  if (c.class_weights == "balanced") {
    std::vector<double> counts(static_cast<size_t>(labels.size()), 0.0);
    for (auto y : train_y) counts[y] += 1;
    std::vector<float> w;
    for (double n : counts) w.push_back(static_cast<float>(train_y.size() / (labels.size() * std::max(1.0, n))));
    weights = torch::tensor(w);
  }

  const auto topts = c.resolved_trainer(static_cast<int64_t>(train_enc.size()));
  const auto resume_from = train::Trainer::prepare_run_directory(out, c.resume, c.overwrite);
  Json resolved = to_json(c);
  resolved["trainer"]["max_steps"] = topts.max_steps;
  resolved["trainer"]["eval_every"] = topts.eval_every;
  io::write_file_atomic(out / "config.json", resolved.dump(2) + "\n");

  torch::manual_seed(c.run.seed);
  const std::string tokenizer_fp = ck.tokenizer->fingerprint();
  FinetuneTask task(c, ck, labels, std::move(train_enc), std::move(train_y), std::move(dev_enc), std::move(dev_y),
                    weights, device);
  train::Trainer trainer(topts, out, device, c.run.seed);
  const auto result = trainer.run(task, resume_from);
  if (result.stopped) return Json{{"stopped_at_step", result.steps}};  // metrics.json marks a finished run

  // Report the best checkpoint on dev (and test).
  auto best = io::read_checkpoint(out / "best");
  model::Bert best_model(best.config, model::Heads::kClassifier);
  io::load_weights(*best_model, best.weights, (out / "best").string());
  best_model->to(device);
  best_model->eval();
  torch::InferenceMode guard;
  Json metrics{{"best_checkpoint", (out / "best").string()},
               {"selection_metric", c.metric},
               {"steps", result.steps},
               {"train_seconds", result.seconds},
               {"early_stopped", result.early_stopped}};
  for (const auto& [name, path] : {std::pair<const char*, std::string>{"dev", c.dev}, {"test", c.test}}) {
    if (path.empty()) continue;
    metrics[name] = evaluate_classifier_on_file(*best_model, *best.tokenizer, labels, c.data, path, c.max_len,
                                                c.batch_size, device);
  }
  io::write_file_atomic(out / "metrics.json", metrics.dump(2) + "\n");
  log::info("finetune done: dev ", c.metric, " ", log::fixed(metrics["dev"][c.metric].get<double>(), 4),
            " -> ", (out / "best").string());
  return metrics;
}

}  // namespace kdtext::stages
