#include <gtest/gtest.h>

#include "kdtext/model/student.h"
#include "kdtext/error.h"

using namespace kdtext;
using namespace kdtext::model;

namespace {
std::string config_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

Bert teacher_model() {
  BertConfig c;
  c.vocab_size = 40;
  c.hidden_size = 16;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 2;
  c.intermediate_size = 24;
  c.max_position_embeddings = 32;
  c.labels = {"a", "b", "c"};
  torch::manual_seed(5);
  return Bert(c, Heads::kClassifier);
}
}  // namespace

TEST(Student, LayerSelections) {
  EXPECT_EQ(select_teacher_layers("uniform", 2, 4, 0, {}, "k"), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(select_teacher_layers("last", 2, 6, 0, {}, "k"), (std::vector<int64_t>{5, 6}));
  EXPECT_EQ(select_teacher_layers("every-k", 3, 6, 2, {}, "k"), (std::vector<int64_t>{2, 4, 6}));
  EXPECT_EQ(select_teacher_layers("list", 2, 6, 0, {1, 6}, "k"), (std::vector<int64_t>{1, 6}));
  // spread: ceil(i * Lt / Ls), worked by hand: 4 of 6 -> 1.5, 3, 4.5, 6 -> 2, 3, 5, 6; 3 of 4 -> 2, 3, 4;
  // where it divides, the uniform map; more student layers than teacher layers repeat some.
  EXPECT_EQ(select_teacher_layers("spread", 4, 6, 0, {}, "k"), (std::vector<int64_t>{2, 3, 5, 6}));
  EXPECT_EQ(select_teacher_layers("spread", 3, 4, 0, {}, "k"), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(select_teacher_layers("spread", 3, 12, 0, {}, "k"), select_teacher_layers("uniform", 3, 12, 0, {}, "k"));
  EXPECT_EQ(select_teacher_layers("spread", 3, 2, 0, {}, "k"), (std::vector<int64_t>{1, 2, 2}));
  EXPECT_NE(config_error([] { select_teacher_layers("uniform", 4, 6, 0, {}, "student.layer_selection"); })
                .find("does not divide evenly"),
            std::string::npos);
  const std::string msg = config_error([] { select_teacher_layers("list", 2, 4, 0, {1, 5}, "student.layer_list"); });
  EXPECT_NE(msg.find("student layer 2 maps to teacher layer 5, which does not exist"), std::string::npos) << msg;
  EXPECT_FALSE(config_error([] { select_teacher_layers("every-k", 3, 4, 2, {}, "k"); }).empty());
  EXPECT_FALSE(config_error([] { select_teacher_layers("list", 3, 4, 0, {1, 2}, "k"); }).empty());
}

TEST(Student, SpecValidationNamesTheProblem) {
  StudentSpec s;
  s.hidden = 100;
  s.heads = 12;
  EXPECT_NE(config_error([&] { resolve_student_spec(s); }).find("not divisible by student.heads"), std::string::npos);
  s = StudentSpec{};
  s.preset = "tinybert-4l-312";
  const auto r = resolve_student_spec(s);
  EXPECT_EQ(r.layers, 4);
  EXPECT_EQ(r.hidden, 312);
  s.preset = "huge";
  EXPECT_NE(config_error([&] { resolve_student_spec(s); }).find("unknown"), std::string::npos);
  // teacher-layers selects from the teacher: a wider student is refused, naming the key.
  auto t = teacher_model();
  StudentSpec wide;
  wide.layers = 2;
  wide.hidden = 32;
  wide.heads = 2;
  wide.intermediate = 24;
  wide.init = StudentInit::kTeacherLayers;
  const std::string msg = config_error([&] { build_student(*t, wide); });
  EXPECT_NE(msg.find("student.hidden"), std::string::npos) << msg;
  EXPECT_NE(msg.find("32 is wider than the teacher's 16"), std::string::npos) << msg;
  wide.hidden = 16;
  wide.intermediate = 48;
  EXPECT_NE(config_error([&] { build_student(*t, wide); }).find("student.intermediate"), std::string::npos);
}

TEST(Student, EvenlySpacedIndicesByHand) {
  EXPECT_EQ(evenly_spaced(8, 4), (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(evenly_spaced(5, 3), (std::vector<int64_t>{0, 1, 3}));  // 0, 5/3, 10/3 rounded down
  EXPECT_EQ(evenly_spaced(4, 4), (std::vector<int64_t>{0, 1, 2, 3}));
}

TEST(Student, NarrowerTeacherLayerInitSelectsRowsAndColumns) {
  auto t = teacher_model();  // hidden 16, 2 heads of 8, intermediate 24
  StudentSpec s;
  s.layers = 2;
  s.hidden = 8;
  s.heads = 1;  // head size 8, the teacher's: whole heads are kept (head 0)
  s.intermediate = 12;
  s.init = StudentInit::kTeacherLayers;
  s.layer_selection = LayerSelection::kList;
  s.layer_list = {2, 4};
  auto built = build_student(*t, s);
  using torch::indexing::Slice;
  const auto even = Slice(0, torch::indexing::None, 2);  // hidden 0, 2, ..., 14; neurons 0, 2, ..., 22
  const auto& sl = built.model->bert->encoder->layers[1];
  const auto& tl = t->bert->encoder->layers[3];
  EXPECT_TRUE(torch::equal(sl->attention->self->query->weight, tl->attention->self->query->weight.index({Slice(0, 8), even})));
  EXPECT_TRUE(torch::equal(sl->attention->self->value->bias, tl->attention->self->value->bias.slice(0, 0, 8)));
  EXPECT_TRUE(torch::equal(sl->attention->output->dense->weight,
                           tl->attention->output->dense->weight.index({even, Slice(0, 8)})));
  EXPECT_TRUE(torch::equal(sl->intermediate->dense->weight, tl->intermediate->dense->weight.index({even, even})));
  EXPECT_TRUE(torch::equal(sl->output->dense->weight, tl->output->dense->weight.index({even, even})));
  EXPECT_TRUE(torch::equal(sl->output->LayerNorm->weight, tl->output->LayerNorm->weight.index({even})));
  EXPECT_TRUE(torch::equal(built.model->bert->embeddings->word_embeddings->weight,
                           t->bert->embeddings->word_embeddings->weight.index({Slice(), even})));
  EXPECT_TRUE(torch::equal(built.model->bert->pooler->dense->weight, t->bert->pooler->dense->weight.index({even, even})));
  EXPECT_TRUE(torch::equal(built.model->classifier->weight, t->classifier->weight.index({Slice(), even})));
  EXPECT_TRUE(torch::equal(built.model->classifier->bias, t->classifier->bias));
  // A narrower head size (2 heads of 4) takes the attention dimensions evenly spaced, like the hidden ones.
  s.heads = 2;
  auto mixed = build_student(*t, s);
  EXPECT_TRUE(torch::equal(mixed.model->bert->encoder->layers[0]->attention->self->key->weight,
                           t->bert->encoder->layers[1]->attention->self->key->weight.index({even, even})));
}

TEST(Student, TeacherLayerInitCopiesTheMappedLayers) {
  auto t = teacher_model();
  StudentSpec s;
  s.layers = 2;
  s.hidden = 16;
  s.heads = 2;
  s.intermediate = 24;
  s.max_len = 16;
  s.init = StudentInit::kTeacherLayers;
  s.layer_selection = LayerSelection::kList;
  s.layer_list = {1, 4};
  auto built = build_student(*t, s);
  EXPECT_EQ(built.layer_map, (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(built.config.labels, t->config.labels);
  auto& st = *built.model;
  EXPECT_TRUE(torch::equal(st.bert->encoder->layers[1]->output->dense->weight,
                           t->bert->encoder->layers[3]->output->dense->weight));
  EXPECT_TRUE(torch::equal(st.bert->encoder->layers[0]->attention->self->query->weight,
                           t->bert->encoder->layers[0]->attention->self->query->weight));
  EXPECT_TRUE(torch::equal(st.bert->embeddings->word_embeddings->weight, t->bert->embeddings->word_embeddings->weight));
  EXPECT_TRUE(torch::equal(st.bert->embeddings->position_embeddings->weight,
                           t->bert->embeddings->position_embeddings->weight.slice(0, 0, 16)));
  EXPECT_TRUE(torch::equal(st.classifier->weight, t->classifier->weight));
  EXPECT_TRUE(torch::equal(st.bert->pooler->dense->weight, t->bert->pooler->dense->weight));
  // Random init is a different, smaller model.
  StudentSpec r;
  r.layers = 1;
  r.hidden = 8;
  r.heads = 2;
  r.intermediate = 16;
  auto small = build_student(*t, r);
  EXPECT_TRUE(small.layer_map.empty());
  EXPECT_LT(small.model->parameter_count().total, t->parameter_count().total);
}

TEST(Student, InferenceFlopsPerSentenceByHand) {
  kdtext::model::BertConfig c;
  c.num_hidden_layers = 2;
  c.hidden_size = 4;
  c.intermediate_size = 8;
  // Per layer: 3 tokens x (4*16 + 2*4*8) + 2*9*4 = 456 multiply-adds; 2 layers = 912.
  EXPECT_EQ(kdtext::model::inference_flops(c, 3), 2 * 912);
  c.labels = {"a", "b"};  // + pooler 16 + classifier 8
  EXPECT_EQ(kdtext::model::inference_flops(c, 3), 2 * 936);
}

TEST(Student, QuarterCostPresetsAgainstAMiniLmShapedTeacher) {
  kdtext::model::BertConfig teacher;  // all-MiniLM-L6-v2: 6 x 384, FFN 1536, 12 heads
  teacher.num_hidden_layers = 6;
  teacher.hidden_size = 384;
  teacher.num_attention_heads = 12;
  teacher.intermediate_size = 1536;
  teacher.labels = {"neg", "pos"};
  EXPECT_EQ(kdtext::model::inference_flops(teacher, 64), 2 * 698499840LL);  // worked out by hand
  const auto ratio = [&](const std::string& preset) {
    kdtext::model::StudentSpec spec;
    spec.preset = preset;
    const auto s = kdtext::model::resolve_student_spec(spec);
    kdtext::model::BertConfig c = teacher;
    c.num_hidden_layers = s.layers;
    c.hidden_size = s.hidden;
    c.num_attention_heads = s.heads;
    c.intermediate_size = s.intermediate;
    return double(kdtext::model::inference_flops(c, 64)) / double(kdtext::model::inference_flops(teacher, 64));
  };
  EXPECT_NEAR(ratio("4l-192"), 119574912.0 / 698499840.0, 1e-12);  // 0.171
  EXPECT_NEAR(ratio("3l-256"), 157352448.0 / 698499840.0, 1e-12);  // 0.225
  EXPECT_GT(ratio("tinybert-4l-312"), 0.25);  // the TinyBERT-4 shape is not a quarter of this teacher
  EXPECT_GT(ratio("4l-256"), 0.25);
}

TEST(Student, SentenceStudentDefaultsPerArchitectureAndErrorsNameTheKey) {
  BertConfig minilm;  // the sizes that matter: vocabulary, width, labels
  minilm.vocab_size = 30522;
  minilm.hidden_size = 384;
  minilm.pad_token_id = 0;
  minilm.labels = {"neg", "pos"};
  const SentenceStudentSpec defaults;
  const auto lstm = sentence_student_config(StudentArch::kBiLstm, defaults, minilm);
  EXPECT_EQ(lstm.arch, SentenceArch::kBiLstm);
  EXPECT_EQ(lstm.vocab_size, 30522);
  EXPECT_EQ(lstm.num_labels, 2);
  EXPECT_EQ(lstm.embedding, 128);
  EXPECT_EQ(lstm.hidden, 128);
  EXPECT_EQ(lstm.ngram_buckets, 0);
  const auto cnn = sentence_student_config(StudentArch::kCnn, defaults, minilm);
  EXPECT_EQ(cnn.hidden, 128);
  EXPECT_EQ(cnn.widths, (std::vector<int64_t>{2, 3, 4}));
  const auto bag = sentence_student_config(StudentArch::kBag, defaults, minilm);
  EXPECT_EQ(bag.embedding, 128);
  EXPECT_EQ(bag.hidden, 0);
  EXPECT_EQ(bag.ngram_buckets, 100000);
  SentenceStudentSpec given;
  given.embedding = 64;
  given.hidden = 32;
  given.ngram_buckets = 0;
  const auto small_bag = sentence_student_config(StudentArch::kBag, given, minilm);
  EXPECT_EQ(small_bag.embedding, 64);
  EXPECT_EQ(small_bag.hidden, 32);
  EXPECT_EQ(small_bag.ngram_buckets, 0);

  BertConfig narrow = minilm;  // the default width is at most the teacher's when starting from its embeddings
  narrow.hidden_size = 64;
  EXPECT_EQ(sentence_student_config(StudentArch::kBiLstm, defaults, narrow).embedding, 64);
  SentenceStudentSpec wide;
  wide.embedding = 512;
  EXPECT_NE(config_error([&] { sentence_student_config(StudentArch::kCnn, wide, minilm); })
                .find("student.sentence.embedding: 512 is wider than the teacher's 384"),
            std::string::npos);
  wide.embedding_init = EmbeddingInit::kRandom;  // random embeddings may be any width
  EXPECT_EQ(sentence_student_config(StudentArch::kCnn, wide, minilm).embedding, 512);
  SentenceStudentSpec lstm3;
  lstm3.layers = 3;
  EXPECT_NE(config_error([&] { sentence_student_config(StudentArch::kBiLstm, lstm3, minilm); })
                .find("student.sentence.layers"),
            std::string::npos);
  SentenceStudentSpec hashed;
  hashed.ngram_buckets = 10;
  EXPECT_NE(config_error([&] { sentence_student_config(StudentArch::kCnn, hashed, minilm); })
                .find("student.sentence.ngram_buckets"),
            std::string::npos);
  BertConfig pretrained = minilm;
  pretrained.labels.clear();
  EXPECT_NE(config_error([&] { sentence_student_config(StudentArch::kBag, defaults, pretrained); })
                .find("student.arch: a bag student takes its labels from a fine-tuned teacher"),
            std::string::npos);
}

TEST(Student, SentenceStudentStartsFromTheTeachersEmbeddingsReduced) {
  auto teacher = teacher_model();
  SentenceStudentSpec s;
  s.embedding = 6;
  s.hidden = 5;
  const auto m = build_sentence_student(*teacher, StudentArch::kBiLstm, s);
  EXPECT_EQ(m->config().num_labels, 3);
  EXPECT_TRUE(torch::allclose(m->embeddings->weight,
                              reduce_embeddings(teacher->bert->embeddings->word_embeddings->weight, 6), 1e-6, 1e-6));
  s.embedding_init = EmbeddingInit::kRandom;
  s.ngram_buckets = 11;
  const auto bag = build_sentence_student(*teacher, StudentArch::kBag, s);
  // fastText's start: every token and n-gram row within +-1/E.
  EXPECT_LE(bag->embeddings->weight.abs().max().item<double>(), 1.0 / 6);
  EXPECT_LE(bag->ngram_embeddings->weight.abs().max().item<double>(), 1.0 / 6);
  EXPECT_GT(bag->ngram_embeddings->weight.abs().max().item<double>(), 0.0);
}
