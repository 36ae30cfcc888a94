#include "kdtext/stages/pretrain.h"

#include <cmath>
#include <filesystem>

#include "kdtext/parallel/group.h"
#include "kdtext/io/checkpoint.h"
#include "kdtext/util/log.h"
#include "kdtext/model/bert.h"
#include "kdtext/feed/feeds.h"
#include "kdtext/train/objectives.h"
#include "kdtext/train/run_directory.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

const FieldTable<PretrainConfig>& pretrain_fields() {
  using P = PretrainConfig;
  static const auto t = FieldTable<P>()
      .field("data", &P::data, "kdtext-preprocess output directory", required("a kdtext-preprocess output directory"))
      .flag("data", true)
      .field("model", &P::model, "Model preset (bert-tiny, bert-small, bert-base) or config.json path").flag("--model")
      .field("output", &P::output, "Run directory", required()).flag("-o,--output", true)
      .field("overwrite", &P::overwrite, "Start over in a non-empty output directory").flag("--overwrite")
      .field("resume", &P::resume, "Continue from the newest checkpoint in the output directory").flag("--resume")
      .field("max_len", &P::max_len, "Packed sequence length", at_least(8)).flag("--max-len")
      .field("batch_size", &P::batch_size, "Sequences per micro-batch", at_least(1)).flag("--batch-size")
      .section("masking", &P::masking, feed::masking_fields())
      .field("validation_every", &P::validation_every, "Hold out every N-th document", at_least(2))
      .flag("--validation-every")
      .field("eval_sequences", &P::eval_sequences, "Held-out sequences evaluated (fixed masks)", at_least(1))
      .section("trainer", &P::trainer, train::trainer_fields())
      .section("run", &P::run, cli::runtime_fields())
      .rule([](const P& c, const std::string&) {
        if (c.resume && c.overwrite) throw ConfigError("resume and overwrite exclude each other");
        train::validate(c.trainer, "trainer");  // no epochs here: max_steps must be given
      });
  return t;
}

Json to_json(const PretrainConfig& c) { return pretrain_fields().to_json(c); }
PretrainConfig pretrain_config_from_json(const Json& j) { return pretrain_fields().from_json(j); }

namespace {

class PretrainTask final : public train::TrainingTask {
 public:
  PretrainTask(const PretrainConfig& c, model::BertConfig mc, std::unique_ptr<text::Tokenizer> tok,
               std::shared_ptr<const feed::ShardCorpus> corpus, torch::Device device)
      : c_(c), tokenizer_(std::move(tok)), device_(device), model_(model::Bert(mc, model::Heads::kMaskedLM)),
        stream_(std::move(corpus), *tokenizer_, stream_options(c), c.data) {
    log::info("pretrain data: ", stream_.training_documents(), " training and ", stream_.held_out_documents(),
              " validation documents");
  }

  std::string stage() const override { return "pretrain"; }
  torch::nn::Module& module() override { return *model_; }
  model::BertImpl& model() { return *model_; }
  std::string selection_metric() const override { return "val_loss"; }
  bool higher_is_better() const override { return false; }

  train::StepOutput forward_step() override {
    const auto b = stream_.next();
    train::StepOutput out;
    out.loss = mlm_loss(b.ids, b.labels);
    out.tokens = b.ids.numel();
    out.examples = c_.batch_size;
    out.weight = static_cast<double>(b.labels.ne(-100).sum().item<int64_t>());  // the loss is a mean over these
    return out;
  }

  train::EvalResult evaluate() override {
    double loss_sum = 0;
    int64_t count = 0;
    const auto& val = stream_.held_out();
    for (int64_t b = 0; b < val.ids.size(0); b += c_.batch_size) {
      const int64_t e = std::min<int64_t>(val.ids.size(0), b + c_.batch_size);
      auto labels = val.labels.slice(0, b, e);
      const int64_t masked = labels.ne(-100).sum().item<int64_t>();
      if (masked == 0) continue;
      loss_sum += mlm_loss(val.ids.slice(0, b, e), labels).item<double>() * static_cast<double>(masked);
      count += masked;
    }
    const double loss = count > 0 ? loss_sum / static_cast<double>(count) : 0.0;
    return {{{"val_loss", loss}, {"val_perplexity", std::exp(loss)}, {"val_masked_tokens", double(count)}}};
  }

  Json data_state() const override { return stream_.state(); }
  void restore_data_state(const Json& s) override { stream_.restore(s); }

  void write_model(const fs::path& dir, const Json& provenance) override {
    io::CheckpointInfo info{"pretrain", provenance};
    info.provenance["data"] = fs::absolute(c_.data).string();
    io::write_checkpoint_files(dir, *model_, *tokenizer_, info);
  }

 private:
  static feed::MlmStreamOptions stream_options(const PretrainConfig& c) {
    return {c.max_len,    c.batch_size, c.validation_every, c.eval_sequences,
            c.run.seed,   true,         c.masking,          feed::DataShard{parallel::rank(), parallel::world_size()}};
  }

  torch::Tensor mlm_loss(const torch::Tensor& ids_cpu, const torch::Tensor& labels_cpu) {
    model::ForwardOptions fo;
    fo.pooled = false;
    auto hidden = model_->encode(ids_cpu.to(device_), {}, {}, fo).last_hidden;
    return train::masked_lm_loss(*model_, hidden, labels_cpu.to(device_));
  }

  PretrainConfig c_;
  std::unique_ptr<text::Tokenizer> tokenizer_;
  torch::Device device_;
  model::Bert model_;
  feed::MlmStream stream_;
};

}  // namespace

Json run_pretrain(const PretrainConfig& c, torch::Device device) {
  const fs::path data(c.data), out(c.output);
  auto tokenizer = text::Tokenizer::load(data / "tokenizer");
  auto corpus = std::make_shared<const feed::ShardCorpus>(data / "shards");
  if (corpus->vocab_size() != tokenizer->vocab_size()) {
    throw InputError(c.data + ": shards have vocabulary " + std::to_string(corpus->vocab_size()) +
                     " but the tokenizer has " + std::to_string(tokenizer->vocab_size()));
  }
  model::BertConfig mc = model::load_bert_config(c.model);
  mc.vocab_size = tokenizer->vocab_size();  // the data decides the vocabulary
  mc.labels.clear();
  if (c.max_len > mc.max_position_embeddings) {
    throw ConfigError("max_len " + std::to_string(c.max_len) + " exceeds the model's max_position_embeddings " +
                      std::to_string(mc.max_position_embeddings));
  }
  mc.validate("model " + c.model);
  model::check_fits_in_memory(mc, "model " + c.model, 4, "train");

  Json config = to_json(c);
  config["world_size"] = parallel::world_size();
  const auto run = train::open_run(out, c.resume, c.overwrite, [&](train::RunDirectory& dir) {
    config[train::kInputsFingerprint] = train::fingerprint_inputs(config, {"data"});
    write_file_atomic(out / "config.json", dir.settle_config(config, c.trainer.accept_changes).dump(2) + "\n");
    write_file_atomic(out / "model_config.json", model::to_json(mc).dump(2) + "\n");
  });
  const auto& resume_from = run.resume_from;

  torch::manual_seed(c.run.seed);
  PretrainTask task(c, mc, std::move(tokenizer), corpus, device);
  const auto params = task.model().parameter_count();
  log::info("model ", c.model, ": ", mc.num_hidden_layers, " layers x ", mc.hidden_size, ", ", params.total,
            " parameters (", params.non_embedding, " outside embeddings)");
  train::Trainer trainer(c.trainer, out, device, c.run.seed);
  const auto result = trainer.run(task, resume_from);
  if (result.stopped) return Json{{"stopped_at_step", result.steps}};  // summary.json marks a finished run
  if (!parallel::is_writer()) return Json{{"rank", parallel::rank()}, {"steps", result.steps}};
  Json summary{{"steps", result.steps}, {"final_loss", result.final_loss}, {"seconds", result.seconds}};
  for (const auto& [k, v] : result.last_eval) summary[k] = v;
  if (result.best_metric) summary["best_val_loss"] = *result.best_metric;
  write_file_atomic(out / "summary.json", summary.dump(2) + "\n");
  log::info("pretrain done: val_loss ", log::fixed(result.last_eval.count("val_loss") ? result.last_eval.at("val_loss") : 0, 4),
            ", perplexity ", log::fixed(result.last_eval.count("val_perplexity") ? result.last_eval.at("val_perplexity") : 0, 2),
            " -> ", (out / "final").string());
  return summary;
}

}  // namespace kdtext::stages
