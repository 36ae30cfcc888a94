// The two training tasks of kdtext-distill (task and general), its store of
// general runs and its teacher-logits cache key. Each task wires a data feed
// (feed/feeds.h), the frozen teacher, the student and the objective
// (distill/objective.h) into a train::TrainingTask.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kdtext/distill/objective.h"
#include "kdtext/distill/student.h"
#include "kdtext/model/bert.h"
#include "kdtext/distill/config.h"
#include "kdtext/feed/batching.h"
#include "kdtext/text/labelled.h"
#include "kdtext/text/tokenizer.h"
#include "kdtext/train/trainer.h"

namespace kdtext::distill {

// What task and general distillation share: the frozen teacher, the student
// and the objective with its projections (student + projections are trained).
class DistillBase : public train::TrainingTask {
 public:
  DistillBase(const DistillConfig& c, torch::Device device);

  std::string stage() const override { return "distill"; }
  torch::nn::Module& module() override { return *trainable_; }
  void write_model(const std::filesystem::path& dir, const Json& provenance) override;
  void load_for_resume(const std::filesystem::path& dir) override;

  void set_total_steps(int64_t n) { total_steps_ = n; }
  // Training examples (task) or packed sequences per epoch (general).
  virtual int64_t examples() const = 0;

 protected:
  // Training progress in [0, 1] of the current step, for scheduled weights.
  double progress() const { return total_steps_ > 1 ? double(step_ - 1) / double(total_steps_ - 1) : 0.0; }
  // The transformer student (general distillation, layer-wise terms): only
  // such students get there (checked at construction).
  model::BertImpl& bert_student() { return *student_->bert(); }

  // Student + projections: the parameters distillation trains.
  struct Trainable : torch::nn::Module {
    std::shared_ptr<torch::nn::Module> student;
    torch::nn::ModuleList projections{nullptr};
  };

  DistillConfig c_;
  torch::Device device_;
  model::BertConfig teacher_config_;
  model::Bert teacher_{nullptr};
  std::unique_ptr<Student> student_;
  std::shared_ptr<Trainable> trainable_;
  std::unique_ptr<distill::DistillObjective> objective_;
  std::unique_ptr<text::Tokenizer> tokenizer_;
  text::LabelMap labels_;
  int64_t max_len_ = 0;
  int64_t step_ = 0, total_steps_ = 1;
};

std::unique_ptr<DistillBase> make_task_distill(const DistillConfig& c, torch::Device device);
std::unique_ptr<DistillBase> make_general_distill(const DistillConfig& c, torch::Device device);
// The key a general distillation is stored under: the teacher's and the
// initial student's weights (content, not paths), the token shards' content,
// the time budget, the device kind and every setting that changes training
// (paths, logging and checkpoint cadence left out).
Json store_key(const DistillConfig& c, torch::Device device);
// --store: sets c.output to <store>/general-<key> (resuming an unfinished run
// there), or gives the metrics of a finished run with the same key.
struct StorePlacement {
  Json key;                   // written to <run>/store_key.json when the run finishes
  std::optional<Json> reused;  // metrics of the finished run being reused
};
StorePlacement place_in_store(DistillConfig& c, torch::Device device);
void finish_store_run(const std::filesystem::path& dir, const Json& key);
// Prints a store run's directory on standard output (for scripts).
void announce_store_run(const std::filesystem::path& dir);
// What a teacher-logits cache file (--teacher-logits) records and is checked
// against: the teacher's weights, the encoded inputs, their count, max_len
// and the sentence target cached beside the logits ("none", "pooled", "cls").
std::map<std::string, std::string> teacher_logits_key(const std::string& teacher,
                                                      const std::vector<feed::Encoded>& inputs, int64_t max_len,
                                                      const std::string& sentence_target);
// The task for c.mode.
std::unique_ptr<DistillBase> make_distill_task(const DistillConfig& c, torch::Device device);

}  // namespace kdtext::distill
