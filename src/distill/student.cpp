#include "kdtext/distill/student.h"

#include "kdtext/infer/predict.h"
#include "kdtext/io/sentence_checkpoint.h"

namespace kdtext::distill {

namespace {

class BertStudent final : public Student {
 public:
  explicit BertStudent(model::Bert m) : model_(std::move(m)) {}
  std::shared_ptr<torch::nn::Module> module() const override { return model_.ptr(); }
  StudentShape shape() const override { return shape_of(model_->config); }
  ModelOutputs forward(const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& segments,
                       const model::ForwardOptions& fo) override {
    ModelOutputs s;
    s.encoder = model_->encode(ids, mask, segments, fo);
    if (model_->classifier) s.logits = model_->classify(s.encoder.pooled).to(torch::kFloat32);
    return s;
  }
  torch::Tensor predict_logits(const std::vector<feed::Encoded>& inputs, int64_t batch_size,
                               torch::Device device) override {
    return infer::predict_logits(*model_, inputs, batch_size, device);
  }
  void write(const std::filesystem::path& dir, const std::vector<std::string>& /*labels: in the config*/,
             const text::Tokenizer& tokenizer, const io::CheckpointInfo& info) const override {
    io::write_checkpoint_files(dir, *model_, tokenizer, info);
  }
  void load(const io::TensorMap& weights, const std::string& origin) override {
    io::load_weights(*model_, weights, origin);
  }
  model::BertImpl* bert() override { return model_.get(); }

 private:
  model::Bert model_;
};

class SentenceStudent final : public Student {
 public:
  explicit SentenceStudent(model::SentenceClassifier m) : model_(std::move(m)) {}
  std::shared_ptr<torch::nn::Module> module() const override { return model_.ptr(); }
  StudentShape shape() const override {
    StudentShape s;
    s.architecture = choice_name(model_->config().arch, model::kSentenceArchs);
    s.sentence_width = model_->config().sentence_width();
    return s;
  }
  ModelOutputs forward(const torch::Tensor& ids, const torch::Tensor& mask, const torch::Tensor& /*segments*/,
                       const model::ForwardOptions& /*fo: no layers*/) override {
    auto out = model_->forward(ids, mask);
    ModelOutputs s;
    s.logits = out.logits.to(torch::kFloat32);
    s.sentence = out.sentence;
    return s;
  }
  torch::Tensor predict_logits(const std::vector<feed::Encoded>& inputs, int64_t batch_size,
                               torch::Device device) override {
    torch::NoGradGuard no_grad;
    const auto forward = [&](const feed::Batch& b) {
      return model_->forward(b.input_ids.to(device), b.attention_mask.to(device))
          .logits.to(torch::kCPU, torch::kFloat32);
    };
    return infer::predict_rows(inputs, batch_size, model_->config().num_labels, forward);
  }
  void write(const std::filesystem::path& dir, const std::vector<std::string>& labels,
             const text::Tokenizer& tokenizer, const io::CheckpointInfo& info) const override {
    io::write_sentence_checkpoint_files(dir, *model_, labels, tokenizer, info);
  }
  void load(const io::TensorMap& weights, const std::string& origin) override {
    io::load_tensors(io::module_tensors(*model_), weights, origin);
  }

 private:
  model::SentenceClassifier model_;
};

}  // namespace

std::unique_ptr<Student> make_bert_student(model::Bert model) { return std::make_unique<BertStudent>(std::move(model)); }
std::unique_ptr<Student> make_sentence_student(model::SentenceClassifier model) {
  return std::make_unique<SentenceStudent>(std::move(model));
}

}  // namespace kdtext::distill
