// Student construction: a smaller BERT from a teacher's configuration and a
// student spec, optionally initialised from chosen teacher layers.
#pragma once

#include <string>
#include <vector>

#include "kdtext/model/bert.h"
#include "kdtext/util/fields.h"
#include "kdtext/util/json.h"

namespace kdtext::model {

// Which teacher layer each student layer copies or is distilled from (see
// select_teacher_layers). "skip" is read as every-k.
enum class LayerSelection { kUniform, kSpread, kLast, kEveryK, kList };
inline constexpr std::pair<const char*, LayerSelection> kLayerSelections[] = {
    {"uniform", LayerSelection::kUniform}, {"spread", LayerSelection::kSpread}, {"last", LayerSelection::kLast},
    {"every-k", LayerSelection::kEveryK},  {"list", LayerSelection::kList},    {"skip", LayerSelection::kEveryK}};
// Parsed once: ConfigError naming `key` for an unknown name.
LayerSelection parse_layer_selection(const std::string& name, const std::string& key);

// How the student's weights start: random (HF initialisation) or copied from
// the teacher's layers (needs the teacher's widths).
enum class StudentInit { kRandom, kTeacherLayers };
inline constexpr std::pair<const char*, StudentInit> kStudentInits[] = {{"random", StudentInit::kRandom},
                                                                        {"teacher-layers", StudentInit::kTeacherLayers}};

struct StudentSpec {
  std::string preset;                  // tinybert-4l-312 | 4l-256 | 6l-768 | "" (use the fields below)
  int64_t layers = 4;
  int64_t hidden = 312;
  int64_t heads = 12;
  int64_t intermediate = 1200;
  int64_t max_len = 0;                 // max_position_embeddings (0: the teacher's)
  StudentInit init = StudentInit::kRandom;
  LayerSelection layer_selection = LayerSelection::kUniform;  // for teacher-layers
  int64_t every_k = 2;                 // for every-k: teacher layers k, 2k, ... (1-based)
  std::vector<int64_t> layer_list;     // for list: teacher layer (1-based) per student layer
};

// The "student" section of kdtext-build-student and its flags.
const FieldTable<StudentSpec>& student_fields();
Json to_json(const StudentSpec& s);
StudentSpec student_spec_from_json(const JsonFields& f);

// Applies the preset (if any). Throws ConfigError naming the key for an
// unknown preset or invalid sizes.
StudentSpec resolve_student_spec(const StudentSpec& spec);

// Teacher layer (1-based) each student layer copies or is distilled from:
// uniform maps student layer i to teacher layer i * L_t / L_s (needs L_t % L_s == 0),
// spread to ceil(i * L_t / L_s) (uniform where it divides; otherwise as even as
// whole layers allow, the last still the teacher's top: 4 of 6 -> 2,3,5,6),
// last maps to the top L_s teacher layers, every-k to k, 2k, ..., list as given.
// Throws ConfigError with the reason (out of range, does not divide evenly, ...).
std::vector<int64_t> select_teacher_layers(LayerSelection selection, int64_t student_layers, int64_t teacher_layers,
                                           int64_t every_k, const std::vector<int64_t>& list, const std::string& key);
// The same with the selection by name (as a configuration gives it).
std::vector<int64_t> select_teacher_layers(const std::string& selection, int64_t student_layers,
                                           int64_t teacher_layers, int64_t every_k,
                                           const std::vector<int64_t>& list, const std::string& key);

struct BuiltStudent {
  BertConfig config;
  Bert model{nullptr};
  std::vector<int64_t> layer_map;  // teacher layer per student layer (teacher-layers init), else empty
};

// Builds the student for `teacher` (its config, heads and weights): same
// vocabulary, tokenizer and labels.
BuiltStudent build_student(BertImpl& teacher, const StudentSpec& spec);

}  // namespace kdtext::model
