#include <filesystem>

#include "kdtext/distill/tasks.h"
#include "kdtext/infer/predict.h"
#include "kdtext/io/checkpoint.h"
#include "kdtext/io/safetensors.h"
#include "kdtext/io/sentence_checkpoint.h"
#include "kdtext/util/log.h"
#include "kdtext/error.h"

namespace kdtext::distill {
namespace fs = std::filesystem;

namespace {

void check_same_tokenizer(const DistillConfig& c, const text::Tokenizer& teacher, const text::Tokenizer& student) {
  if (teacher.fingerprint() != student.fingerprint()) {
    throw InputError(c.student + ": its tokenizer (" + student.fingerprint() + ") differs from the teacher's (" +
                     teacher.fingerprint() + "); build the student from this teacher");
  }
}

// The teacher and student as distillation loads them: which heads each
// keeps and which stored weights may be missing or left over.
struct LoadPlan {
  model::Heads teacher_heads = model::Heads::kClassifier, student_heads = model::Heads::kClassifier;
  io::LoadRules teacher_rules, student_rules;
  model::BertConfig student_config;
};

LoadPlan plan_loading(const DistillConfig& c, const io::Checkpoint& tck, const io::Checkpoint& sck) {
  check_same_tokenizer(c, *tck.tokenizer, *sck.tokenizer);
  LoadPlan p;
  p.student_config = sck.config;
  if (c.mode == DistillMode::kGeneral) {
    // Only the encoders are compared; the student keeps whatever head it has.
    p.teacher_heads = model::Heads::kNone;
    p.teacher_rules.allow_unexpected_prefixes = {"cls.", "classifier."};
    p.student_heads = sck.heads;
    if (c.loss.mlm_weight > 0 && sck.heads != model::Heads::kMaskedLM) {
      throw InputError(c.student + ": loss.mlm_weight needs a student with a masked-LM head; build it from the "
                                   "pretrained (not the fine-tuned) teacher, or set loss.mlm_weight to 0");
    }
    return p;
  }
  if (tck.heads != model::Heads::kClassifier) {
    throw InputError(c.teacher + ": the teacher has no classification head; fine-tune it first (or use mode general)");
  }
  if (sck.heads == model::Heads::kClassifier) {
    if (tck.config.labels != sck.config.labels) throw InputError(c.student + ": its labels differ from the teacher's");
  } else {
    // A generally distilled student: a new classifier for the teacher's labels.
    log::info("the student has no classification head: starting one for the teacher's ", tck.config.labels.size(),
              " labels");
    p.student_config.labels = tck.config.labels;
    p.student_rules.allow_missing_prefixes = {"classifier."};
    p.student_rules.allow_unexpected_prefixes = {"cls."};
  }
  return p;
}

}  // namespace

namespace {
// A bilstm, cnn or bag student: task mode, the teacher's tokenizer and labels.
std::unique_ptr<Student> load_sentence_student(const DistillConfig& c, const io::Checkpoint& tck,
                                               std::unique_ptr<text::Tokenizer>& tokenizer) {
  auto sck = io::read_sentence_checkpoint(c.student);
  const std::string arch = choice_name(sck.config.arch, model::kSentenceArchs);
  if (c.mode == DistillMode::kGeneral) {
    throw ConfigError("mode: general distillation trains transformer students; " + c.student + " is a " + arch +
                      " student (distil it with mode task)");
  }
  if (tck.heads != model::Heads::kClassifier) {
    throw InputError(c.teacher + ": the teacher has no classification head; fine-tune it first");
  }
  check_same_tokenizer(c, *tck.tokenizer, *sck.tokenizer);
  if (tck.config.labels != sck.labels) throw InputError(c.student + ": its labels differ from the teacher's");
  tokenizer = std::move(sck.tokenizer);
  // the weights, their gradients and Adam's two moments (the tables' sparse gradients: at most as large)
  model::check_fits_in_memory(sck.config, c.student + "/config.json", 4, "train as the student");
  return make_sentence_student(io::load_sentence_classifier(sck));
}
}  // namespace

DistillBase::DistillBase(const DistillConfig& c, torch::Device device) : c_(c), device_(device) {
  auto tck = io::read_checkpoint(c.teacher);
  LoadPlan plan;
  if (io::architecture_at(c.student) != "bert") {
    student_ = load_sentence_student(c, tck, tokenizer_);
  } else {
    auto sck = io::read_checkpoint(c.student);
    plan = plan_loading(c, tck, sck);
    model::check_fits_in_memory(plan.student_config, c.student + "/config.json", 4, "train as the student");
    model::Bert s(plan.student_config, plan.student_heads);
    io::load_weights(*s, sck.weights, c.student, plan.student_rules);
    infer::checked_max_len(c.max_len, sck.config, "max_len");
    student_ = make_bert_student(s);
    tokenizer_ = std::move(sck.tokenizer);
  }
  teacher_config_ = tck.config;
  teacher_ = model::Bert(tck.config, plan.teacher_heads);
  io::load_weights(*teacher_, tck.weights, c.teacher, plan.teacher_rules);
  teacher_->to(device);
  teacher_->eval();
  for (auto& p : teacher_->parameters()) p.set_requires_grad(false);
  trainable_ = std::make_shared<Trainable>();
  trainable_->student = trainable_->register_module("student", student_->module());
  labels_ = text::LabelMap(tck.config.labels);
  objective_ = std::make_unique<distill::DistillObjective>(c.loss, student_->shape(), tck.config);
  trainable_->projections = trainable_->register_module("projections", objective_->projections());
  trainable_->to(device);
  infer::checked_max_len(c.max_len, tck.config, "max_len");
  max_len_ = c.max_len;
}

void DistillBase::write_model(const fs::path& dir, const Json& provenance) {
  io::CheckpointInfo info{"distill", provenance};
  info.provenance["mode"] = choice_name(c_.mode, kDistillModes);
  info.provenance["teacher"] = c_.teacher;
  info.provenance["student_init"] = c_.student;
  info.provenance["layer_map"] = objective_->layer_map();
  if (c_.mode == DistillMode::kGeneral) info.provenance["shards"] = fs::absolute(c_.shards).string();
  student_->write(dir, labels_.names(), *tokenizer_, info);
  // Projections are training-only: kept beside the student for resume, never loaded by classify.
  const auto projections = io::module_tensors(*trainable_->projections);
  if (!projections.empty()) io::save_safetensors(dir / "distill_projections.safetensors", projections);
}

void DistillBase::load_for_resume(const fs::path& dir) {
  student_->load(io::load_safetensors(dir / "model.safetensors").tensors, dir.string());
  if (trainable_->projections->size() > 0) {
    io::load_module_file(*trainable_->projections, dir / "distill_projections.safetensors");
  }
}

std::map<std::string, std::string> teacher_logits_key(const std::string& teacher,
                                                      const std::vector<feed::Encoded>& inputs, int64_t max_len,
                                                      const std::string& sentence_target) {
  std::string bytes;
  for (const auto& e : inputs) {
    bytes.append(reinterpret_cast<const char*>(e.ids.data()), e.ids.size() * sizeof(int64_t));
    bytes.append(reinterpret_cast<const char*>(e.segments.data()), e.segments.size() * sizeof(int64_t));
    bytes.push_back('\n');
  }
  return {{"teacher", text::fingerprint_file(std::filesystem::path(teacher) / "model.safetensors")},
          {"inputs", text::fingerprint_bytes(bytes)},
          {"examples", std::to_string(inputs.size())},
          {"max_len", std::to_string(max_len)},
          {"sentence_target", sentence_target}};
}

}  // namespace kdtext::distill
