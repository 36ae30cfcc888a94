#include "kdtext/model/student.h"

#include <algorithm>

#include "kdtext/error.h"

namespace kdtext::model {

const FieldTable<SentenceStudentSpec>& sentence_student_fields() {
  using S = SentenceStudentSpec;
  // Checked with the teacher's sizes by sentence_student_config.
  static const auto t = FieldTable<S>()
      .field("embedding", &S::embedding, "Token embedding width (0: the architecture's default)").flag("--embedding")
      .field("hidden", &S::hidden, "bilstm: units per direction; cnn: filters per width; bag: hidden layer "
                                   "(-1: the architecture's default)")
      .flag("--sentence-hidden")
      .field("layers", &S::layers, "bilstm: 1 or 2 layers").flag("--sentence-layers")
      .field("widths", &S::widths, "cnn: window widths in tokens (empty: 2, 3, 4)").flag("--widths")
      .choice("pooling", &S::pooling, kPoolings, "bilstm: max, mean or max_mean").flag("--pooling")
      .field("ngram_buckets", &S::ngram_buckets, "bag: hashed n-gram buckets (-1: 100000; 0: none)")
      .flag("--ngram-buckets")
      .field("ngram_order", &S::ngram_order, "bag: n-grams of 2..N tokens").flag("--ngram-order")
      .field("dropout", &S::dropout, "Dropout before the classifier", in_half_open(0, 1))
      .choice("embedding_init", &S::embedding_init, kEmbeddingInits, "teacher (PCA of its embeddings) or random")
      .flag("--embedding-init");
  return t;
}

const FieldTable<StudentSpec>& student_fields() {
  using S = StudentSpec;
  // Sizes are checked by resolve_student_spec, once a preset has set them.
  static const auto t = FieldTable<S>()
      .choice("arch", &S::arch, kStudentArchs, "bert (a transformer), bilstm, cnn or bag").flag("--arch")
      .section("sentence", &S::sentence, sentence_student_fields())
      .field("preset", &S::preset, "tinybert-4l-312, 4l-256, 3l-256, 4l-192, 2l-128 or 6l-768").flag("--preset")
      .field("layers", &S::layers, "Transformer layers").flag("--layers")
      .field("hidden", &S::hidden, "Hidden size").flag("--hidden")
      .field("heads", &S::heads, "Attention heads").flag("--heads")
      .field("intermediate", &S::intermediate, "Feed-forward size").flag("--intermediate")
      .field("max_len", &S::max_len, "Max positions (0: the teacher's)").flag("--max-len")
      .choice("init", &S::init, kStudentInits, "random or teacher-layers").flag("--init")
      .choice("layer_selection", &S::layer_selection, kLayerSelections, "uniform, spread, every-k, last or list", true)
      .flag("--layer-selection")
      .field("every_k", &S::every_k, "k for every-k").flag("--every-k")
      .field("layer_list", &S::layer_list, "Teacher layers (1-based), one per student layer").flag("--layer-list");
  return t;
}

Json to_json(const StudentSpec& s) { return student_fields().to_json(s); }
StudentSpec student_spec_from_json(const JsonFields& f) { return student_fields().from_json(f); }

StudentSpec resolve_student_spec(const StudentSpec& in) {
  StudentSpec s = in;
  if (!s.preset.empty()) {
    struct P { const char* name; int64_t l, h, a, i; };
    // 3l-256 and 4l-192 cost under a quarter of MiniLM-L6's (6x384) FLOPs per sentence
    // (0.22x and 0.17x at 64 tokens; tinybert-4l-312 is 0.43x, 4l-256 0.30x).
    static const P kPresets[] = {{"tinybert-4l-312", 4, 312, 12, 1200}, {"4l-256", 4, 256, 4, 1024},
                                 {"3l-256", 3, 256, 4, 1024},           {"4l-192", 4, 192, 3, 768},
                                 {"2l-128", 2, 128, 2, 512},            {"6l-768", 6, 768, 12, 3072}};
    bool found = false;
    for (const auto& p : kPresets) {
      if (s.preset == p.name) {
        s.layers = p.l, s.hidden = p.h, s.heads = p.a, s.intermediate = p.i;
        found = true;
      }
    }
    if (!found) {
      std::string known;
      for (const auto& p : kPresets) known += std::string(known.empty() ? "" : ", ") + p.name;
      throw ConfigError("student.preset: unknown '" + s.preset + "' (known: " + known + ")");
    }
  }
  if (s.layers < 1) throw ConfigError("student.layers: must be >= 1, got " + std::to_string(s.layers));
  if (s.heads < 1) throw ConfigError("student.heads: must be >= 1");
  if (s.hidden < 1) throw ConfigError("student.hidden: must be >= 1, got " + std::to_string(s.hidden));
  if (s.hidden % s.heads != 0) {
    throw ConfigError("student.hidden: " + std::to_string(s.hidden) + " is not divisible by student.heads (" +
                      std::to_string(s.heads) + ")");
  }
  if (s.intermediate < 1) throw ConfigError("student.intermediate: must be >= 1, got " + std::to_string(s.intermediate));
  return s;
}

LayerSelection parse_layer_selection(const std::string& name, const std::string& key) {
  for (const auto& [n, v] : kLayerSelections) {
    if (name == n) return v;
  }
  throw ConfigError(key + ": unknown layer selection '" + name + "' (expected uniform, spread, last, every-k or list)");
}

std::vector<int64_t> select_teacher_layers(const std::string& sel, int64_t ls, int64_t lt, int64_t every_k,
                                           const std::vector<int64_t>& list, const std::string& key) {
  return select_teacher_layers(parse_layer_selection(sel, key), ls, lt, every_k, list, key);
}

std::vector<int64_t> select_teacher_layers(LayerSelection sel, int64_t ls, int64_t lt, int64_t every_k,
                                           const std::vector<int64_t>& list, const std::string& key) {
  std::vector<int64_t> map;
  switch (sel) {
    case LayerSelection::kUniform:
      if (lt % ls != 0) {
        throw ConfigError(key + ": uniform mapping of " + std::to_string(ls) + " student layers onto " +
                          std::to_string(lt) + " teacher layers does not divide evenly; use spread, last, every-k or a list");
      }
      for (int64_t i = 1; i <= ls; ++i) map.push_back(i * (lt / ls));
      break;
    case LayerSelection::kSpread:
      for (int64_t i = 1; i <= ls; ++i) map.push_back((i * lt + ls - 1) / ls);
      break;
    case LayerSelection::kLast:
      if (ls > lt) throw ConfigError(key + ": the student has more layers (" + std::to_string(ls) + ") than the teacher (" + std::to_string(lt) + ")");
      for (int64_t i = 1; i <= ls; ++i) map.push_back(lt - ls + i);
      break;
    case LayerSelection::kEveryK:
      if (every_k < 1) throw ConfigError(key + ": every_k must be >= 1");
      for (int64_t i = 1; i <= ls; ++i) map.push_back(i * every_k);
      break;
    case LayerSelection::kList:
      if (static_cast<int64_t>(list.size()) != ls) {
        throw ConfigError(key + ": the layer list has " + std::to_string(list.size()) + " entries for " +
                          std::to_string(ls) + " student layers");
      }
      map = list;
      break;
  }
  for (size_t i = 0; i < map.size(); ++i) {
    if (map[i] < 1 || map[i] > lt) {
      throw ConfigError(key + ": student layer " + std::to_string(i + 1) + " maps to teacher layer " +
                        std::to_string(map[i]) + ", which does not exist (the teacher has layers 1.." +
                        std::to_string(lt) + ")");
    }
  }
  return map;
}

std::vector<int64_t> evenly_spaced(int64_t from, int64_t count) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < count; ++i) out.push_back(i * from / count);
  return out;
}

namespace {
torch::Tensor index_tensor(const std::vector<int64_t>& v) {
  return torch::tensor(v, torch::TensorOptions().dtype(torch::kLong));
}
}  // namespace

std::string wider_than_teacher(int64_t hidden, int64_t heads, int64_t intermediate, const BertConfig& t) {
  if (hidden > t.hidden_size) return "hidden";
  if (intermediate > t.intermediate_size) return "intermediate";
  if (heads > t.num_attention_heads) return "heads";
  return "";
}

WidthSelection select_widths(const BertConfig& t, const BertConfig& s) {
  const std::string key = wider_than_teacher(s.hidden_size, s.num_attention_heads, s.intermediate_size, t);
  if (!key.empty()) {
    const int64_t student = key == "hidden" ? s.hidden_size : key == "heads" ? s.num_attention_heads : s.intermediate_size;
    const int64_t teacher = key == "hidden" ? t.hidden_size : key == "heads" ? t.num_attention_heads : t.intermediate_size;
    throw ConfigError("student." + key + ": init teacher-layers selects from the teacher's weights, and " +
                      std::to_string(student) + " is wider than the teacher's " + std::to_string(teacher) +
                      "; use init random or at most " + std::to_string(teacher));
  }
  WidthSelection sel;
  sel.hidden = index_tensor(evenly_spaced(t.hidden_size, s.hidden_size));
  sel.intermediate = index_tensor(evenly_spaced(t.intermediate_size, s.intermediate_size));
  const int64_t hd_t = t.hidden_size / t.num_attention_heads, hd_s = s.hidden_size / s.num_attention_heads;
  if (hd_s == hd_t) {
    std::vector<int64_t> dims;
    for (int64_t head : evenly_spaced(t.num_attention_heads, s.num_attention_heads)) {
      for (int64_t d = 0; d < hd_t; ++d) dims.push_back(head * hd_t + d);
    }
    sel.attention = index_tensor(dims);
  } else {
    sel.attention = sel.hidden;
  }
  return sel;
}

torch::Tensor select_teacher_weight(const std::string& name, const torch::Tensor& w, const WidthSelection& sel) {
  const auto has = [&](const char* part) { return name.find(part) != std::string::npos; };
  const auto cut = [&](torch::Tensor v, const torch::Tensor& rows, const torch::Tensor& cols) {
    if (rows.defined()) v = v.index_select(0, rows.to(v.device()));
    if (cols.defined() && v.dim() == 2) v = v.index_select(1, cols.to(v.device()));
    return v;
  };
  const torch::Tensor none;
  if (has("attention.self.")) return cut(w, sel.attention, sel.hidden);
  if (has("attention.output.dense.")) return cut(w, sel.hidden, sel.attention);
  if (has("intermediate.dense.")) return cut(w, sel.intermediate, sel.hidden);
  if (has(".output.dense.")) return cut(w, sel.hidden, sel.intermediate);
  if (has("LayerNorm.") || has("pooler.dense.") || has("transform.dense.")) return cut(w, sel.hidden, sel.hidden);
  // Embedding tables, the classifier and the masked-LM decoder: rows are tokens, positions or labels.
  if (w.dim() == 2) return cut(w, none, sel.hidden);
  return w;  // the classifier's and the decoder's biases; buffers
}

BuiltStudent build_student(BertImpl& teacher, const StudentSpec& in) {
  const StudentSpec s = resolve_student_spec(in);
  const BertConfig& tc = teacher.config;
  BuiltStudent out;
  BertConfig c = tc;
  c.num_hidden_layers = s.layers;
  c.hidden_size = s.hidden;
  c.num_attention_heads = s.heads;
  c.intermediate_size = s.intermediate;
  if (s.max_len > 0) {
    if (s.max_len > tc.max_position_embeddings && s.init == StudentInit::kTeacherLayers) {
      throw ConfigError("student.max_len: " + std::to_string(s.max_len) + " exceeds the teacher's " +
                        std::to_string(tc.max_position_embeddings) + " positions it would be initialised from");
    }
    c.max_position_embeddings = s.max_len;
  }
  c.validate("student");
  out.config = c;
  out.model = Bert(c, teacher.heads);
  if (s.init == StudentInit::kTeacherLayers) {
    const WidthSelection sel = select_widths(tc, c);
    out.layer_map = select_teacher_layers(s.layer_selection, s.layers, tc.num_hidden_layers, s.every_k, s.layer_list,
                                          "student.layer_selection");
    std::map<std::string, torch::Tensor> src;
    for (const auto& [k, v] : teacher.named_state()) src[k] = v;
    torch::NoGradGuard no_grad;
    for (auto& [name, param] : out.model->named_state()) {
      std::string from = name;
      const std::string prefix = "bert.encoder.layer.";
      if (name.rfind(prefix, 0) == 0) {
        const size_t dot = name.find('.', prefix.size());
        const int64_t i = std::stoll(name.substr(prefix.size(), dot - prefix.size()));
        from = prefix + std::to_string(out.layer_map[i] - 1) + name.substr(dot);
      }
      auto it = src.find(from);
      if (it == src.end()) throw std::logic_error("teacher has no weight '" + from + "'");
      auto value = select_teacher_weight(name, it->second, sel);
      if (name == "bert.embeddings.position_embeddings.weight") value = value.slice(0, 0, param.size(0));
      if (value.sizes() != param.sizes()) throw std::logic_error("weight selection gave the wrong shape for " + name);
      param.copy_(value);
    }
  }
  return out;
}

}  // namespace kdtext::model

namespace kdtext::model {

SentenceConfig sentence_student_config(StudentArch arch, const SentenceStudentSpec& s, const BertConfig& teacher) {
  if (arch == StudentArch::kBert) throw std::invalid_argument("sentence_student_config: a transformer arch");
  if (teacher.labels.empty()) {
    throw ConfigError("student.arch: a " + std::string(choice_name(arch, kStudentArchs)) +
                      " student takes its labels from a fine-tuned teacher; this teacher has no classification head");
  }
  SentenceConfig c;
  c.arch = arch == StudentArch::kBiLstm ? SentenceArch::kBiLstm
           : arch == StudentArch::kCnn  ? SentenceArch::kCnn
                                        : SentenceArch::kBag;
  c.vocab_size = teacher.vocab_size;
  c.pad_token_id = teacher.pad_token_id;
  c.num_labels = static_cast<int64_t>(teacher.labels.size());
  const bool bag = c.arch == SentenceArch::kBag;
  // The default width, or the teacher's when that is narrower and the embeddings start from it.
  c.embedding = s.embedding > 0 ? s.embedding : 128;
  if (s.embedding <= 0 && s.embedding_init == EmbeddingInit::kTeacher) c.embedding = std::min(c.embedding, teacher.hidden_size);
  c.hidden = s.hidden >= 0 ? s.hidden : (bag ? 0 : 128);
  c.layers = s.layers;
  c.widths = s.widths.empty() ? std::vector<int64_t>{2, 3, 4} : s.widths;
  c.pooling = s.pooling;
  c.ngram_buckets = bag ? (s.ngram_buckets >= 0 ? s.ngram_buckets : 100000) : 0;
  if (!bag && s.ngram_buckets > 0) throw ConfigError("student.sentence.ngram_buckets: only the bag student hashes n-grams");
  c.ngram_order = s.ngram_order;
  c.dropout = s.dropout;
  try {
    c.check();
  } catch (const std::invalid_argument& e) {
    throw ConfigError(std::string("student.sentence.") + e.what());
  }
  if (s.embedding_init == EmbeddingInit::kTeacher && c.embedding > teacher.hidden_size) {
    throw ConfigError("student.sentence.embedding: " + std::to_string(c.embedding) + " is wider than the teacher's " +
                      std::to_string(teacher.hidden_size) + " (its embeddings are reduced, not widened); use at most " +
                      std::to_string(teacher.hidden_size) + " or embedding_init random");
  }
  return c;
}

SentenceClassifier build_sentence_student(const BertImpl& teacher, StudentArch arch, const SentenceStudentSpec& s) {
  const SentenceConfig c = sentence_student_config(arch, s, teacher.config);
  SentenceClassifier m(c);
  torch::NoGradGuard no_grad;
  const double bound = 1.0 / static_cast<double>(c.embedding);  // fastText's U(-1/dim, 1/dim)
  if (s.embedding_init == EmbeddingInit::kTeacher) {
    m->embeddings->weight.copy_(reduce_embeddings(teacher.bert->embeddings->word_embeddings->weight, c.embedding));
  } else if (c.arch == SentenceArch::kBag) {
    m->embeddings->weight.uniform_(-bound, bound);
  }
  if (c.ngram_buckets > 0) m->ngram_embeddings->weight.uniform_(-bound, bound);
  return m;
}

}  // namespace kdtext::model
