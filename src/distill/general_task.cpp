// General distillation: unlabelled token shards, intermediate terms and the
// student's optional masked-LM term.
#include <filesystem>

#include "kdtext/distill/tasks.h"
#include "kdtext/parallel/group.h"
#include "kdtext/util/log.h"
#include "kdtext/feed/feeds.h"
#include "kdtext/train/objectives.h"
#include "kdtext/error.h"

namespace kdtext::distill {
namespace fs = std::filesystem;

namespace {

// General distillation on unlabelled token shards (kdtext-preprocess output):
// intermediate terms only, plus an optional masked-LM term for the student;
// model selection by the weighted loss on held-out documents.
class GeneralDistill final : public DistillBase {
 public:
  GeneralDistill(const DistillConfig& c, torch::Device device) : DistillBase(c, device) {
    const fs::path data(c.shards);
    const auto data_tokenizer = text::Tokenizer::load(data / "tokenizer");
    if (data_tokenizer->fingerprint() != tokenizer_->fingerprint()) {
      throw InputError(c.shards + ": its tokenizer (" + data_tokenizer->fingerprint() + ") differs from the teacher's (" +
                       tokenizer_->fingerprint() + "); preprocess the corpus with --tokenizer " + c.teacher +
                       "/tokenizer");
    }
    auto corpus = std::make_shared<const feed::ShardCorpus>(data / "shards");
    if (corpus->vocab_size() != teacher_config_.vocab_size) {
      throw InputError(c.shards + ": shards have vocabulary " + std::to_string(corpus->vocab_size()) +
                       " but the teacher has " + std::to_string(teacher_config_.vocab_size));
    }
    if (max_len_ < 8) throw ConfigError("max_len: must be >= 8 for general distillation");
    stream_ = std::make_unique<feed::MlmStream>(
        corpus, *tokenizer_,
        feed::MlmStreamOptions{max_len_, c.batch_size, c.validation_every, c.eval_sequences, c.run.seed, mlm(), c.masking,
                               feed::DataShard{parallel::rank(), parallel::world_size()}},
        c.shards);
    log::info("general distillation data: ", stream_->training_documents(), " training documents (~",
              stream_->sequences_per_epoch(), " sequences of ", max_len_, " per epoch), ",
              stream_->held_out_documents(), " held out");
  }

  std::string selection_metric() const override { return "val_loss"; }
  bool higher_is_better() const override { return false; }
  int64_t examples() const override { return stream_->sequences_per_epoch(); }

  train::StepOutput forward_step() override {
    ++step_;
    const auto b = stream_->next();
    auto sum = losses(b.ids, b.labels);
    train::StepOutput out;
    out.loss = sum.total;
    out.terms = std::move(sum.values);
    out.tokens = b.ids.numel();
    out.examples = c_.batch_size;
    return out;
  }

  train::EvalResult evaluate() override {
    torch::NoGradGuard no_grad;
    std::map<std::string, double> totals;
    double weighted = 0;
    const auto& val = stream_->held_out();
    const int64_t n = val.ids.size(0);
    for (int64_t b = 0; b < n; b += c_.batch_size) {
      const int64_t e = std::min(n, b + c_.batch_size);
      const auto sum = losses(val.ids.slice(0, b, e), mlm() ? val.labels.slice(0, b, e) : torch::Tensor());
      const double w = double(e - b) / double(n);
      weighted += sum.total.item<double>() * w;
      for (const auto& [k, v] : sum.values) totals["val_" + k] += v * w;
    }
    totals["val_loss"] = weighted;
    return {totals};
  }

  Json data_state() const override {
    Json s = stream_->state();
    s["step"] = step_;
    return s;
  }
  void restore_data_state(const Json& s) override {
    stream_->restore(s);
    step_ = s.at("step").get<int64_t>();
  }

 private:
  bool mlm() const { return c_.loss.mlm_weight > 0; }

  // All terms for one batch of packed sequences (no padding); labels are the
  // masked-LM targets when the masked-LM term is on.
  distill::LossTerms losses(const torch::Tensor& ids_cpu, const torch::Tensor& labels_cpu) {
    const auto ids = ids_cpu.to(device_);
    const auto mask = torch::ones_like(ids);
    auto fo = objective_->forward_options();
    fo.pooled = false;
    const bool layer_wise = objective_->needs_teacher_internals();
    distill::ModelOutputs t_out, s_out;
    if (layer_wise) {
      torch::NoGradGuard no_grad;
      t_out.encoder = teacher_->encode(ids, mask, {}, fo);
    }
    s_out.encoder = bert_student().encode(ids, mask, {}, fo);
    distill::LossTerms sum;
    if (layer_wise) objective_->add_intermediate(s_out, t_out, mask, sum);
    if (mlm()) {
      sum.add("loss_mlm", c_.loss.mlm_weight,
              train::masked_lm_loss(bert_student(), s_out.encoder.last_hidden, labels_cpu.to(device_)));
    }
    return sum;
  }

  std::unique_ptr<feed::MlmStream> stream_;
};

}  // namespace

std::unique_ptr<DistillBase> make_general_distill(const DistillConfig& c, torch::Device device) {
  return std::make_unique<GeneralDistill>(c, device);
}

std::unique_ptr<DistillBase> make_distill_task(const DistillConfig& c, torch::Device device) {
  if (c.mode == DistillMode::kGeneral) return make_general_distill(c, device);
  return make_task_distill(c, device);
}

}  // namespace kdtext::distill
