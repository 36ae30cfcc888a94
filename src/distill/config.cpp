#include "kdtext/distill/config.h"

#include "kdtext/error.h"

namespace kdtext::distill {

DistillConfig default_distill_config() {
  DistillConfig c;
  c.trainer.max_steps = 0;
  c.trainer.lr = 1e-4;
  c.trainer.warmup_ratio = 0.1;
  c.trainer.log_every = 20;
  return c;
}

namespace {
// General distillation has no labels or teacher logits.
void validate_general(const DistillConfig& c) {
  const auto& l = c.loss;
  if (c.shards.empty()) throw ConfigError("shards: required for mode general (a kdtext-preprocess output directory)");
  for (const auto& [key, w] : {std::pair<const char*, double>{"output_weight", l.output_weight},
                               {"output_weight_end", l.output_weight_end},
                               {"hard_weight", l.hard_weight},
                               {"hard_weight_end", l.hard_weight_end},
                               {"sentence_weight", l.sentence_weight}}) {
    if (w > 0) {
      throw ConfigError(std::string("loss.") + key +
                        ": general distillation has no labels or teacher logits (nor a trained pooler); set it to 0 "
                        "(configs/distill/tinybert-general.json does)");
    }
  }
  if (l.hidden_weight + l.attention_weight + l.embedding_weight + l.pkd_weight + l.mlm_weight <= 0) {
    throw ConfigError("loss: general distillation needs an intermediate term or loss.mlm_weight above 0");
  }
}

// Checks across fields (each field's own checks are in the table).
void validate_distill(const DistillConfig& c) {
  const bool general = c.mode == DistillMode::kGeneral;
  if (!c.store.empty() && !general) throw ConfigError("store: only for mode general (a task run is not shared)");
  c.require(/*labelled=*/!general, /*output_required=*/false);
  if (c.output.empty() && c.store.empty()) throw ConfigError("output: required (--output DIR, or --store DIR for mode general)");
  if (!c.teacher_logits.empty() && (general || c.loss.layer_wise() || c.loss.uses_hidden_states())) {
    throw ConfigError("teacher_logits: a logits cache serves task distillation with output, hard-label and sentence "
                      "terms only (this configuration needs the teacher's hidden states or attention every step)");
  }
  if (!c.transfer.empty() && (general || !c.cache_teacher_logits || c.loss.layer_wise() || c.loss.uses_hidden_states())) {
    throw ConfigError("transfer: unlabelled text is labelled once by the teacher's cached logits: task mode, "
                      "cache_teacher_logits on, and no layer-wise term");
  }
  if (!c.store.empty() && !c.output.empty()) {
    throw ConfigError("output: leave it out with store, which chooses the run directory (printed on standard output)");
  }
  if (general) {
    validate_general(c);
  } else if (c.loss.mlm_weight > 0) {
    throw ConfigError("loss.mlm_weight: the masked-LM term is for mode general (token shards), not a labelled task");
  }
}
}  // namespace

const FieldTable<DistillConfig>& distill_fields() {
  using D = DistillConfig;
  static const auto t = FieldTable<D>()
      .choice("mode", &D::mode, kDistillModes, "task (labelled set) or general (token shards)").flag("--mode")
      .field("teacher", &D::teacher, "Teacher checkpoint (fine-tuned for --mode task)", required())
      .flag("--teacher", true)
      .field("student", &D::student, "Initial student checkpoint (kdtext-build-student or a general distillation)",
             required())
      .flag("--student", true)
      .base(train::supervised_fields(/*required_flags=*/false))
      .field("shards", &D::shards, "kdtext-preprocess output directory (general)").flag("--shards")
      .field("teacher_logits", &D::teacher_logits,
             "File caching the teacher's logits on --train across runs (output/hard terms only)")
      .flag("--teacher-logits")
      .field("transfer", &D::transfer,
             "Task: unlabelled in-domain text (one per line) added to the training set, labelled by the teacher "
             "(its logits, and its most probable class for the hard term)")
      .flag("--transfer")
      .field("store", &D::store,
             "General: keep the run under DIR/general-<key of teacher, student init, corpus, budget and settings>, "
             "reuse a finished one (--overwrite: train it again), resume an unfinished one; prints the run directory "
             "(instead of --output)")
      .flag("--store")
      .field("validation_every", &D::validation_every, "Hold out every N-th document (general)", at_least(2))
      .flag("--validation-every")
      .field("eval_sequences", &D::eval_sequences, "Held-out sequences scored at each evaluation (general)",
             at_least(1))
      .section("masking", &D::masking, feed::masking_fields())
      .field("cache_teacher_logits", &D::cache_teacher_logits,
             "Compute the teacher's logits once, before training (output and hard terms only)")
      .section("loss", &D::loss, loss_fields())
      .rule([](const D& c, const std::string&) { validate_distill(c); });
  return t;
}

Json to_json(const DistillConfig& c) { return distill_fields().to_json(c); }
DistillConfig distill_config_from_json(const Json& j) { return distill_fields().from_json(j, default_distill_config()); }

}  // namespace kdtext::distill
