#include "kdtext/stages/distill.h"

#include <filesystem>
#include <random>

#include "kdtext/distill/losses.h"
#include "kdtext/eval/metrics.h"
#include "kdtext/io/atomic.h"
#include "kdtext/io/checkpoint.h"
#include "kdtext/io/safetensors.h"
#include "kdtext/log.h"
#include "kdtext/stages/predict.h"
#include "kdtext/text/batching.h"
#include "kdtext/util/error.h"

namespace kdtext::stages {
namespace fs = std::filesystem;

// ------------------------------------------------------------ build-student

Json to_json(const BuildStudentConfig& c) {
  return Json{{"teacher", c.teacher}, {"output", c.output}, {"overwrite", c.overwrite},
              {"student", model::to_json(c.student)}, {"run", cli::to_json(c.run)}};
}

BuildStudentConfig build_student_config_from_json(const Json& j) {
  BuildStudentConfig c;
  JsonFields f(j, "");
  f.get("teacher", c.teacher);
  f.get("output", c.output);
  f.get("overwrite", c.overwrite);
  c.student = model::student_spec_from_json(f.child("student"));
  c.run = cli::runtime_options_from_json(f.child("run"));
  if (c.teacher.empty()) throw ConfigError("teacher: required");
  if (c.output.empty()) throw ConfigError("output: required");
  model::resolve_student_spec(c.student);
  return c;
}

Json run_build_student(const BuildStudentConfig& c) {
  auto ck = io::read_checkpoint(c.teacher);
  model::Bert teacher(ck.config, ck.heads);
  io::load_weights(*teacher, ck.weights, c.teacher);
  torch::manual_seed(c.run.seed);
  auto built = model::build_student(*teacher, c.student);
  const auto tp = teacher->parameter_count(), sp = built.model->parameter_count();
  Json summary{{"teacher", c.teacher},
               {"init", model::resolve_student_spec(c.student).init},
               {"layer_map", built.layer_map},
               {"student", model::to_json(built.config)},
               {"parameters", sp.total},
               {"teacher_parameters", tp.total}};
  io::StagedDirectory out(c.output, c.overwrite);
  io::write_file_atomic(out.path() / "build_config.json", to_json(c).dump(2) + "\n");
  io::CheckpointInfo info{"build-student", summary};
  io::write_checkpoint_files(out.path(), *built.model, *ck.tokenizer, info);
  out.commit();
  log::info("student: ", built.config.num_hidden_layers, " layers x ", built.config.hidden_size, ", ", sp.total,
            " parameters (teacher ", tp.total, ", ", log::fixed(double(tp.total) / double(sp.total), 1), "x), init ",
            summary["init"].get<std::string>(), " -> ", out.final_path().string());
  return summary;
}

// ------------------------------------------------------------ distill config

DistillConfig default_distill_config() {
  DistillConfig c;
  c.trainer.max_steps = 0;
  c.trainer.lr = 1e-4;
  c.trainer.warmup_ratio = 0.1;
  c.trainer.log_every = 20;
  return c;
}

namespace {
Json loss_json(const DistillLossOptions& l) {
  return Json{{"output", l.output},
              {"output_weight", l.output_weight},
              {"output_weight_end", l.output_weight_end},
              {"temperature", l.temperature},
              {"temperature_end", l.temperature_end},
              {"t2_scale", l.t2_scale},
              {"hard_weight", l.hard_weight},
              {"hard_weight_end", l.hard_weight_end},
              {"hidden", l.hidden},
              {"hidden_weight", l.hidden_weight},
              {"attention", l.attention},
              {"attention_weight", l.attention_weight},
              {"embedding_weight", l.embedding_weight},
              {"pkd_weight", l.pkd_weight},
              {"mlm_weight", l.mlm_weight},
              {"layer_map", l.layer_map},
              {"skip_k", l.skip_k},
              {"layer_list", l.layer_list},
              {"projection", l.projection}};
}

DistillLossOptions loss_from_json(const JsonFields& f) {
  DistillLossOptions l;
  f.get("output", l.output);
  f.get("output_weight", l.output_weight);
  f.get("output_weight_end", l.output_weight_end);
  f.get("temperature", l.temperature);
  f.get("temperature_end", l.temperature_end);
  f.get("t2_scale", l.t2_scale);
  f.get("hard_weight", l.hard_weight);
  f.get("hard_weight_end", l.hard_weight_end);
  f.get("hidden", l.hidden);
  f.get("hidden_weight", l.hidden_weight);
  f.get("attention", l.attention);
  f.get("attention_weight", l.attention_weight);
  f.get("embedding_weight", l.embedding_weight);
  f.get("pkd_weight", l.pkd_weight);
  f.get("mlm_weight", l.mlm_weight);
  f.get("layer_map", l.layer_map);
  f.get("skip_k", l.skip_k);
  f.get_int_list("layer_list", l.layer_list);
  f.get("projection", l.projection);
  const auto nonneg = [](double v, const char* key) {
    if (v < 0) throw ConfigError(std::string("loss.") + key + ": must be >= 0");
  };
  nonneg(l.output_weight, "output_weight");
  nonneg(l.hard_weight, "hard_weight");
  nonneg(l.hidden_weight, "hidden_weight");
  nonneg(l.attention_weight, "attention_weight");
  nonneg(l.embedding_weight, "embedding_weight");
  nonneg(l.pkd_weight, "pkd_weight");
  nonneg(l.mlm_weight, "mlm_weight");
  if (!(l.temperature > 0)) throw ConfigError("loss.temperature: must be > 0");
  if (l.output != "kl" && l.output != "soft_ce" && l.output != "mse") {
    throw ConfigError("loss.output: expected kl, soft_ce or mse, got '" + l.output + "'");
  }
  if (l.hidden != "mse" && l.hidden != "cosine") throw ConfigError("loss.hidden: expected mse or cosine");
  if (l.attention != "scores_mse" && l.attention != "probs_kl") {
    throw ConfigError("loss.attention: expected scores_mse or probs_kl");
  }
  if (l.projection != "per-layer" && l.projection != "shared") {
    throw ConfigError("loss.projection: expected per-layer or shared");
  }
  if (l.output_weight + l.hard_weight + l.hidden_weight + l.attention_weight + l.embedding_weight + l.pkd_weight +
          l.mlm_weight +
          std::max(0.0, l.output_weight_end) + std::max(0.0, l.hard_weight_end) <= 0) {
    throw ConfigError("loss: every term has weight 0");
  }
  return l;
}

double scheduled(double start, double end, double progress) {
  return end < 0 ? start : start + (end - start) * progress;
}
}  // namespace

Json to_json(const DistillConfig& c) {
  Json j{{"mode", c.mode},
         {"teacher", c.teacher},
         {"student", c.student},
         {"shards", c.shards},
         {"validation_every", c.validation_every},
         {"eval_sequences", c.eval_sequences},
         {"masking", text::to_json(c.masking)},
         {"cache_teacher_logits", c.cache_teacher_logits},
         {"loss", loss_json(c.loss)}};
  c.add_to_json(j);
  return j;
}

DistillConfig distill_config_from_json(const Json& j) {
  DistillConfig c = default_distill_config();
  JsonFields f(j, "");
  f.get("mode", c.mode);
  if (c.mode != "task" && c.mode != "general") throw ConfigError("mode: expected task or general, got '" + c.mode + "'");
  const bool general = c.mode == "general";
  c.read_from_json(f, !general);
  f.get("teacher", c.teacher);
  f.get("student", c.student);
  f.get("shards", c.shards);
  f.get("validation_every", c.validation_every);
  f.get("eval_sequences", c.eval_sequences);
  c.masking = text::masking_options_from_json(f.child("masking"));
  f.get("cache_teacher_logits", c.cache_teacher_logits);
  c.loss = loss_from_json(f.child("loss"));
  if (c.teacher.empty()) throw ConfigError("teacher: required");
  if (c.student.empty()) throw ConfigError("student: required");
  if (c.validation_every < 2) throw ConfigError("validation_every: must be >= 2");
  if (c.eval_sequences < 1) throw ConfigError("eval_sequences: must be >= 1");
  const auto& l = c.loss;
  if (general) {
    if (c.shards.empty()) throw ConfigError("shards: required for mode general (a kdtext-preprocess output directory)");
    for (const auto& [key, w] : {std::pair<const char*, double>{"output_weight", l.output_weight},
                                 {"output_weight_end", l.output_weight_end},
                                 {"hard_weight", l.hard_weight},
                                 {"hard_weight_end", l.hard_weight_end}}) {
      if (w > 0) {
        throw ConfigError(std::string("loss.") + key +
                          ": general distillation has no labels or teacher logits; set it to 0 "
                          "(configs/distill/tinybert-general.json does)");
      }
    }
    if (l.hidden_weight + l.attention_weight + l.embedding_weight + l.pkd_weight + l.mlm_weight <= 0) {
      throw ConfigError("loss: general distillation needs an intermediate term or loss.mlm_weight above 0");
    }
  } else if (l.mlm_weight > 0) {
    throw ConfigError("loss.mlm_weight: the masked-LM term is for mode general (token shards), not a labelled task");
  }
  return c;
}

// ------------------------------------------------------------ the tasks

namespace {

// Student + projections: the parameters distillation trains.
struct Trainable : torch::nn::Module {
  model::Bert student{nullptr};
  torch::nn::ModuleList projections{nullptr};
};

// A weighted sum of loss terms; each term's value is kept for the log.
struct LossSum {
  torch::Tensor total;
  std::map<std::string, double> terms;
  void add(const std::string& name, double weight, const torch::Tensor& term) {
    terms[name] = term.item<double>();
    total = total.defined() ? total + weight * term : weight * term;
  }
};

// What task and general distillation share: the frozen teacher, the student
// and its projections, the layer mapping and the intermediate terms.
class DistillBase : public train::TrainingTask, public DistillTaskHandle {
 public:
  DistillBase(const DistillConfig& c, torch::Device device) : c_(c), device_(device) {
    const bool general = c.mode == "general";
    auto tck = io::read_checkpoint(c.teacher);
    auto sck = io::read_checkpoint(c.student);
    if (tck.tokenizer->fingerprint() != sck.tokenizer->fingerprint()) {
      throw InputError(c.student + ": its tokenizer (" + sck.tokenizer->fingerprint() + ") differs from the teacher's (" +
                       tck.tokenizer->fingerprint() + "); build the student from this teacher");
    }
    io::LoadRules teacher_rules;
    model::Heads teacher_heads = model::Heads::kClassifier, student_heads = model::Heads::kClassifier;
    io::LoadRules student_rules;
    model::BertConfig student_config = sck.config;
    if (general) {
      // Only the encoders are compared; the student keeps whatever head it has.
      teacher_heads = model::Heads::kNone;
      teacher_rules.allow_unexpected_prefixes = {"cls.", "classifier."};
      student_heads = sck.heads;
      if (c.loss.mlm_weight > 0 && sck.heads != model::Heads::kMaskedLM) {
        throw InputError(c.student + ": loss.mlm_weight needs a student with a masked-LM head; build it from the "
                                     "pretrained (not the fine-tuned) teacher, or set loss.mlm_weight to 0");
      }
    } else {
      if (tck.heads != model::Heads::kClassifier) {
        throw InputError(c.teacher + ": the teacher has no classification head; fine-tune it first (or use mode general)");
      }
      if (sck.heads == model::Heads::kClassifier) {
        if (tck.config.labels != sck.config.labels) throw InputError(c.student + ": its labels differ from the teacher's");
      } else {
        // A generally distilled student: a new classifier for the teacher's labels.
        log::info("the student has no classification head: starting one for the teacher's ", tck.config.labels.size(),
                  " labels");
        student_config.labels = tck.config.labels;
        student_rules.allow_missing_prefixes = {"classifier."};
        student_rules.allow_unexpected_prefixes = {"cls."};
      }
    }
    teacher_config_ = tck.config;
    teacher_ = model::Bert(tck.config, teacher_heads);
    io::load_weights(*teacher_, tck.weights, c.teacher, teacher_rules);
    teacher_->to(device);
    teacher_->eval();
    for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
    trainable_ = std::make_shared<Trainable>();
    trainable_->student = trainable_->register_module("student", model::Bert(student_config, student_heads));
    io::load_weights(*trainable_->student, sck.weights, c.student, student_rules);
    tokenizer_ = std::move(sck.tokenizer);
    labels_ = text::LabelMap(tck.config.labels);

    const auto& l = c.loss;
    const int64_t ls = sck.config.num_hidden_layers, lt = tck.config.num_hidden_layers;
    // The layer mapping matters only to the layer-wise terms (an output-only
    // stage must not fail on a mapping it never uses).
    if (l.hidden_weight > 0 || l.attention_weight > 0 || l.pkd_weight > 0) {
      const std::string sel = l.layer_map == "skip" ? "every-k" : l.layer_map;
      layer_map_ = model::select_teacher_layers(sel, ls, lt, l.skip_k, l.layer_list, "loss.layer_map");
    }
    const int64_t hs = sck.config.hidden_size, ht = tck.config.hidden_size;
    const bool intermediate = l.hidden_weight > 0 || l.embedding_weight > 0 || l.pkd_weight > 0;
    trainable_->projections = trainable_->register_module("projections", torch::nn::ModuleList());
    if (intermediate && hs != ht) {
      // One projection per mapped layer plus one for embeddings, or one shared.
      const size_t n = l.projection == "shared" ? 1 : layer_map_.size() + 1;
      for (size_t i = 0; i < n; ++i) trainable_->projections->push_back(torch::nn::Linear(hs, ht));
    }
    need_hidden_ = intermediate;
    need_attention_ = l.attention_weight > 0;
    if (need_attention_ && l.attention == "scores_mse" && sck.config.num_attention_heads != tck.config.num_attention_heads) {
      log::warn("student and teacher head counts differ: attention maps are compared head-averaged");
    }
    trainable_->to(device);
    max_len_ = std::min({c.max_len, tck.config.max_position_embeddings, sck.config.max_position_embeddings});
  }

  // DistillTaskHandle
  train::TrainingTask& task() override { return *this; }
  torch::nn::Module& teacher() override { return *teacher_; }
  torch::nn::Module& student() override { return *trainable_->student; }

  std::string stage() const override { return "distill"; }
  torch::nn::Module& module() override { return *trainable_; }
  void set_total_steps(int64_t n) { total_steps_ = n; }
  const text::LabelMap& labels() const { return labels_; }
  // Training examples (task) or packed sequences per epoch (general).
  virtual int64_t examples() const = 0;

  void write_model(const fs::path& dir, const Json& provenance) override {
    io::CheckpointInfo info{"distill", provenance};
    info.provenance["mode"] = c_.mode;
    info.provenance["teacher"] = c_.teacher;
    info.provenance["student_init"] = c_.student;
    info.provenance["layer_map"] = layer_map_;
    if (c_.mode == "general") info.provenance["shards"] = fs::absolute(c_.shards).string();
    io::write_checkpoint_files(dir, *trainable_->student, *tokenizer_, info);
    // Projections are training-only: kept beside the student for resume, never loaded by classify.
    std::vector<std::pair<std::string, torch::Tensor>> proj;
    for (const auto& p : trainable_->projections->named_parameters()) proj.emplace_back(p.key(), p.value());
    if (!proj.empty()) io::save_safetensors(dir / "distill_projections.safetensors", proj);
  }

  void load_for_resume(const fs::path& dir) override {
    const auto w = io::load_safetensors(dir / "model.safetensors").tensors;
    io::load_weights(*trainable_->student, w, dir.string());
    if (trainable_->projections->size() > 0) {
      const auto p = io::load_safetensors(dir / "distill_projections.safetensors").tensors;
      torch::NoGradGuard g;
      for (auto& param : trainable_->projections->named_parameters()) param.value().copy_(p.at(param.key()));
    }
  }

 protected:
  // Training progress in [0, 1] of the current step, for scheduled weights.
  double progress() const {
    return total_steps_ > 1 ? double(step_ - 1) / double(total_steps_ - 1) : 0.0;
  }

  model::ForwardOptions forward_options() const {
    model::ForwardOptions fo;
    fo.hidden_states = need_hidden_;
    fo.attentions = need_attention_;
    return fo;
  }

  // Embedding, hidden-state, Patient-KD and attention terms between mapped layers.
  void add_intermediate_terms(const model::EncoderOutput& s, const model::EncoderOutput& t, const torch::Tensor& mask,
                              LossSum& sum) {
    const auto& l = c_.loss;
    const auto project = [&](const torch::Tensor& h, size_t i) {
      if (trainable_->projections->size() == 0) return h;
      const size_t k = trainable_->projections->size() == 1 ? 0 : i;
      return trainable_->projections[k]->as<torch::nn::Linear>()->forward(h);
    };
    const auto zero = [&] { return torch::zeros({}, s.last_hidden.options().dtype(torch::kFloat32)); };
    if (l.embedding_weight > 0) {
      sum.add("loss_embedding", l.embedding_weight,
              distill::hidden_mse(project(s.hidden_states[0], layer_map_.size()), t.hidden_states[0], mask));
    }
    if (l.hidden_weight > 0 || l.pkd_weight > 0) {
      torch::Tensor hidden = zero(), pkd = zero();
      for (size_t i = 0; i < layer_map_.size(); ++i) {
        const auto sh = project(s.hidden_states[i + 1], i);
        const auto& th = t.hidden_states[static_cast<size_t>(layer_map_[i])];
        if (l.hidden_weight > 0) {
          hidden = hidden + (l.hidden == "mse" ? distill::hidden_mse(sh, th, mask) : distill::hidden_cosine(sh, th, mask));
        }
        if (l.pkd_weight > 0) pkd = pkd + distill::normalized_cls_mse(sh, th);
      }
      if (l.hidden_weight > 0) sum.add("loss_hidden", l.hidden_weight, hidden);
      if (l.pkd_weight > 0) sum.add("loss_pkd", l.pkd_weight, pkd);
    }
    if (need_attention_) {
      torch::Tensor att = zero();
      for (size_t i = 0; i < layer_map_.size(); ++i) {
        const size_t tl = static_cast<size_t>(layer_map_[i]) - 1;
        att = att + (l.attention == "scores_mse"
                         ? distill::attention_score_mse(s.attention_scores[i], t.attention_scores[tl], mask)
                         : distill::attention_kl(s.attention_probs[i], t.attention_probs[tl], mask));
      }
      sum.add("loss_attention", l.attention_weight, att);
    }
  }

  DistillConfig c_;
  torch::Device device_;
  model::BertConfig teacher_config_;
  model::Bert teacher_{nullptr};
  std::shared_ptr<Trainable> trainable_;
  std::unique_ptr<text::Tokenizer> tokenizer_;
  text::LabelMap labels_;
  std::vector<int64_t> layer_map_;
  bool need_hidden_ = false, need_attention_ = false;
  int64_t max_len_ = 0;
  int64_t step_ = 0, total_steps_ = 1;
};

// Task distillation on a labelled set: output terms, hard labels and any
// intermediate terms; model selection by dev accuracy or macro-F1.
class TaskDistill final : public DistillBase {
 public:
  TaskDistill(const DistillConfig& c, torch::Device device) : DistillBase(c, device) {
    auto train = text::read_labelled(c.train, c.data, true);
    train_y_ = text::encode_labels(train, labels_, c.data.bad_lines == "skip");
    auto dev = text::read_labelled(c.dev, c.data, true);
    dev_y_ = text::encode_labels(dev, labels_, c.data.bad_lines == "skip");
    if (train.examples.empty() || dev.examples.empty()) throw InputError("distill: empty training or dev data");
    for (const auto& e : train.examples) train_.push_back(text::encode_example(*tokenizer_, e.text, e.pair, max_len_));
    for (const auto& e : dev.examples) dev_.push_back(text::encode_example(*tokenizer_, e.text, e.pair, max_len_));
    logit_cache_.resize(train_.size());
    start_epoch();
  }

  // With layer-wise terms only (TinyBERT's first stage) the classifier is not
  // trained, so the best checkpoint is the one closest to the teacher on dev.
  bool intermediate_only() const {
    const auto& l = c_.loss;
    return l.output_weight <= 0 && l.output_weight_end <= 0 && l.hard_weight <= 0 && l.hard_weight_end <= 0;
  }
  std::string selection_metric() const override { return intermediate_only() ? "dev_distill_loss" : c_.metric; }
  bool higher_is_better() const override { return !intermediate_only(); }
  int64_t examples() const override { return static_cast<int64_t>(train_.size()); }

  train::StepOutput forward_step() override {
    if (batch_pos_ >= batches_.size()) {
      ++epoch_;
      start_epoch();
    }
    const auto& rows = batches_[batch_pos_++];
    ++step_;
    const auto b = text::make_batch(train_, rows, &train_y_);
    const auto ids = b.input_ids.to(device_), mask = b.attention_mask.to(device_), seg = b.token_type_ids.to(device_);
    const auto& l = c_.loss;
    const double T = scheduled(l.temperature, l.temperature_end, progress());
    const double w_out = scheduled(l.output_weight, l.output_weight_end, progress());
    const double w_hard = scheduled(l.hard_weight, l.hard_weight_end, progress());

    const auto fo = forward_options();
    // Teacher: no gradients, outputs cached per example when only logits are needed.
    torch::Tensor t_logits;
    model::EncoderOutput t_out;
    const bool cacheable = c_.cache_teacher_logits && !need_hidden_ && !need_attention_;
    bool cached = cacheable;
    for (size_t r : rows) cached = cached && logit_cache_[r].defined();
    if (cached) {
      std::vector<torch::Tensor> parts;
      for (size_t r : rows) parts.push_back(logit_cache_[r]);
      t_logits = torch::stack(parts).to(device_);
    } else {
      torch::NoGradGuard no_grad;
      t_out = teacher_->encode(ids, mask, seg, fo);
      t_logits = teacher_->classify(t_out.pooled).to(torch::kFloat32);
      if (cacheable) {
        auto cpu = t_logits.to(torch::kCPU);
        for (size_t i = 0; i < rows.size(); ++i) logit_cache_[rows[i]] = cpu[static_cast<int64_t>(i)].clone();
      }
    }
    auto& student = *trainable_->student;
    const auto s_out = student.encode(ids, mask, seg, fo);
    const auto s_logits = student.classify(s_out.pooled).to(torch::kFloat32);

    LossSum sum;
    if (w_out > 0) {
      if (l.output == "kl") sum.add("loss_output", w_out, distill::kl_logits(s_logits, t_logits, T, l.t2_scale));
      else if (l.output == "soft_ce") sum.add("loss_output", w_out, distill::soft_cross_entropy(s_logits, t_logits, T, l.t2_scale));
      else sum.add("loss_output", w_out, distill::logit_mse(s_logits, t_logits));
    }
    if (w_hard > 0) sum.add("loss_hard", w_hard, distill::hard_cross_entropy(s_logits, b.labels.to(device_)));
    if (need_hidden_ || need_attention_) add_intermediate_terms(s_out, t_out, mask, sum);
    if (!sum.total.defined()) sum.total = (s_logits * 0).sum();  // every scheduled weight is 0 at this step
    train::StepOutput out;
    out.terms = std::move(sum.terms);
    out.terms["temperature"] = T;
    out.loss = sum.total;
    out.tokens = b.attention_mask.sum().item<int64_t>();
    out.examples = static_cast<int64_t>(rows.size());
    return out;
  }

  train::EvalResult evaluate() override {
    auto probs = predict_probabilities(*trainable_->student, dev_, c_.batch_size, device_);
    auto pred = probs.argmax(1);
    std::vector<int64_t> p(pred.data_ptr<int64_t>(), pred.data_ptr<int64_t>() + pred.numel());
    const auto m = eval::classification_metrics(dev_y_, p, labels_.size());
    train::EvalResult r{{{"accuracy", m.accuracy}, {"macro_f1", m.macro_f1}}};
    if (intermediate_only()) {
      // The weighted layer-wise loss on dev, per example.
      torch::NoGradGuard no_grad;
      const auto fo = forward_options();
      double sum = 0;
      for (const auto& rows : text::sorted_batches(dev_, c_.batch_size)) {
        const auto b = text::make_batch(dev_, rows);
        const auto ids = b.input_ids.to(device_), mask = b.attention_mask.to(device_), seg = b.token_type_ids.to(device_);
        const auto t_out = teacher_->encode(ids, mask, seg, fo);
        const auto s_out = trainable_->student->encode(ids, mask, seg, fo);
        LossSum terms;
        add_intermediate_terms(s_out, t_out, mask, terms);
        sum += terms.total.item<double>() * static_cast<double>(rows.size());
      }
      r.metrics["dev_distill_loss"] = sum / static_cast<double>(dev_.size());
    }
    return r;
  }

  Json data_state() const override { return Json{{"epoch", epoch_}, {"batch", batch_pos_}, {"step", step_}}; }
  void restore_data_state(const Json& s) override {
    epoch_ = s.at("epoch").get<int64_t>();
    start_epoch();
    batch_pos_ = s.at("batch").get<size_t>();
    step_ = s.at("step").get<int64_t>();
  }

 private:
  void start_epoch() {
    std::mt19937_64 rng(c_.run.seed * 7919ULL + static_cast<uint64_t>(epoch_));
    batches_ = text::bucketed_batches(train_, c_.batch_size, rng);
    batch_pos_ = 0;
  }

  std::vector<text::Encoded> train_, dev_;
  std::vector<int64_t> train_y_, dev_y_;
  std::vector<torch::Tensor> logit_cache_;
  int64_t epoch_ = 0;
  std::vector<std::vector<size_t>> batches_;
  size_t batch_pos_ = 0;
};

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
    corpus_ = std::make_unique<text::ShardCorpus>(data / "shards");
    if (corpus_->vocab_size() != teacher_config_.vocab_size) {
      throw InputError(c.shards + ": shards have vocabulary " + std::to_string(corpus_->vocab_size()) +
                       " but the teacher has " + std::to_string(teacher_config_.vocab_size));
    }
    if (max_len_ < 8) throw ConfigError("max_len: must be >= 8 for general distillation");
    const auto split = text::hold_out_every(*corpus_, c.validation_every, c.shards);
    sequences_ = text::packed_sequences(*corpus_, split.train, max_len_);
    log::info("general distillation data: ", split.train.size(), " training documents (~", sequences_,
              " sequences of ", max_len_, " per epoch), ", split.validation.size(), " held out");
    packer_ = std::make_unique<text::SequencePacker>(*corpus_, split.train, max_len_, c.run.seed, true,
                                                      tokenizer_->special_ids());
    val_ids_ = text::pack_fixed(*corpus_, split.validation, max_len_, c.eval_sequences, c.run.seed,
                                tokenizer_->special_ids());
    if (mlm()) {
      masker_ = std::make_unique<text::Masker>(c.masking, *tokenizer_, c.run.seed + 17);
      text::Masker val_masker(c.masking, *tokenizer_, 12345);
      val_labels_ = val_masker.mask(val_ids_);
    }
  }

  std::string selection_metric() const override { return "val_loss"; }
  bool higher_is_better() const override { return false; }
  int64_t examples() const override { return sequences_; }

  train::StepOutput forward_step() override {
    ++step_;
    std::vector<int64_t> flat;
    flat.reserve(static_cast<size_t>(c_.batch_size * max_len_));
    for (int64_t i = 0; i < c_.batch_size; ++i) {
      auto s = packer_->next();
      flat.insert(flat.end(), s.begin(), s.end());
    }
    auto ids = torch::tensor(flat, torch::kLong).view({c_.batch_size, max_len_});
    torch::Tensor labels;
    if (mlm()) labels = masker_->mask(ids);
    LossSum sum = losses(ids, labels);
    train::StepOutput out;
    out.loss = sum.total;
    out.terms = std::move(sum.terms);
    out.tokens = ids.numel();
    out.examples = c_.batch_size;
    return out;
  }

  train::EvalResult evaluate() override {
    torch::NoGradGuard no_grad;
    std::map<std::string, double> totals;
    double weighted = 0;
    const int64_t n = val_ids_.size(0);
    for (int64_t b = 0; b < n; b += c_.batch_size) {
      const int64_t e = std::min(n, b + c_.batch_size);
      const auto sum = losses(val_ids_.slice(0, b, e), mlm() ? val_labels_.slice(0, b, e) : torch::Tensor());
      const double w = double(e - b) / double(n);
      weighted += sum.total.item<double>() * w;
      for (const auto& [k, v] : sum.terms) totals["val_" + k] += v * w;
    }
    totals["val_loss"] = weighted;
    return {totals};
  }

  Json data_state() const override {
    Json s{{"packer", packer_->state()}, {"step", step_}};
    if (masker_) s["masker"] = masker_->state();
    return s;
  }
  void restore_data_state(const Json& s) override {
    packer_->restore(s.at("packer"));
    if (masker_) masker_->restore(s.at("masker").get<std::string>());
    step_ = s.at("step").get<int64_t>();
  }

 private:
  bool mlm() const { return c_.loss.mlm_weight > 0; }

  // All terms for one batch of packed sequences (no padding); labels are the
  // masked-LM targets when the masked-LM term is on.
  LossSum losses(const torch::Tensor& ids_cpu, const torch::Tensor& labels_cpu) {
    const auto ids = ids_cpu.to(device_);
    const auto mask = torch::ones_like(ids);
    auto fo = forward_options();
    fo.pooled = false;
    model::EncoderOutput t_out;
    if (need_hidden_ || need_attention_) {
      torch::NoGradGuard no_grad;
      t_out = teacher_->encode(ids, mask, {}, fo);
    }
    auto& student = *trainable_->student;
    const auto s_out = student.encode(ids, mask, {}, fo);
    LossSum sum;
    if (need_hidden_ || need_attention_) add_intermediate_terms(s_out, t_out, mask, sum);
    if (mlm()) sum.add("loss_mlm", c_.loss.mlm_weight, student.masked_lm_loss(s_out.last_hidden, labels_cpu.to(device_)));
    return sum;
  }

  std::unique_ptr<text::ShardCorpus> corpus_;
  std::unique_ptr<text::SequencePacker> packer_;
  std::unique_ptr<text::Masker> masker_;
  torch::Tensor val_ids_, val_labels_;
  int64_t sequences_ = 0;
};

std::unique_ptr<DistillBase> make_task(const DistillConfig& c, torch::Device device) {
  if (c.mode == "general") return std::make_unique<GeneralDistill>(c, device);
  return std::make_unique<TaskDistill>(c, device);
}

}  // namespace

std::unique_ptr<DistillTaskHandle> make_distill_task(const DistillConfig& c, torch::Device device) {
  auto task = make_task(c, device);
  task->set_total_steps(c.resolved_trainer(task->examples()).max_steps);
  return task;
}

Json run_distill(const DistillConfig& c, torch::Device device) {
  const fs::path out(c.output);
  const auto resume_from = train::Trainer::prepare_run_directory(out, c.resume, c.overwrite);
  torch::manual_seed(c.run.seed);
  auto task = make_task(c, device);
  const auto topts = c.resolved_trainer(task->examples());
  task->set_total_steps(topts.max_steps);
  Json resolved = to_json(c);
  resolved["trainer"]["max_steps"] = topts.max_steps;
  resolved["trainer"]["eval_every"] = topts.eval_every;
  io::write_file_atomic(out / "config.json", resolved.dump(2) + "\n");
  log::info("distill (", c.mode, "): ", task->examples(), c.mode == "general" ? " sequences" : " training examples",
            " per epoch, ", topts.max_steps, " steps");
  train::Trainer trainer(topts, out, device, c.run.seed);
  const auto result = trainer.run(*task, resume_from);
  if (result.stopped) return Json{{"stopped_at_step", result.steps}};  // metrics.json marks a finished run

  Json metrics{{"mode", c.mode}, {"best_checkpoint", (out / "best").string()}, {"steps", result.steps},
               {"train_seconds", result.seconds}};
  if (c.mode == "general") {
    for (const auto& [k, v] : result.last_eval) metrics[k] = v;
    if (result.best_metric) metrics["best_val_loss"] = *result.best_metric;
    io::write_file_atomic(out / "metrics.json", metrics.dump(2) + "\n");
    log::info("general distillation done: best held-out loss ",
              log::fixed(result.best_metric ? *result.best_metric : 0.0, 4), " -> ", (out / "best").string());
    return metrics;
  }
  // Report the best student on dev (and test).
  auto best = io::read_checkpoint(out / "best");
  model::Bert m(best.config, model::Heads::kClassifier);
  io::load_weights(*m, best.weights, (out / "best").string());
  m->to(device);
  m->eval();
  torch::InferenceMode guard;
  metrics["parameters"] = m->parameter_count().total;
  for (const auto& [name, path] : {std::pair<const char*, std::string>{"dev", c.dev}, {"test", c.test}}) {
    if (path.empty()) continue;
    metrics[name] = evaluate_classifier_on_file(*m, *best.tokenizer, task->labels(), c.data, path, c.max_len,
                                                c.batch_size, device);
  }
  io::write_file_atomic(out / "metrics.json", metrics.dump(2) + "\n");
  log::info("distill done: dev ", c.metric, " ", log::fixed(metrics["dev"][c.metric].get<double>(), 4), " -> ",
            (out / "best").string());
  return metrics;
}

}  // namespace kdtext::stages
