#include "kdtext/stages/build_student.h"

#include "kdtext/io/checkpoint.h"
#include "kdtext/io/sentence_checkpoint.h"
#include "kdtext/util/log.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"

namespace kdtext::stages {

const FieldTable<BuildStudentConfig>& build_student_fields() {
  using B = BuildStudentConfig;
  static const auto t = FieldTable<B>()
      .field("teacher", &B::teacher, "Fine-tuned teacher checkpoint", required()).flag("--teacher", true)
      .field("output", &B::output, "Student checkpoint directory", required()).flag("-o,--output", true)
      .field("overwrite", &B::overwrite, "Replace an existing output directory").flag("--overwrite")
      .field("flops_tokens", &B::flops_tokens, "Sentence length at which FLOPs are compared with the teacher's",
             at_least(1))
      .flag("--flops-tokens")
      .section("student", &B::student, model::student_fields())
      .section("run", &B::run, cli::runtime_fields());
  return t;
}

Json to_json(const BuildStudentConfig& c) { return build_student_fields().to_json(c); }
BuildStudentConfig build_student_config_from_json(const Json& j) {
  BuildStudentConfig c = build_student_fields().from_json(j);
  if (c.student.arch != model::StudentArch::kBert && !c.student.preset.empty()) {
    throw ConfigError("student.preset: '" + c.student.preset + "' is a transformer preset; a " +
                      choice_name(c.student.arch, model::kStudentArchs) +
                      " student takes its sizes from student.sentence (its defaults are its preset)");
  }
  c.student = model::resolve_student_spec(c.student);  // build_config.json records the preset's sizes
  return c;
}

namespace {
// A bilstm, cnn or bag student: its config, embeddings from the teacher's,
// the same summary (parameters, FLOPs against the teacher's).
Json build_sentence_student(const BuildStudentConfig& c, const io::Checkpoint& ck, model::BertImpl& teacher) {
  auto student = model::build_sentence_student(teacher, c.student.arch, c.student.sentence);
  const auto& sc = student->config();
  const std::string arch = choice_name(sc.arch, model::kSentenceArchs);
  const int64_t sp = model::parameter_count(sc), tp = teacher.parameter_count().total;
  const int64_t tf = model::inference_flops(teacher.config, c.flops_tokens);
  const int64_t sf = model::inference_flops(sc, c.flops_tokens);
  const double ratio = double(sf) / double(tf);
  Json summary{{"teacher", c.teacher},
               {"architecture", arch},
               {"init", choice_name(c.student.sentence.embedding_init, model::kEmbeddingInits)},
               {"student", model::sentence_fields().to_json(sc)},
               {"parameters", sp},
               {"teacher_parameters", tp},
               {"flops_per_sentence", {{"tokens", c.flops_tokens}, {"teacher", tf}, {"student", sf}, {"ratio", ratio}}}};
  StagedDirectory out(c.output, c.overwrite);
  write_file_atomic(out.path() / "build_config.json", to_json(c).dump(2) + "\n");
  io::write_sentence_checkpoint_files(out.path(), *student, ck.config.labels, *ck.tokenizer,
                                      io::CheckpointInfo{"build-student", summary});
  out.commit();
  log::info("student: ", arch, ", sentence vector ", sc.sentence_width(), ", ", sp, " parameters (teacher ", tp, ", ",
            sp <= tp ? log::fixed(double(tp) / double(sp), 2) + "x fewer), " : log::fixed(double(sp) / double(tp), 2) + "x more), ", log::fixed(ratio, 4), "x the teacher's FLOPs per ",
            c.flops_tokens, "-token sentence, embeddings ", summary["init"].get<std::string>(), " -> ",
            out.final_path().string());
  return summary;
}
}  // namespace

Json run_build_student(const BuildStudentConfig& c) {
  auto ck = io::read_checkpoint(c.teacher);
  model::Bert teacher(ck.config, ck.heads);
  io::load_weights(*teacher, ck.weights, c.teacher);
  torch::manual_seed(c.run.seed);
  if (c.student.arch != model::StudentArch::kBert) return build_sentence_student(c, ck, *teacher);
  auto built = model::build_student(*teacher, c.student);
  const auto& bc = built.config;
  if (!built.layer_map.empty() && (bc.hidden_size != ck.config.hidden_size ||
                                   bc.intermediate_size != ck.config.intermediate_size ||
                                   bc.num_attention_heads != ck.config.num_attention_heads)) {
    log::info("init teacher-layers: the student is narrower (hidden ", bc.hidden_size, " of ", ck.config.hidden_size,
              ", heads ", bc.num_attention_heads, " of ", ck.config.num_attention_heads, ", intermediate ",
              bc.intermediate_size, " of ", ck.config.intermediate_size,
              "): it starts from the teacher's rows and columns, evenly spaced");
  }
  const auto tp = teacher->parameter_count(), sp = built.model->parameter_count();
  Json summary{{"teacher", c.teacher},
               {"init", choice_name(model::resolve_student_spec(c.student).init, model::kStudentInits)},
               {"layer_map", built.layer_map},
               {"student", model::to_json(built.config)},
               {"parameters", sp.total},
               {"teacher_parameters", tp.total}};
  const int64_t tf = model::inference_flops(teacher->config, c.flops_tokens);
  const int64_t sf = model::inference_flops(built.config, c.flops_tokens);
  const double ratio = double(sf) / double(tf);
  summary["flops_per_sentence"] = {{"tokens", c.flops_tokens}, {"teacher", tf}, {"student", sf}, {"ratio", ratio}};
  StagedDirectory out(c.output, c.overwrite);
  write_file_atomic(out.path() / "build_config.json", to_json(c).dump(2) + "\n");
  io::CheckpointInfo info{"build-student", summary};
  io::write_checkpoint_files(out.path(), *built.model, *ck.tokenizer, info);
  out.commit();
  log::info("student: ", built.config.num_hidden_layers, " layers x ", built.config.hidden_size, ", ", sp.total,
            " parameters (teacher ", tp.total, ", ", log::fixed(double(tp.total) / double(sp.total), 1), "x), ",
            log::fixed(ratio, 3), "x the teacher's FLOPs per ", c.flops_tokens, "-token sentence, init ",
            summary["init"].get<std::string>(), " -> ", out.final_path().string());
  return summary;
}

}  // namespace kdtext::stages
