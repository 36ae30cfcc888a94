// The distillation objective: which loss terms, with which weights, between
// which layers, through which projections. Built once from typed options
// (enums parsed and validated at configuration time) and the two model
// configurations; compute() maps student and teacher outputs to a weighted
// sum of terms. It knows nothing of data, training or files, so it is tested
// on small tensors without a model.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "kdtext/model/bert.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::distill {

enum class OutputLoss { kKl, kSoftCe, kMse };
enum class HiddenLoss { kMse, kCosine };
enum class AttentionLoss { kScoresMse, kProbsKl };
enum class LayerMap { kUniform, kSpread, kLast, kSkip, kList };
enum class Projection { kPerLayer, kShared };
enum class SentenceTarget { kPooled, kCls };

inline constexpr std::pair<const char*, OutputLoss> kOutputLosses[] = {
    {"kl", OutputLoss::kKl}, {"soft_ce", OutputLoss::kSoftCe}, {"mse", OutputLoss::kMse}};
inline constexpr std::pair<const char*, HiddenLoss> kHiddenLosses[] = {{"mse", HiddenLoss::kMse},
                                                                       {"cosine", HiddenLoss::kCosine}};
inline constexpr std::pair<const char*, AttentionLoss> kAttentionLosses[] = {
    {"scores_mse", AttentionLoss::kScoresMse}, {"probs_kl", AttentionLoss::kProbsKl}};
inline constexpr std::pair<const char*, LayerMap> kLayerMaps[] = {
    {"uniform", LayerMap::kUniform}, {"spread", LayerMap::kSpread}, {"last", LayerMap::kLast},
    {"skip", LayerMap::kSkip},       {"list", LayerMap::kList}};
inline constexpr std::pair<const char*, SentenceTarget> kSentenceTargets[] = {{"pooled", SentenceTarget::kPooled},
                                                                              {"cls", SentenceTarget::kCls}};
inline constexpr std::pair<const char*, Projection> kProjections[] = {{"per-layer", Projection::kPerLayer},
                                                                      {"shared", Projection::kShared}};

// The weighted loss. Weights of 0 switch a term off.
struct LossOptions {
  OutputLoss output = OutputLoss::kKl;  // kl | soft_ce | mse: teacher logits -> student logits
  double output_weight = 1.0;
  double output_weight_end = -1;      // >= 0: linear schedule from output_weight to this over training
  double temperature = 2.0;
  double temperature_end = -1;        // >= 0: linear temperature schedule
  bool t2_scale = true;               // multiply kl/soft_ce by T^2
  double hard_weight = 0.0;           // cross-entropy with gold labels
  double hard_weight_end = -1;
  HiddenLoss hidden = HiddenLoss::kMse;  // mse | cosine: mapped hidden states (through projections if widths differ)
  double hidden_weight = 0.0;
  AttentionLoss attention = AttentionLoss::kScoresMse;  // scores_mse (TinyBERT) | probs_kl (MiniLM)
  double attention_weight = 0.0;
  double embedding_weight = 0.0;      // MSE of embedding outputs (through a projection if widths differ)
  double pkd_weight = 0.0;            // Patient-KD normalised [CLS] MSE over mapped layers
  double mlm_weight = 0.0;            // general mode: the student's masked-LM loss on the (masked) shards
  // The student's sentence vector (a transformer's pooled output or [CLS]
  // state; a bilstm/cnn/bag student's pooled encoding), through a learned
  // projection to the teacher's width, regressed on the teacher's (Tang et al.
  // 2019 regress logits; this is the intermediate term they lack).
  HiddenLoss sentence = HiddenLoss::kMse;  // mse | cosine
  double sentence_weight = 0.0;
  SentenceTarget sentence_target = SentenceTarget::kPooled;  // the teacher's pooled output (what its classifier
                                                             // reads) or its last [CLS] hidden state
  LayerMap layer_map = LayerMap::kUniform;  // uniform | spread | last | skip | list
  int64_t skip_k = 2;                 // for skip: teacher layers k, 2k, ...
  std::vector<int64_t> layer_list;    // for list: teacher layer (1-based) per student layer
  Projection projection = Projection::kPerLayer;  // per-layer | shared

  // Terms between layers (need hidden states or attention maps of both models).
  bool layer_wise() const { return hidden_weight > 0 || attention_weight > 0 || pkd_weight > 0; }
  bool uses_hidden_states() const { return hidden_weight > 0 || embedding_weight > 0 || pkd_weight > 0; }
  // No term on logits or labels at any point of the schedule (TinyBERT's first stage).
  bool intermediate_only() const {
    return output_weight <= 0 && output_weight_end <= 0 && hard_weight <= 0 && hard_weight_end <= 0;
  }
};

// The "loss" section of kdtext-distill and its flags.
const FieldTable<LossOptions>& loss_fields();
Json to_json(const LossOptions& l);
// Reads and validates (errors name the dotted key under "loss.").
LossOptions loss_options_from_json(const JsonFields& f);

// A weighted sum of terms; each term's value is kept for the log.
struct LossTerms {
  torch::Tensor total;                    // undefined while no term was added
  std::map<std::string, double> values;   // unweighted value per term name
  void add(const std::string& name, double weight, const torch::Tensor& term);
};

// One model's outputs for a batch. `logits` may be undefined (no output
// terms), as may the encoder output of a teacher whose logits were cached.
// `sentence` [B, D]: a non-transformer student's sentence vector, or a
// teacher's cached sentence target; when undefined the objective takes it
// from `encoder` (pooled or [CLS], as loss.sentence_target says).
struct ModelOutputs {
  model::EncoderOutput encoder;
  torch::Tensor logits;
  torch::Tensor sentence;
};

// What the objective needs to know of the student: a transformer's sizes, or
// (architecture bilstm, cnn or bag) only the width of its sentence vector.
struct StudentShape {
  std::string architecture = "bert";
  int64_t layers = 0, hidden = 0, heads = 0;
  int64_t sentence_width = 0;
  bool transformer() const { return architecture == "bert"; }
};
StudentShape shape_of(const model::BertConfig& c);

// The objective with its trainable part: linear projections from the
// student's to the teacher's width (one per mapped layer plus one for the
// embeddings, or one shared), present only when widths differ and a term on
// hidden states is on.
class DistillObjective {
 public:
  // A loss.*_weight term the student cannot have (a layer-wise term for a
  // non-transformer student) is a ConfigError naming the key.
  DistillObjective(LossOptions options, const StudentShape& student, const model::BertConfig& teacher);
  DistillObjective(LossOptions options, const model::BertConfig& student, const model::BertConfig& teacher)
      : DistillObjective(std::move(options), shape_of(student), teacher) {}

  const LossOptions& options() const { return options_; }
  // Teacher layer (1-based) per student layer; empty when no layer-wise term is on.
  const std::vector<int64_t>& layer_map() const { return layer_map_; }
  // What both forward passes must return for compute().
  model::ForwardOptions forward_options() const;
  // Whether compute() reads the teacher's encoder outputs (not only its logits).
  // Sentence targets may be cached with the logits (teacher_sentence()).
  bool needs_teacher_internals() const { return need_hidden_ || need_attention_; }
  bool needs_teacher_sentence() const { return options_.sentence_weight > 0; }
  // The teacher's sentence target [B, H] from its encoder output (pooled or [CLS]).
  torch::Tensor teacher_sentence(const model::EncoderOutput& t) const;
  // Every trainable projection: the layer-wise ones, then the sentence term's.
  torch::nn::ModuleList projections() const { return all_projections_; }

  // Scheduled values at `progress` in [0, 1] of training.
  double temperature(double progress) const;
  double output_weight(double progress) const;
  double hard_weight(double progress) const;

  // Every term that is on: output (logits), hard (labels), then the
  // sentence and layer-wise terms. `mask` [B, T] marks real tokens; `labels` [B] may be
  // undefined when no hard term is on. When every scheduled weight is 0 at
  // this point, total is a zero that still depends on the student's logits.
  LossTerms compute(const ModelOutputs& student, const ModelOutputs& teacher, const torch::Tensor& mask,
                    const torch::Tensor& labels, double progress) const;
  // The sentence, embedding, hidden-state, Patient-KD and attention terms only.
  void add_intermediate(const ModelOutputs& s, const ModelOutputs& t, const torch::Tensor& mask,
                        LossTerms& terms) const;

 private:
  void add_layer_wise(const model::EncoderOutput& s, const model::EncoderOutput& t, const torch::Tensor& mask,
                      LossTerms& terms) const;
  torch::Tensor project(const torch::Tensor& h, size_t layer) const;
  torch::Tensor sentence_of(const ModelOutputs& o) const;
  LossOptions options_;
  std::vector<int64_t> layer_map_;
  bool need_hidden_ = false, need_attention_ = false;
  torch::nn::ModuleList projections_;               // layer-wise terms
  torch::nn::Linear sentence_projection_{nullptr};  // the sentence term, when the vectors' spaces differ
  torch::nn::ModuleList all_projections_;
};

}  // namespace kdtext::distill
