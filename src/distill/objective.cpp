#include "kdtext/distill/objective.h"

#include "kdtext/distill/losses.h"
#include "kdtext/util/log.h"
#include "kdtext/model/student.h"
#include "kdtext/error.h"

namespace kdtext::distill {

const FieldTable<LossOptions>& loss_fields() {
  using L = LossOptions;
  static const auto t = FieldTable<L>()
      .choice("output", &L::output, kOutputLosses, "kl, soft_ce or mse").flag("--output-loss")
      .field("output_weight", &L::output_weight, "Weight of the output term", at_least(0)).flag("--output-weight")
      .field("output_weight_end", &L::output_weight_end, "Output weight at the end (linear schedule; -1: none)")
      .field("temperature", &L::temperature, "Softmax temperature for output terms", above(0)).flag("--temperature")
      .field("temperature_end", &L::temperature_end, "Temperature at the end (linear schedule; -1: none)")
      .field("t2_scale", &L::t2_scale, "Multiply kl and soft_ce by T^2")
      .field("hard_weight", &L::hard_weight, "Weight of the gold-label cross-entropy", at_least(0))
      .flag("--hard-weight")
      .field("hard_weight_end", &L::hard_weight_end, "Hard-label weight at the end (linear schedule; -1: none)")
      .choice("hidden", &L::hidden, kHiddenLosses, "mse or cosine")
      .field("hidden_weight", &L::hidden_weight, "Weight of the hidden-state term", at_least(0))
      .flag("--hidden-weight")
      .choice("attention", &L::attention, kAttentionLosses, "scores_mse (TinyBERT) or probs_kl (MiniLM)")
      .field("attention_weight", &L::attention_weight, "Weight of the attention term", at_least(0))
      .flag("--attention-weight")
      .field("embedding_weight", &L::embedding_weight, "Weight of the embedding-output term", at_least(0))
      .flag("--embedding-weight")
      .field("pkd_weight", &L::pkd_weight, "Weight of the Patient-KD [CLS] term", at_least(0))
      .field("mlm_weight", &L::mlm_weight, "Weight of the student's masked-LM loss (general)", at_least(0))
      .flag("--mlm-weight")
      .choice("layer_map", &L::layer_map, kLayerMaps, "uniform, spread, last, skip or list").flag("--layer-map")
      .field("skip_k", &L::skip_k, "k for skip: teacher layers k, 2k, ...")
      .field("layer_list", &L::layer_list, "Teacher layer (1-based) per student layer, for --layer-map list")
      .flag("--layer-list")
      .choice("projection", &L::projection, kProjections, "per-layer or shared")
      .choice("sentence", &L::sentence, kHiddenLosses, "mse or cosine")
      .field("sentence_weight", &L::sentence_weight, "Weight of the sentence-vector term", at_least(0))
      .flag("--sentence-weight")
      .choice("sentence_target", &L::sentence_target, kSentenceTargets, "pooled or cls (the teacher's vector)")
      .rule([](const L& l, const std::string& p) {
        if (l.output_weight + l.hard_weight + l.hidden_weight + l.attention_weight + l.embedding_weight +
                l.pkd_weight + l.mlm_weight + l.sentence_weight + std::max(0.0, l.output_weight_end) + std::max(0.0, l.hard_weight_end) <=
            0) {
          throw ConfigError(p + ": every term has weight 0");
        }
      });
  return t;
}

Json to_json(const LossOptions& l) { return loss_fields().to_json(l); }
LossOptions loss_options_from_json(const JsonFields& f) { return loss_fields().from_json(f); }

namespace {
double scheduled(double start, double end, double progress) {
  return end < 0 ? start : start + (end - start) * progress;
}
}  // namespace

void LossTerms::add(const std::string& name, double weight, const torch::Tensor& term) {
  values[name] = term.item<double>();
  total = total.defined() ? total + weight * term : weight * term;
}

// ---------------------------------------------------------------- objective

namespace {
model::LayerSelection student_layers_of(LayerMap m) {
  switch (m) {
    case LayerMap::kUniform: return model::LayerSelection::kUniform;
    case LayerMap::kSpread: return model::LayerSelection::kSpread;
    case LayerMap::kLast: return model::LayerSelection::kLast;
    case LayerMap::kSkip: return model::LayerSelection::kEveryK;
    case LayerMap::kList: return model::LayerSelection::kList;
  }
  return model::LayerSelection::kUniform;
}
}  // namespace

StudentShape shape_of(const model::BertConfig& c) {
  StudentShape s;
  s.layers = c.num_hidden_layers;
  s.hidden = c.hidden_size;
  s.heads = c.num_attention_heads;
  s.sentence_width = c.hidden_size;
  return s;
}

namespace {
// Terms that compare transformer layers: refused by name for other students.
void check_terms_for(const StudentShape& s, const LossOptions& l) {
  if (s.transformer()) return;
  const std::pair<const char*, double> layer_terms[] = {{"hidden_weight", l.hidden_weight},
                                                        {"attention_weight", l.attention_weight},
                                                        {"embedding_weight", l.embedding_weight},
                                                        {"pkd_weight", l.pkd_weight},
                                                        {"mlm_weight", l.mlm_weight}};
  for (const auto& [key, weight] : layer_terms) {
    if (weight > 0) {
      throw ConfigError(std::string("loss.") + key + ": a " + s.architecture +
                        " student has no transformer layers to compare; set it to 0 (loss.sentence_weight "
                        "regresses its sentence vector on the teacher's)");
    }
  }
}
}  // namespace

DistillObjective::DistillObjective(LossOptions options, const StudentShape& s, const model::BertConfig& t)
    : options_(std::move(options)) {
  const auto& l = options_;
  check_terms_for(s, l);
  // The layer mapping matters only to the layer-wise terms (an output-only
  // stage must not fail on a mapping it never uses).
  if (l.layer_wise()) {
    layer_map_ = model::select_teacher_layers(student_layers_of(l.layer_map), s.layers, t.num_hidden_layers, l.skip_k,
                                              l.layer_list, "loss.layer_map");
  }
  need_hidden_ = l.uses_hidden_states();
  need_attention_ = l.attention_weight > 0;
  if (need_hidden_ && s.hidden != t.hidden_size) {
    const size_t n = l.projection == Projection::kShared ? 1 : layer_map_.size() + 1;
    for (size_t i = 0; i < n; ++i) projections_->push_back(torch::nn::Linear(s.hidden, t.hidden_size));
  }
  if (need_attention_ && l.attention == AttentionLoss::kScoresMse && s.heads != t.num_attention_heads) {
    log::warn("student and teacher head counts differ: attention maps are compared head-averaged");
  }
  all_projections_ = torch::nn::ModuleList();
  for (const auto& p : *projections_) all_projections_->push_back(p);
  // A transformer student of the teacher's width shares its space (as for the
  // hidden-state terms); any other sentence vector goes through a projection.
  if (l.sentence_weight > 0 && (!s.transformer() || s.sentence_width != t.hidden_size)) {
    sentence_projection_ = torch::nn::Linear(s.sentence_width, t.hidden_size);
    all_projections_->push_back(sentence_projection_);
  }
}

model::ForwardOptions DistillObjective::forward_options() const {
  model::ForwardOptions fo;
  fo.hidden_states = need_hidden_;
  fo.attentions = need_attention_;
  return fo;
}

double DistillObjective::temperature(double p) const {
  return scheduled(options_.temperature, options_.temperature_end, p);
}
double DistillObjective::output_weight(double p) const {
  return scheduled(options_.output_weight, options_.output_weight_end, p);
}
double DistillObjective::hard_weight(double p) const {
  return scheduled(options_.hard_weight, options_.hard_weight_end, p);
}

LossTerms DistillObjective::compute(const ModelOutputs& student, const ModelOutputs& teacher, const torch::Tensor& mask,
                                    const torch::Tensor& labels, double progress) const {
  const auto& l = options_;
  const double T = temperature(progress), w_out = output_weight(progress), w_hard = hard_weight(progress);
  const auto& s = student.logits;
  LossTerms sum;
  if (w_out > 0) {
    switch (l.output) {
      case OutputLoss::kKl: sum.add("loss_output", w_out, kl_logits(s, teacher.logits, T, l.t2_scale)); break;
      case OutputLoss::kSoftCe: sum.add("loss_output", w_out, soft_cross_entropy(s, teacher.logits, T, l.t2_scale)); break;
      case OutputLoss::kMse: sum.add("loss_output", w_out, logit_mse(s, teacher.logits)); break;
    }
  }
  if (w_hard > 0) sum.add("loss_hard", w_hard, hard_cross_entropy(s, labels));
  add_intermediate(student, teacher, mask, sum);
  if (!sum.total.defined() && s.defined()) sum.total = (s * 0).sum();  // every scheduled weight is 0 at this step
  return sum;
}

torch::Tensor DistillObjective::project(const torch::Tensor& h, size_t layer) const {
  if (projections_->size() == 0) return h;
  const size_t k = projections_->size() == 1 ? 0 : layer;
  return projections_->ptr(k)->as<torch::nn::LinearImpl>()->forward(h);
}

torch::Tensor DistillObjective::teacher_sentence(const model::EncoderOutput& t) const {
  return options_.sentence_target == SentenceTarget::kPooled ? t.pooled : t.last_hidden.select(1, 0);
}

torch::Tensor DistillObjective::sentence_of(const ModelOutputs& o) const {
  return o.sentence.defined() ? o.sentence : teacher_sentence(o.encoder);
}

void DistillObjective::add_intermediate(const ModelOutputs& s, const ModelOutputs& t, const torch::Tensor& mask,
                                        LossTerms& sum) const {
  const auto& l = options_;
  if (l.sentence_weight > 0) {
    auto v = sentence_of(s).to(torch::kFloat32);
    if (!sentence_projection_.is_empty()) v = sentence_projection_.ptr()->forward(v);
    const auto target = sentence_of(t).to(torch::kFloat32);
    sum.add("loss_sentence", l.sentence_weight,
            l.sentence == HiddenLoss::kMse ? vector_mse(v, target) : vector_cosine(v, target));
  }
  if (needs_teacher_internals()) add_layer_wise(s.encoder, t.encoder, mask, sum);
}

void DistillObjective::add_layer_wise(const model::EncoderOutput& s, const model::EncoderOutput& t,
                                      const torch::Tensor& mask, LossTerms& sum) const {
  const auto& l = options_;
  const auto zero = [&] { return torch::zeros({}, s.last_hidden.options().dtype(torch::kFloat32)); };
  if (l.embedding_weight > 0) {
    sum.add("loss_embedding", l.embedding_weight,
            hidden_mse(project(s.hidden_states[0], layer_map_.size()), t.hidden_states[0], mask));
  }
  if (l.hidden_weight > 0 || l.pkd_weight > 0) {
    torch::Tensor hidden = zero(), pkd = zero();
    for (size_t i = 0; i < layer_map_.size(); ++i) {
      const auto sh = project(s.hidden_states[i + 1], i);
      const auto& th = t.hidden_states[static_cast<size_t>(layer_map_[i])];
      if (l.hidden_weight > 0) {
        hidden = hidden + (l.hidden == HiddenLoss::kMse ? hidden_mse(sh, th, mask) : hidden_cosine(sh, th, mask));
      }
      if (l.pkd_weight > 0) pkd = pkd + normalized_cls_mse(sh, th);
    }
    if (l.hidden_weight > 0) sum.add("loss_hidden", l.hidden_weight, hidden);
    if (l.pkd_weight > 0) sum.add("loss_pkd", l.pkd_weight, pkd);
  }
  if (need_attention_) {
    torch::Tensor att = zero();
    for (size_t i = 0; i < layer_map_.size(); ++i) {
      const size_t tl = static_cast<size_t>(layer_map_[i]) - 1;
      att = att + (l.attention == AttentionLoss::kScoresMse
                       ? attention_score_mse(s.attention_scores[i], t.attention_scores[tl], mask)
                       : attention_kl(s.attention_probs[i], t.attention_probs[tl], mask));
    }
    sum.add("loss_attention", l.attention_weight, att);
  }
}

}  // namespace kdtext::distill
