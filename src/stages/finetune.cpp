#include "kdtext/stages/finetune.h"

#include <filesystem>

#include "kdtext/eval/metrics.h"
#include "kdtext/infer/predict.h"
#include "kdtext/parallel/group.h"
#include "kdtext/io/checkpoint.h"
#include "kdtext/util/log.h"
#include "kdtext/model/bert.h"
#include "kdtext/feed/feeds.h"
#include "kdtext/error.h"

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

const FieldTable<FinetuneConfig>& finetune_fields() {
  using F = FinetuneConfig;
  static const auto t = FieldTable<F>()
      .field("from", &F::from, "Pretrained checkpoint directory", required()).flag("--from", true)
      .base(train::supervised_fields(/*required_flags=*/true))
      .choice("class_weights", &F::class_weights, kClassWeights, "none or balanced").flag("--class-weights")
      .rule([](const F& c, const std::string&) { c.require(/*labelled=*/true, /*output_required=*/true); });
  return t;
}

Json to_json(const FinetuneConfig& c) { return finetune_fields().to_json(c); }
FinetuneConfig finetune_config_from_json(const Json& j) {
  return finetune_fields().from_json(j, default_finetune_config());
}

namespace {

// Inverse class frequency, normalised so that a balanced set gets weight 1.
torch::Tensor balanced_class_weights(const std::vector<int64_t>& y, int64_t classes) {
  std::vector<double> counts(static_cast<size_t>(classes), 0.0);
  for (auto label : y) counts[label] += 1;
  std::vector<float> w;
  for (double n : counts) w.push_back(static_cast<float>(y.size() / (classes * std::max(1.0, n))));
  return torch::tensor(w);
}

// The classifier (a new head unless the checkpoint has one for these labels)
// trained with cross-entropy on labelled batches.
class FinetuneTask final : public train::TrainingTask {
 public:
  FinetuneTask(const FinetuneConfig& c, io::Checkpoint& ck, const text::LabelMap& labels, feed::EncodedSet train,
               feed::EncodedSet dev, torch::Device device)
      : c_(c), tokenizer_(std::move(ck.tokenizer)), batches_(std::move(train), c.batch_size, c.run.seed, feed::DataShard{parallel::rank(), parallel::world_size()}),
        dev_(std::move(dev)), device_(device), source_(ck.dir.string()) {
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
    io::load_weights(*model_, ck.weights, source_, rules);
    if (c.class_weights == ClassWeights::kBalanced) {
      class_weights_ = balanced_class_weights(batches_.data().labels, labels.size()).to(device);
    }
  }

  std::string stage() const override { return "finetune"; }
  torch::nn::Module& module() override { return *model_; }
  std::string selection_metric() const override { return c_.metric; }
  bool higher_is_better() const override { return true; }

  train::StepOutput forward_step() override {
    const auto b = batches_.next();
    if (b.index.empty()) return {};  // data parallel: no rows of the epoch's short last batch for this process
    auto out = model_->encode(b.input_ids.to(device_), b.attention_mask.to(device_), b.token_type_ids.to(device_));
    auto logits = model_->classify(out.pooled).to(torch::kFloat32);
    train::StepOutput s;
    auto opts = torch::nn::functional::CrossEntropyFuncOptions();
    if (class_weights_.defined()) opts = opts.weight(class_weights_);
    s.loss = torch::nn::functional::cross_entropy(logits, b.labels.to(device_), opts);
    // A class-weighted mean divides by the examples' weights.
    if (class_weights_.defined()) s.weight = class_weights_.index_select(0, b.labels.to(device_)).sum().item<double>();
    s.tokens = b.attention_mask.sum().item<int64_t>();
    s.examples = b.input_ids.size(0);
    return s;
  }

  train::EvalResult evaluate() override {
    auto probs = infer::predict_probabilities(*model_, dev_.inputs, c_.batch_size, device_);
    auto pred = probs.argmax(1);
    std::vector<int64_t> p(pred.data_ptr<int64_t>(), pred.data_ptr<int64_t>() + pred.numel());
    const auto m = eval::classification_metrics(dev_.labels, p, model_->config.labels.size());
    auto y = torch::tensor(dev_.labels, torch::kLong);
    const double loss = torch::nll_loss(torch::log(probs.clamp_min(1e-12)), y).item<double>();
    return {{{"accuracy", m.accuracy}, {"macro_f1", m.macro_f1}, {"dev_loss", loss}}};
  }

  Json data_state() const override { return batches_.state(); }
  void restore_data_state(const Json& s) override { batches_.restore(s); }

  void write_model(const fs::path& dir, const Json& provenance) override {
    io::CheckpointInfo info{"finetune", provenance};
    info.provenance["from"] = source_;
    info.provenance["train"] = c_.train;
    info.provenance["dev"] = c_.dev;
    io::write_checkpoint_files(dir, *model_, *tokenizer_, info);
  }

 private:
  FinetuneConfig c_;
  std::unique_ptr<text::Tokenizer> tokenizer_;
  feed::LabelledBatches batches_;
  feed::EncodedSet dev_;
  torch::Tensor class_weights_;
  torch::Device device_;
  model::Bert model_{nullptr};
  std::string source_;
};

}  // namespace

Json run_finetune(const FinetuneConfig& c, torch::Device device) {
  auto ck = io::read_checkpoint(c.from);
  model::check_fits_in_memory(ck.config, c.from + "/config.json", 4, "fine-tune");
  auto train_data = text::read_labelled(c.train, c.data, true);
  if (train_data.examples.empty()) throw InputError(c.train + ": no labelled examples");
  const text::LabelMap labels = text::LabelMap::from_examples(train_data.examples);
  if (labels.size() < 2) throw InputError(c.train + ": needs at least 2 distinct labels, found " + std::to_string(labels.size()));
  auto dev_data = text::read_labelled(c.dev, c.data, true);
  infer::checked_max_len(c.max_len, ck.config, "max_len");
  auto train = feed::encode_labelled(train_data, labels, text::LabelledFormat{}, *ck.tokenizer, c.max_len);
  auto dev = feed::encode_labelled(dev_data, labels, c.data, *ck.tokenizer, c.max_len);
  if (dev_data.examples.empty()) throw InputError(c.dev + ": no labelled examples");
  if (train_data.skipped + dev_data.skipped > 0) {
    log::warn("skipped bad lines: ", train_data.skipped, " in ", c.train, ", ", dev_data.skipped, " in ", c.dev);
  }
  log::info("finetune: ", train_data.examples.size(), " training and ", dev_data.examples.size(), " dev examples, ",
            labels.size(), " labels");

  const auto topts = c.resolved_trainer(static_cast<int64_t>(train.size()));
  const auto run = c.begin_run(to_json(c), topts);
  const auto& resume_from = run.resume_from;
  torch::manual_seed(c.run.seed);
  FinetuneTask task(c, ck, labels, std::move(train), std::move(dev), device);
  train::Trainer trainer(topts, c.output, device, c.run.seed);
  const auto result = trainer.run(task, resume_from);
  if (result.stopped) return Json{{"stopped_at_step", result.steps}};  // metrics.json marks a finished run
  if (!parallel::is_writer()) return Json{{"rank", parallel::rank()}, {"steps", result.steps}};
  return c.report_best(Json{{"best_checkpoint", (fs::path(c.output) / "best").string()},
                            {"selection_metric", c.metric},
                            {"steps", result.steps},
                            {"train_seconds", result.seconds},
                            {"early_stopped", result.early_stopped}},
                       device, "finetune", false);
}

}  // namespace kdtext::stages
