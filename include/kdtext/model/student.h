// Student construction: a smaller BERT from a teacher's configuration and a
// student spec, optionally initialised from chosen teacher layers.
#pragma once

#include <string>
#include <vector>

#include "kdtext/model/bert.h"
#include "kdtext/model/sentence.h"
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

// How the student's weights start: random (HF initialisation) or taken from
// the teacher's layers: copied where the widths match, and where the student is
// narrower, the teacher's rows and columns selected (select_teacher_weight).
enum class StudentInit { kRandom, kTeacherLayers };
inline constexpr std::pair<const char*, StudentInit> kStudentInits[] = {{"random", StudentInit::kRandom},
                                                                        {"teacher-layers", StudentInit::kTeacherLayers}};

// What the student is: a transformer (the fields of StudentSpec) or a
// bilstm, cnn or bag student (model/sentence.h; StudentSpec::sentence).
enum class StudentArch { kBert, kBiLstm, kCnn, kBag };
inline constexpr std::pair<const char*, StudentArch> kStudentArchs[] = {
    {"bert", StudentArch::kBert}, {"bilstm", StudentArch::kBiLstm}, {"cnn", StudentArch::kCnn}, {"bag", StudentArch::kBag}};

// How a non-transformer student's token embeddings start: the teacher's
// input embeddings reduced to the student's width by PCA
// (model::reduce_embeddings), or random (N(0, 1) for bilstm and cnn, as
// LibTorch starts an Embedding; U(-1/E, 1/E) for bag, as fastText does).
enum class EmbeddingInit { kTeacher, kRandom };
inline constexpr std::pair<const char*, EmbeddingInit> kEmbeddingInits[] = {{"teacher", EmbeddingInit::kTeacher},
                                                                            {"random", EmbeddingInit::kRandom}};

// A bilstm, cnn or bag student's sizes. 0, -1 or empty take the
// architecture's default (its preset; the embedding width is at most the
// teacher's when the embeddings start from it):
//   bilstm  embedding 128, 128 units per direction, 1 layer, max pooling;
//   cnn     embedding 128, 128 filters of each width 2, 3, 4;
//   bag     embedding 128, 100,000 hashed bigram buckets, no hidden layer.
struct SentenceStudentSpec {
  int64_t embedding = 0;
  int64_t hidden = -1;                 // bilstm: units per direction; cnn: filters per width; bag: hidden layer
  int64_t layers = 1;                  // bilstm: 1 or 2
  std::vector<int64_t> widths;         // cnn
  Pooling pooling = Pooling::kMax;     // bilstm
  int64_t ngram_buckets = -1;          // bag (0: tokens only)
  int64_t ngram_order = 2;             // bag
  double dropout = 0.1;
  EmbeddingInit embedding_init = EmbeddingInit::kTeacher;
};
const FieldTable<SentenceStudentSpec>& sentence_student_fields();

struct StudentSpec {
  StudentArch arch = StudentArch::kBert;
  SentenceStudentSpec sentence;        // arch bilstm, cnn or bag
  std::string preset;                  // tinybert-4l-312 | 4l-256 | 3l-256 | 4l-192 | 2l-128 | 6l-768 | ""
                                       // (use the fields below)
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

// Which of the teacher's rows and columns a narrower student keeps ("weight
// selection": Xu et al., Initializing Models with Larger Ones, 2024): hidden
// dimensions and feed-forward neurons evenly spaced (i * n_teacher / n_student);
// whole heads, evenly spaced, where the student's head size is the teacher's,
// otherwise the attention dimensions evenly spaced like the hidden ones (a student
// head then joins parts of neighbouring teacher heads). Identity where the sizes
// match. Throws ConfigError naming the key where the student is wider.
struct WidthSelection {
  torch::Tensor hidden, attention, intermediate;  // int64 indices into the teacher's dimensions
};
std::vector<int64_t> evenly_spaced(int64_t from, int64_t count);
// The first of "hidden", "heads", "intermediate" in which a student of these
// sizes is wider than `teacher` ("" = none: teacher-layers init can select).
std::string wider_than_teacher(int64_t hidden, int64_t heads, int64_t intermediate, const BertConfig& teacher);
WidthSelection select_widths(const BertConfig& teacher, const BertConfig& student);
// The teacher weight `w` (named as in BertImpl::named_state) cut to the
// student's widths by `sel`; rows of embedding tables and labels are kept.
torch::Tensor select_teacher_weight(const std::string& name, const torch::Tensor& w, const WidthSelection& sel);

struct BuiltStudent {
  BertConfig config;
  Bert model{nullptr};
  std::vector<int64_t> layer_map;  // teacher layer per student layer (teacher-layers init), else empty
};

// Builds the student for `teacher` (its config, heads and weights): same
// vocabulary, tokenizer and labels.
BuiltStudent build_student(BertImpl& teacher, const StudentSpec& spec);

// The model config of a bilstm, cnn or bag student of `teacher` (its
// vocabulary, padding id and labels), defaults filled in; ConfigError naming
// the "student.sentence." key for impossible values.
SentenceConfig sentence_student_config(StudentArch arch, const SentenceStudentSpec& spec, const BertConfig& teacher);
// That student with its embeddings started as spec.embedding_init says
// (hashed n-gram embeddings always U(-1/E, 1/E)). The teacher must have a
// classification head (its labels are the student's).
SentenceClassifier build_sentence_student(const BertImpl& teacher, StudentArch arch, const SentenceStudentSpec& spec);

}  // namespace kdtext::model
