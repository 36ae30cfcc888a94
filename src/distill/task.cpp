// Task distillation: a labelled set, every loss term.
#include <algorithm>
#include <filesystem>

#include "kdtext/distill/tasks.h"
#include "kdtext/parallel/group.h"
#include "kdtext/eval/metrics.h"
#include "kdtext/infer/predict.h"
#include "kdtext/io/safetensors.h"
#include "kdtext/util/fault.h"
#include "kdtext/util/log.h"
#include "kdtext/util/progress.h"
#include "kdtext/feed/feeds.h"
#include "kdtext/error.h"

namespace kdtext::distill {
namespace fs = std::filesystem;

namespace {

feed::EncodedSet read_set(const DistillConfig& c, const std::string& path, const text::LabelMap& labels,
                          const text::Tokenizer& tokenizer, int64_t max_len) {
  auto data = text::read_labelled(path, c.data, true);
  return feed::encode_labelled(data, labels, c.data, tokenizer, max_len);
}

// The training set: --train, then the --transfer lines (label -1 until the teacher labels them).
feed::EncodedSet read_training_set(const DistillConfig& c, const text::LabelMap& labels,
                                   const text::Tokenizer& tokenizer, int64_t max_len) {
  auto set = read_set(c, c.train, labels, tokenizer, max_len);
  if (c.transfer.empty()) return set;
  for (const auto& [key, held_out] : {std::pair<const char*, std::string>{"dev", c.dev}, {"test", c.test}}) {
    std::error_code ec;
    if (!held_out.empty() && fs::equivalent(c.transfer, held_out, ec)) {
      throw ConfigError("transfer: " + c.transfer + " is the " + key + " set; the student would be trained on the text "
                        "it is evaluated on (name other text)");
    }
  }
  // A labelled file (.tsv, .csv, .jsonl) gives its text column, its labels left aside; any other, one text a line.
  text::LabelledFormat lines = c.data;
  lines.format = text::detect_format(c.transfer, text::DataFormat::kAuto);
  const bool labelled = c.transfer != "-" && lines.format != text::DataFormat::kLines &&
                        fs::path(c.transfer).extension() != "" && fs::path(c.transfer).extension() != ".txt";
  if (!labelled) lines.format = text::DataFormat::kLines;
  auto data = text::read_labelled(c.transfer, lines, /*need_labels=*/false);
  if (labelled) {
    log::info("transfer: ", c.transfer, " is a ", choice_name(lines.format, text::kDataFormats),
              " file: its text column '", lines.text_column, "' is read, any labels left aside (the teacher labels it)");
  }
  auto inputs = feed::encode_examples(tokenizer, data.examples, max_len);
  set.inputs.insert(set.inputs.end(), std::make_move_iterator(inputs.begin()), std::make_move_iterator(inputs.end()));
  set.labels.resize(set.inputs.size(), -1);
  log::info("transfer set: ", inputs.size(), " unlabelled texts from ", c.transfer, " beside ",
            set.labels.size() - inputs.size(), " labelled examples");
  return set;
}

// Task distillation: output terms, hard labels and any intermediate terms;
// model selection by dev accuracy or macro-F1 (or, with layer-wise terms
// only, by the distillation loss on dev: the classifier is not trained then).
class TaskDistill final : public DistillBase {
 public:
  TaskDistill(const DistillConfig& c, torch::Device device)
      : DistillBase(c, device), batches_(read_training_set(c, labels_, *tokenizer_, max_len_), c.batch_size, c.run.seed,
                 feed::DataShard{parallel::rank(), parallel::world_size()}),
        dev_(read_set(c, c.dev, labels_, *tokenizer_, max_len_)) {
    if (batches_.data().size() == 0 || dev_.size() == 0) throw InputError("distill: empty training or dev data");
    if (!needs_teacher() && !has_transfer_rows()) {
      log::info("no term reads the teacher (hard labels only): its logits are not computed");
    } else if (!c.teacher_logits.empty()) {
      fill_logit_cache_from_file();
    } else if (cacheable()) {
      // All at once, before the first step, in batches of their own: an
      // example's logits then never depend on the training batch it first
      // met or on the step a run was resumed at (resume stays bit-exact).
      fill_logit_cache(teacher_logits_on_training_set());
      log::info("teacher logits computed for ", batches_.data().size(), " training examples");
    }
    label_transfer_rows();
  }

  bool intermediate_only() const { return c_.loss.intermediate_only(); }
  std::string selection_metric() const override { return intermediate_only() ? "dev_distill_loss" : c_.metric; }
  bool higher_is_better() const override { return !intermediate_only(); }
  int64_t examples() const override { return static_cast<int64_t>(batches_.data().size()); }

  train::StepOutput forward_step() override {
    const auto b = batches_.next();
    ++step_;
    if (b.index.empty()) return {};  // data parallel: no rows of the epoch's short last batch for this process
    const auto ids = b.input_ids.to(device_), mask = b.attention_mask.to(device_), seg = b.token_type_ids.to(device_);
    const auto teacher = teacher_outputs(b.index, ids, mask, seg);
    const auto s = student_->forward(ids, mask, seg, objective_->forward_options());
    auto sum = objective_->compute(s, teacher, mask, b.labels.to(device_), progress());
    train::StepOutput out;
    out.terms = std::move(sum.values);
    out.terms["temperature"] = objective_->temperature(progress());
    out.loss = sum.total;
    out.tokens = b.attention_mask.sum().item<int64_t>();
    out.examples = static_cast<int64_t>(b.index.size());
    return out;
  }

  train::EvalResult evaluate() override {
    auto pred = student_->predict_logits(dev_.inputs, c_.batch_size, device_).argmax(1);
    std::vector<int64_t> p(pred.data_ptr<int64_t>(), pred.data_ptr<int64_t>() + pred.numel());
    const auto m = eval::classification_metrics(dev_.labels, p, labels_.size());
    train::EvalResult r{{{"accuracy", m.accuracy}, {"macro_f1", m.macro_f1}}};
    if (intermediate_only()) r.metrics["dev_distill_loss"] = dev_distill_loss();
    return r;
  }

  Json data_state() const override {
    Json s = batches_.state();
    s["step"] = step_;
    return s;
  }
  void restore_data_state(const Json& s) override {
    batches_.restore(s);
    step_ = s.at("step").get<int64_t>();
  }

 private:
  // Whether any term reads the teacher's outputs at some point of training.
  bool needs_teacher() const {
    const auto& l = c_.loss;
    return l.output_weight > 0 || l.output_weight_end > 0 || objective_->needs_teacher_sentence() ||
           objective_->needs_teacher_internals();
  }
  bool has_transfer_rows() const {
    const auto& labels = batches_.data().labels;
    return std::any_of(labels.begin(), labels.end(), [](int64_t l) { return l < 0; });
  }

  // Only the teacher's logits (and sentence targets) are needed: computed once per example.
  bool cacheable() const { return c_.cache_teacher_logits && !objective_->needs_teacher_internals(); }
  int64_t num_labels() const { return static_cast<int64_t>(labels_.size()); }
  // Cached per example: the K logits, then the sentence target when that term is on.
  int64_t cache_width() const {
    return num_labels() + (objective_->needs_teacher_sentence() ? teacher_config_.hidden_size : 0);
  }

  // Teacher outputs without gradients; the cached logits when only they are needed.
  distill::ModelOutputs teacher_outputs(const std::vector<size_t>& rows, const torch::Tensor& ids,
                                        const torch::Tensor& mask, const torch::Tensor& seg) {
    distill::ModelOutputs t;
    if (!needs_teacher()) return t;  // hard labels only
    if (cacheable()) {  // filled for every example before the first step
      const auto index = torch::tensor(std::vector<int64_t>(rows.begin(), rows.end()), torch::kLong);
      const auto rows_out = logit_cache_.index_select(0, index).to(device_);
      t.logits = rows_out.narrow(1, 0, num_labels());
      if (objective_->needs_teacher_sentence()) t.sentence = rows_out.narrow(1, num_labels(), teacher_config_.hidden_size);
      return t;
    }
    torch::NoGradGuard no_grad;
    t.encoder = teacher_->encode(ids, mask, seg, objective_->forward_options());
    t.logits = teacher_->classify(t.encoder.pooled).to(torch::kFloat32);
    return t;
  }

  // What the cache holds for `inputs`: [N, cache_width()], with a progress line every 10 s.
  torch::Tensor teacher_rows(const std::vector<feed::Encoded>& inputs) {
    Progress progress("teacher logits", static_cast<double>(inputs.size()), "examples", 1.0, 10.0);
    double done = 0;
    return teacher_rows(inputs, progress, done);
  }
  torch::Tensor teacher_rows(const std::vector<feed::Encoded>& inputs, Progress& progress, double& done) {
    const auto forward = [&](const feed::Batch& b) {
      progress.update(done += static_cast<double>(b.input_ids.size(0)));
      const auto e = teacher_->encode(b.input_ids.to(device_), b.attention_mask.to(device_),
                                      b.token_type_ids.to(device_), model::ForwardOptions{});
      auto row = teacher_->classify(e.pooled).to(torch::kFloat32);
      if (objective_->needs_teacher_sentence()) row = torch::cat({row, objective_->teacher_sentence(e).to(torch::kFloat32)}, 1);
      return row.to(torch::kCPU);
    };
    return infer::predict_rows(inputs, c_.batch_size, cache_width(), forward);
  }

  // The teacher's rows on the training set written to `file` a slice at a
  // time: memory never holds more than one slice of them (the file is then
  // mapped, not read: a transfer set's cache may exceed memory).
  void write_teacher_rows(const fs::path& file, const std::map<std::string, std::string>& key) {
    torch::NoGradGuard no_grad;
    constexpr size_t kSlice = 65536;
    const auto& inputs = batches_.data().inputs;
    io::SafetensorsRowWriter out(file, "logits", torch::kFloat32,
                                 {static_cast<int64_t>(inputs.size()), cache_width()}, key);
    Progress progress("teacher logits", static_cast<double>(inputs.size()), "examples", 1.0, 10.0);
    double done = 0;
    for (size_t begin = 0; begin < inputs.size(); begin += kSlice) {
      const auto end = inputs.begin() + static_cast<std::ptrdiff_t>(std::min(begin + kSlice, inputs.size()));
      out.append(teacher_rows(std::vector<feed::Encoded>(inputs.begin() + static_cast<std::ptrdiff_t>(begin), end),
                              progress, done));
    }
    out.commit();
  }

  // Data parallel: each process scores every N-th example, then all share them.
  torch::Tensor teacher_logits_on_training_set() {
    torch::NoGradGuard no_grad;  // plain tensors: they meet the student's graph in the loss
    const auto& inputs = batches_.data().inputs;
    auto* group = parallel::process_group();
    if (group == nullptr) return teacher_rows(inputs);
    const int world = group->size();
    std::vector<std::vector<int64_t>> rows(static_cast<size_t>(world));
    for (size_t i = 0; i < inputs.size(); ++i) rows[i % static_cast<size_t>(world)].push_back(static_cast<int64_t>(i));
    std::vector<feed::Encoded> mine;
    for (int64_t i : rows[static_cast<size_t>(group->rank())]) mine.push_back(inputs[static_cast<size_t>(i)]);
    const auto k = cache_width();
    const auto part = mine.empty() ? torch::empty({0, k}) : teacher_rows(mine);
    auto all = torch::empty({static_cast<int64_t>(inputs.size()), k});
    for (int root = 0; root < world; ++root) {
      const auto& r = rows[static_cast<size_t>(root)];
      if (r.empty()) continue;
      auto t = (root == group->rank() ? part : torch::empty({static_cast<int64_t>(r.size()), k})).to(device_);
      group->broadcast({t}, root);
      all.index_copy_(0, torch::tensor(r, torch::kLong), t.cpu());
    }
    return all;
  }

  // A mapped file's tensor stays mapped (contiguous CPU: no copy).
  void fill_logit_cache(const torch::Tensor& logits) { logit_cache_ = logits.to(torch::kCPU).contiguous(); }

  // The transfer rows' hard label: the teacher's most probable class.
  void label_transfer_rows() {
    if (!has_transfer_rows()) return;
    const auto& labels = batches_.data().labels;
    const auto best = logit_cache_.narrow(1, 0, num_labels()).argmax(1).contiguous();
    const int64_t* b = best.data_ptr<int64_t>();
    for (size_t r = 0; r < labels.size(); ++r) {
      if (labels[r] < 0) batches_.set_label(r, b[r]);
    }
  }

  // Teacher logits on the whole training set from `teacher_logits`, or
  // computed now (one batched pass) and written there. The file records the
  // teacher's weights, the encoded inputs and max_len it was made from; on a
  // mismatch it is recomputed, and the log says so.
  void fill_logit_cache_from_file() {
    const fs::path file(c_.teacher_logits);
    const auto& inputs = batches_.data().inputs;
    const auto key = teacher_logits_key(c_.teacher, inputs, max_len_, sentence_target_name());
    torch::Tensor logits;
    if (fs::exists(file)) logits = read_logit_cache(file, key);  // before any process writes it (the writer does, after the collective pass)
    bool compute = !logits.defined();
    if (auto* group = parallel::process_group()) compute = group->max({compute ? 1.0 : 0.0})[0] > 0;  // all or none
    if (compute && parallel::process_group()) {
      logits = teacher_logits_on_training_set();
      auto meta = key;
      meta[io::kDataCrcKey] = io::data_crc32(logits);
      if (parallel::is_writer()) io::save_safetensors(file, {{"logits", logits}}, meta);
    } else if (compute) {
      write_teacher_rows(file, key);
      crash_point("distill.teacher_logits");  // the cache written, training not begun
      logits = io::map_safetensors(file).tensors.at("logits");
    }
    if (compute) log::info("teacher logits for ", inputs.size(), " training examples written to ", file.string());
    fill_logit_cache(logits);
  }

  // The cached rows when `file` was made for `key` and is intact (its CRC-32 as
  // recorded); undefined otherwise, with a line saying why it is computed again.
  torch::Tensor read_logit_cache(const fs::path& file, const std::map<std::string, std::string>& key) const {
    io::SafetensorsFile cached;
    try {
      cached = io::map_safetensors(file);
    } catch (const InputError& e) {
      log::warn(file.string(), " is damaged (", e.what(), "): computing it again");
      return {};
    }
    auto other = cached.metadata;
    const std::string crc = other.count(io::kDataCrcKey) ? other[io::kDataCrcKey] : "";
    other.erase(io::kDataCrcKey);
    const bool own = other == key;
    // a cache that also holds sentence vectors serves a student that needs none
    if (key.at("sentence_target") == "none" && other.count("sentence_target")) other["sentence_target"] = "none";
    const auto it = cached.tensors.find("logits");
    if (other != key || it == cached.tensors.end() || it->second.dim() != 2 || it->second.size(1) < num_labels()) {
      log::info(file.string(), " was made for another teacher, training set or max_len: computing it again");
      return {};
    }
    if (crc.empty() || io::data_crc32(it->second) != crc) {
      log::warn(file.string(), crc.empty() ? " has no checksum (an earlier kdtext wrote it)" : " fails its checksum (damaged)",
                ": computing it again");
      return {};
    }
    log::info("teacher logits for ", it->second.size(0), " training examples read from ", file.string(),
              own ? "" : " (its sentence vectors left aside)");
    return own ? it->second : it->second.narrow(1, 0, num_labels());
  }

  std::string sentence_target_name() const {
    return objective_->needs_teacher_sentence() ? choice_name(c_.loss.sentence_target, kSentenceTargets) : "none";
  }

  // The weighted intermediate loss on dev, per example.
  double dev_distill_loss() {
    torch::NoGradGuard no_grad;
    const auto fo = objective_->forward_options();
    double sum = 0;
    for (const auto& rows : feed::sorted_batches(dev_.inputs, c_.batch_size)) {
      const auto b = feed::make_batch(dev_.inputs, rows);
      const auto ids = b.input_ids.to(device_), mask = b.attention_mask.to(device_), seg = b.token_type_ids.to(device_);
      distill::ModelOutputs t_out;
      t_out.encoder = teacher_->encode(ids, mask, seg, fo);
      const auto s_out = student_->forward(ids, mask, seg, fo);
      distill::LossTerms terms;
      objective_->add_intermediate(s_out, t_out, mask, terms);
      sum += terms.total.item<double>() * static_cast<double>(rows.size());
    }
    return sum / static_cast<double>(dev_.size());
  }

  feed::LabelledBatches batches_;
  feed::EncodedSet dev_;
  torch::Tensor logit_cache_;  // [training rows, cache_width()] on the CPU, when cacheable
};

}  // namespace

std::unique_ptr<DistillBase> make_task_distill(const DistillConfig& c, torch::Device device) {
  return std::make_unique<TaskDistill>(c, device);
}

}  // namespace kdtext::distill
