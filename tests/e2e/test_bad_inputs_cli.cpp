// The bad-input table (issue 16): one row per hostile input to a stage —
// malformed data, corrupt or mismatched checkpoints, wrong settings, missing
// files. Each must exit with the expected code, name the file, line or key,
// leave nothing half-written, and leave a previous good output untouched.
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <functional>
#include <iostream>
#include <map>
#include <regex>

#include "e2e/pipeline_fixture.h"
#include "kdtext/util/json.h"
#include "torch_zip.h"

using namespace kdtext;
using namespace kdtext::testing;
namespace fs = std::filesystem;

namespace {

// Every file under `path` (or `path` itself) by relative name, with its content.
std::map<std::string, std::string> contents(const fs::path& path) {
  std::map<std::string, std::string> out;
  if (fs::is_regular_file(path)) out["."] = read_file(path);
  if (!fs::is_directory(path)) return out;
  for (const auto& e : fs::recursive_directory_iterator(path)) {
    if (e.is_regular_file()) out[fs::relative(e.path(), path).string()] = read_file(e.path());
  }
  return out;
}

// Entries a killed or failed writer could leave beside or inside `path`.
std::vector<std::string> leftovers(const fs::path& dir) {
  static const std::regex kLeftover(R"(.*(\.(partial|old|tmp|pruning|replaced)-[0-9]+|\.lock))");
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (std::regex_match(e.path().filename().string(), kLeftover)) out.push_back(e.path().string());
  }
  return out;
}

void copy_dir(const fs::path& from, const fs::path& to) {
  fs::create_directories(to.parent_path());
  fs::copy(from, to, fs::copy_options::recursive);
}

void edit_json(const fs::path& file, const std::function<void(Json&)>& edit) {
  Json j = read_json_file(file);
  edit(j);
  write_file(file, j.dump(2));
}

// Rewrites one tensor of a safetensors file: `edit(header_entry, data)` may
// change the entry (dtype) and the tensor's bytes in place.
void edit_tensor(const fs::path& file, const std::string& name,
                 const std::function<void(Json&, char*)>& edit) {
  std::string bytes = read_file(file);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  Json header = Json::parse(bytes.substr(8, n));
  const int64_t begin = header[name]["data_offsets"][0].get<int64_t>();
  const std::string before = header.dump();
  edit(header[name], bytes.data() + 8 + n + begin);
  std::string text = header.dump();
  if (text.size() > n) throw std::runtime_error("edit_tensor: the header grew");
  text.resize(n, ' ');
  bytes.replace(8, n, text);
  write_file(file, bytes);
}

struct Case {
  std::string what;
  std::string command;
  int exit_code;
  std::string message;   // must appear in the output: names the file, line or key
  fs::path output;       // what the command would write
  std::string previous;  // "" = output must not exist afterwards; else a path whose content is put there first
};

}  // namespace

// The table runs in two halves (two ctest entries, each within the per-test
// time limit); each half builds the same fixtures.
static void run_table(size_t half) {
  const auto& p = pipeline();
  TempDir dir;
  const fs::path d = dir.path();
  const auto task = source_dir() / "data" / "task";
  const std::string train = quote((task / "train.tsv").string()), dev = quote((task / "dev.tsv").string());
  const auto q = [](const fs::path& f) { return quote(f.string()); };
  const std::string teacher = q(p.ft / "best");

  // --- files the rows read ---------------------------------------------------------
  write_file(d / "header-only.tsv", "label\ttext\n");
  write_file(d / "empty.tsv", "");
  write_file(d / "quote.csv", "label,text\nsports,\"The striker scored\ncooking,\"Slow\" soup\nsports,Goal\n");
  write_file(d / "utf8.tsv", "label\ttext\nsports\tGoal!\ncooking\tSoup \xC3\x28 bad\n");
  write_file(d / "columns.tsv", "label\ttext\nsports\tGoal!\ncooking\n");
  write_file(d / "unknown-label.tsv", "label\ttext\nsports\tGoal!\nweather\tRain again\n");
  write_file(d / "bad.jsonl", "{\"text\": \"Goal!\", \"label\": \"sports\"}\n{\"text\": \"Soup\", \"label\": \n");
  write_file(d / "no-text.jsonl", "{\"body\": \"Goal!\", \"label\": \"sports\"}\n");
  write_file(d / "huge-number.json", "{\"trainer\": {\"max_steps\": 1e999}}");
  write_file(d / "unknown-key.json", "{\"trainer\": {\"learning_rate_typo\": 0.1}}");
  write_file(d / "syntax.json", "{\"trainer\": {\"lr\": 0.1,}}");
  write_file(d / "float-steps.json", "{\"trainer\": {\"max_steps\": 10.5}}");
  write_file(d / "corpus.txt", "one line of text\nanother line\n");
  const auto bytes = [](const auto& literal) { return std::string(literal, sizeof literal - 1); };  // NULs kept
  write_file(d / "binary.tsv", bytes("label\ttext\nsports\tGo\0al\x01\x02\n"));
  write_file(d / "utf16.tsv", bytes("\xff\xfel\0a\0b\0e\0l\0\t\0t\0e\0x\0t\0\n\0"));
  write_file(d / "bad-utf8.txt", "fine\nnot \xff\xfe fine\n");
  write_file(d / "a-file", "not a checkpoint\n");
  write_file(d / "huge.json", Json{{"hidden_size", 1000000000}, {"num_attention_heads", 1}, {"num_hidden_layers", 2},
                                    {"intermediate_size", 64}, {"vocab_size", 400}}.dump());
  write_file(d / "negative.json", Json{{"hidden_size", -64}, {"num_attention_heads", 2}}.dump());
  write_file(d / "victim.csv.orig", "precious,data\n1,2\n");
  fs::create_directories(d / "myproject" / "src");
  write_file(d / "myproject" / "src" / "notes.txt", "my notes\n");

  // Damaged copies of the fine-tuned teacher.
  const auto damaged = [&](const std::string& name, const std::function<void(const fs::path&)>& damage) {
    copy_dir(p.ft / "best", d / name);
    damage(d / name);
    return d / name;
  };
  const auto truncated = damaged("ck-truncated", [](const fs::path& c) {
    const std::string w = read_file(c / "model.safetensors");
    write_file(c / "model.safetensors", w.substr(0, w.size() / 2));
  });
  const auto empty_weights = damaged("ck-empty", [](const fs::path& c) { write_file(c / "model.safetensors", ""); });
  const auto bad_config = damaged("ck-syntax", [](const fs::path& c) { write_file(c / "config.json", "{\n  \"hidden_size\": 64,\n"); });
  const auto narrow = damaged("ck-narrow", [](const fs::path& c) {
    edit_json(c / "config.json", [](Json& j) { j["intermediate_size"] = 128; });
  });
  const auto newer = damaged("ck-newer", [](const fs::path& c) {
    edit_json(c / "kdtext.json", [](Json& j) { j["format_version"] = 99; });
  });
  const auto no_meta = damaged("ck-nometa", [](const fs::path& c) { fs::remove(c / "kdtext.json"); });
  const auto fingerprint = damaged("ck-fingerprint", [](const fs::path& c) {
    edit_json(c / "kdtext.json", [](Json& j) { j["tokenizer"]["fingerprint"] = "fnv1a64:0000000000000000"; });
  });
  const auto no_tokenizer = damaged("ck-notok", [](const fs::path& c) { fs::remove_all(c / "tokenizer"); });
  const auto vocab = damaged("ck-vocab", [](const fs::path& c) {
    edit_json(c / "config.json", [](Json& j) { j["vocab_size"] = 500; });
  });
  const auto heads = damaged("ck-heads", [](const fs::path& c) {
    edit_json(c / "kdtext.json", [](Json& j) { j["heads"] = "bogus"; });
  });
  const auto bad_labels = damaged("ck-labels", [](const fs::path& c) {
    edit_json(c / "config.json", [](Json& j) { j["id2label"] = {{"0", "a"}, {"1", "b"}}; });
  });
  const auto nan_weights = damaged("ck-nan", [](const fs::path& c) {
    edit_tensor(c / "model.safetensors", "classifier.bias", [](Json&, char* data) {
      const float nan = std::numeric_limits<float>::quiet_NaN();
      std::memcpy(data, &nan, 4);
    });
  });
  const auto int_weights = damaged("ck-int", [](const fs::path& c) {
    edit_tensor(c / "model.safetensors", "classifier.bias", [](Json& entry, char*) { entry["dtype"] = "I32"; });
  });
  const auto label2id = damaged("ck-label2id", [](const fs::path& c) {
    edit_json(c / "config.json", [](Json& j) {
      auto names = j["id2label"];
      j["label2id"] = {{names["0"].get<std::string>(), 1}, {names["1"].get<std::string>(), 0}};
    });
  });
  const auto num_labels = damaged("ck-numlabels", [](const fs::path& c) {
    edit_json(c / "config.json", [](Json& j) { j["num_labels"] = 7; });
  });
  const auto meta_labels = damaged("ck-metalabels", [](const fs::path& c) {
    edit_json(c / "kdtext.json", [](Json& j) { j["labels"] = {"x", "y"}; });
  });
  const auto huge = damaged("ck-huge", [](const fs::path& c) {
    edit_json(c / "config.json", [](Json& j) { j["hidden_size"] = 1000000000; });
  });

  // Sentence students, and copies whose config.json asks for more memory than there is (written by an
  // earlier kdtext: no config_fingerprint in kdtext.json), or computes otherwise than the weights were made for.
  for (const std::string arch : {"bag", "cnn", "bilstm"}) {
    const auto r = run_command(bin("kdtext-build-student") + " --teacher " + teacher + " --arch " + arch +
                               " --embedding 16 --sentence-hidden 16 " + (arch == "bag" ? "--ngram-buckets 100 " : "") +
                               "--quiet -o " + q(d / ("s-" + arch)));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  const auto sentence_copy = [&](const std::string& arch, const std::string& name, const std::string& key, int64_t v) {
    copy_dir(d / ("s-" + arch), d / name);
    edit_json(d / name / "config.json", [&](Json& j) { j[key] = v; });
    edit_json(d / name / "kdtext.json", [](Json& j) { j.erase("config_fingerprint"); });
    return d / name;
  };
  const auto huge_bag = sentence_copy("bag", "s-huge-bag", "ngram_buckets", 1000000000000);
  const auto huge_cnn = sentence_copy("cnn", "s-huge-cnn", "hidden", 1000000000);
  const auto huge_lstm = sentence_copy("bilstm", "s-huge-lstm", "hidden", 1000000000);
  copy_dir(d / "s-bag", d / "s-order");
  edit_json(d / "s-order" / "config.json", [](Json& j) { j["ngram_order"] = 100; });

  // Hugging Face directories whose pytorch_model.bin (written byte by byte) is hostile: the fine-tuned
  // teacher's config.json beside it (a kdtext checkpoint is a transformers directory).
  const auto hf_bin = [&](const std::string& name, const std::vector<ZipRecord>& records) {
    copy_dir(p.ft / "best", d / name);
    fs::remove(d / name / "model.safetensors");
    write_raw_zip(d / name / "pytorch_model.bin", records);
    return d / name;
  };
  const auto weight = [](const std::string& key, const std::string& type, const std::string& storage_key = "0") {
    return Pickle::state_dict(key, [&](Pickle& q) { q.tensor(3, 0, {1, 3}, {3, 1}, storage_key, type); }).b;
  };
  const std::string bias = weight("classifier.bias", "FloatStorage"), three = float_bytes(3);
  const auto version11 = hf_bin("hf-v11", torch_archive("11", bias, three));
  const auto version_abc = hf_bin("hf-vabc", torch_archive("abc", bias, three));
  const auto version_empty = hf_bin("hf-vempty", torch_archive("", bias, three));
  const auto deep = hf_bin("hf-deep", torch_archive("3", std::string(1000000, ']') + std::string(999999, 'a') + ".", three));
  const auto bomb = hf_bin("hf-bomb", torch_archive("3", bias, three, {{"archive/data/1", "xx", 8, uint64_t{4} << 30}}));
  const auto twice = hf_bin("hf-twice", torch_archive("3", bias, three, {{"archive/data.pkl", "}."}}));
  const auto proto = hf_bin("hf-proto", torch_archive("3", "\x80\x63}.", three));
  Pickle frame;
  frame.op('\x80').op('\x04').op('\x95').raw(uint64_t{1} << 62, 8).op('}').op('.');
  const auto huge_frame = hf_bin("hf-frame", torch_archive("3", frame.b, three));
  const auto odd_storage = hf_bin("hf-oddstorage", torch_archive("3", weight("classifier.bias", "ComplexStorage"), three));
  write_file(d / "bom2.txt", "fine\n\xff\xfe then text\n");
  const auto longs = hf_bin("hf-long", torch_archive("3", weight("classifier.bias", "LongStorage"), std::string(24, '\0')));
  const auto bools = hf_bin("hf-bool", torch_archive("3", weight("classifier.bias", "BoolStorage"), std::string(3, '\1')));
  const auto nul_key = hf_bin("hf-nulkey", torch_archive("3", weight("classifier.bias", "FloatStorage", std::string("0\0x", 3)), three));
  const auto big_storage = hf_bin("hf-big", torch_archive("3", Pickle::state_dict("classifier.bias", [](Pickle& q) {
    q.tensor(1 << 20, 0, {1, 3}, {3, 1});
  }).b, float_bytes(1 << 20)));
  Pickle hooks = Pickle::state_dict("classifier.bias", [](Pickle& q) {
    q.global("torch._utils", "_rebuild_tensor_v2").op('(');
    q.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").int1(3).op('t').op('Q');
    q.int1(0).int1(1).int1(3).op('\x86').int1(3).int1(1).op('\x86').op('\x89');
    q.op('}').str("hook").global("builtins", "eval").op('s').op('t').op('R');
  });
  const auto hook = hf_bin("hf-hook", torch_archive("3", hooks.b, three));
  const auto hf_config = [&](const std::string& name, const std::function<void(Json&)>& edit) {
    copy_dir(p.ft / "best", d / name);
    edit_json(d / name / "config.json", edit);
    return d / name;
  };
  const auto five_labels = hf_config("hf-5labels", [](Json& j) { j.erase("id2label"); j.erase("label2id"); j["num_labels"] = 5; });
  const auto null_type = hf_config("hf-nulltype", [](Json& j) { j["model_type"] = nullptr; });
  copy_dir(p.ft / "best", d / "hf-array");
  write_file(d / "hf-array" / "config.json", "[1, 2]");
  copy_dir(p.ft / "best", d / "hf-utf16");
  std::string utf16 = "\xff\xfe";
  for (const char ch : read_file(p.ft / "best" / "config.json")) utf16 += std::string{ch, '\0'};
  write_file(d / "hf-utf16" / "config.json", utf16);
  const auto import = [&](const fs::path& src, const fs::path& out) {
    return bin("kdtext-import-hf") + " " + q(src) + " " + q(out);
  };
  write_file(d / "number-text.jsonl", "{\"text\": \"Goal!\"}\n{\"text\": 123}\n");
  write_file(d / "stdin-self.tsv.orig", read_file(task / "test.tsv"));

  // Damaged copies of the preprocess output.
  copy_dir(p.prep, d / "prep-shard");
  for (const auto& e : fs::directory_iterator(d / "prep-shard" / "shards")) {
    if (e.path().extension() == ".kdts") fs::resize_file(e.path(), fs::file_size(e.path()) - 5);
  }
  copy_dir(p.prep, d / "prep-index");
  edit_json(d / "prep-index" / "shards" / "index.json", [](Json& j) { j["shards"][0]["file"] = "../../etc/passwd"; });

  // A student to distil into, and good outputs that a failed --overwrite must not destroy.
  auto r = run_command(bin("kdtext-build-student") + " --teacher " + teacher +
                       " --layers 1 --hidden 32 --heads 2 --intermediate 64 -o " + q(d / "student") + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  write_file(d / "good-predictions.tsv", "label\tprob\ncooking\t0.9\n");

  const std::string classify = bin("kdtext-classify") + " --quiet -m ";
  const auto finetune = [&](const std::string& args, const fs::path& out) {
    return bin("kdtext-finetune") + " --from " + q(p.mlm / "final") + " --batch-size 16 --max-len 48 --threads 1 " +
           "--max-steps 2 -o " + q(out) + " " + args;
  };
  const auto distill = [&](const std::string& args, const fs::path& out) {
    return bin("kdtext-distill") + " --teacher " + teacher + " --student " + q(d / "student") + " --train " + train +
           " --dev " + dev + " --max-steps 2 --batch-size 16 --max-len 48 --threads 1 -o " + q(out) + " " + args;
  };
  const auto pretrain = [&](const fs::path& prep, const std::string& args, const fs::path& out) {
    return bin("kdtext-pretrain") + " " + q(prep) + " --model bert-tiny --max-len 64 --batch-size 8 --max-steps 2 "
           "--threads 1 -o " + q(out) + " " + args;
  };
  const auto build = [&](const std::string& args, const fs::path& out) {
    return bin("kdtext-build-student") + " --teacher " + teacher + " -o " + q(out) + " " + args;
  };
  const auto preprocess = [&](const std::string& args, const fs::path& out) {
    return bin("kdtext-preprocess") + " " + args + " -o " + q(out);
  };
  const std::string good_run = (p.ft).string(), good_pred = (d / "good-predictions.tsv").string();
  const fs::path o = d / "out";

  const std::vector<Case> cases = {
      // Labelled data.
      {"a directory as input", classify + teacher + " " + q(d) + " --eval -o " + q(o / "c1.tsv"), 1, d.string() + ": is a directory", o / "c1.tsv", ""},
      {"a missing input file", classify + teacher + " " + q(d / "nope.tsv") + " -o " + q(o / "c2.tsv"), 1, "nope.tsv", o / "c2.tsv", ""},
      {"a header-only file with --eval", classify + teacher + " " + q(d / "header-only.tsv") + " --eval -o " + q(o / "c3.tsv"), 1, "header-only.tsv: no labelled examples to evaluate", o / "c3.tsv", good_pred},
      {"an empty file with --eval", classify + teacher + " " + q(d / "empty.tsv") + " --eval -o " + q(o / "c4.tsv"), 1, "empty.tsv", o / "c4.tsv", ""},
      {"a named column the header lacks", classify + teacher + " " + q(task / "test.tsv") + " --text-column body -o " + q(o / "c5.tsv"), 2, "text_column 'body' is not in the first row (label, text)", o / "c5.tsv", good_pred},
      {"an unterminated quote in a CSV", classify + teacher + " " + q(d / "quote.csv") + " --eval -o " + q(o / "c6.tsv"), 1, "quote.csv:3: text after the closing quote of a field that opened on line 2", o / "c6.tsv", good_pred},
      {"a line without its text column", classify + teacher + " " + q(d / "columns.tsv") + " --eval -o " + q(o / "c7.tsv"), 1, "columns.tsv:3:", o / "c7.tsv", ""},
      {"a label the model does not know (--eval)", classify + teacher + " " + q(d / "unknown-label.tsv") + " --eval -o " + q(o / "c8.tsv"), 1, "unknown-label.tsv:3:", o / "c8.tsv", good_pred},
      {"a JSON line cut short", classify + teacher + " " + q(d / "bad.jsonl") + " --eval -o " + q(o / "c9.tsv"), 1, "bad.jsonl:2: invalid JSON", o / "c9.tsv", ""},
      {"a JSON line without the text field", classify + teacher + " " + q(d / "no-text.jsonl") + " -o " + q(o / "c10.tsv"), 1, "no-text.jsonl:1: missing or non-string field 'text'", o / "c10.tsv", ""},
      {"invalid UTF-8 in training data", finetune("--train " + q(d / "utf8.tsv") + " --dev " + dev, o / "f1"), 1, "utf8.tsv:3: invalid UTF-8", o / "f1", ""},
      {"a training line without its label", finetune("--train " + q(d / "columns.tsv") + " --dev " + dev, o / "f2"), 1, "columns.tsv:3:", o / "f2", ""},
      {"a dev label absent from training", finetune("--train " + train + " --dev " + q(d / "unknown-label.tsv"), o / "f3"), 1, "unknown-label.tsv:3:", o / "f3", ""},
      {"an empty training file", finetune("--train " + q(d / "empty.tsv") + " --dev " + dev, o / "f4"), 1, "empty.tsv", o / "f4", ""},
      {"a dev label unknown to the teacher, over a good run", distill("--overwrite --dev " + q(d / "unknown-label.tsv"), o / "d1"), 1, "unknown-label.tsv:3:", o / "d1", good_run},
      // Checkpoints.
      {"a truncated model.safetensors", classify + q(truncated) + " " + q(task / "test.tsv") + " -o " + q(o / "c11.tsv"), 1, "ck-truncated/model.safetensors: ", o / "c11.tsv", good_pred},
      {"an empty model.safetensors", classify + q(empty_weights) + " " + q(task / "test.tsv") + " -o " + q(o / "c12.tsv"), 1, "ck-empty/model.safetensors: not a safetensors file", o / "c12.tsv", ""},
      {"a config.json cut short", classify + q(bad_config) + " " + q(task / "test.tsv") + " -o " + q(o / "c13.tsv"), 1, "ck-syntax/config.json:", o / "c13.tsv", ""},
      {"a config.json that does not match the weights", classify + q(narrow) + " " + q(task / "test.tsv") + " -o " + q(o / "c14.tsv"), 1, "ck-narrow", o / "c14.tsv", ""},
      {"a checkpoint from a newer kdtext", classify + q(newer) + " " + q(task / "test.tsv") + " -o " + q(o / "c15.tsv"), 1, "ck-newer/kdtext.json: checkpoint format version 99", o / "c15.tsv", ""},
      {"a directory without kdtext.json", classify + q(no_meta) + " " + q(task / "test.tsv") + " -o " + q(o / "c16.tsv"), 1, "ck-nometa: not a kdtext checkpoint (no kdtext.json)", o / "c16.tsv", ""},
      {"a tokenizer replaced under the checkpoint", classify + q(fingerprint) + " " + q(task / "test.tsv") + " -o " + q(o / "c17.tsv"), 1, "ck-fingerprint/kdtext.json: tokenizer fingerprint", o / "c17.tsv", ""},
      {"a checkpoint without its tokenizer", classify + q(no_tokenizer) + " " + q(task / "test.tsv") + " -o " + q(o / "c18.tsv"), 1, "ck-notok/tokenizer", o / "c18.tsv", ""},
      {"a vocabulary size the tokenizer does not have", classify + q(vocab) + " " + q(task / "test.tsv") + " -o " + q(o / "c19.tsv"), 1, "ck-vocab/config.json: vocab_size 500 does not match", o / "c19.tsv", ""},
      {"unknown heads in kdtext.json", classify + q(heads) + " " + q(task / "test.tsv") + " -o " + q(o / "c20.tsv"), 1, "ck-heads/kdtext.json: unknown heads 'bogus'", o / "c20.tsv", ""},
      {"labels that do not match the classifier", classify + q(bad_labels) + " " + q(task / "test.tsv") + " -o " + q(o / "c21.tsv"), 1, "ck-labels", o / "c21.tsv", ""},
      {"a checkpoint that does not exist", classify + q(d / "nowhere") + " " + q(task / "test.tsv") + " -o " + q(o / "c22.tsv"), 1, "nowhere: checkpoint directory does not exist", o / "c22.tsv", ""},
      {"fine-tuning from a preprocess output", bin("kdtext-finetune") + " --from " + q(p.prep) + " --train " + train + " --dev " + dev + " -o " + q(o / "f5"), 1, "not a kdtext checkpoint", o / "f5", ""},
      {"distilling into a student of another tokenizer", distill("--overwrite", o / "d2") + " --student " + q(vocab), 1, "ck-vocab", o / "d2", ""},
      // Token shards.
      {"a truncated token shard", pretrain(d / "prep-shard", "", o / "p1"), 1, "not a valid kdtext token shard", o / "p1", ""},
      {"an index.json naming a file outside the directory", pretrain(d / "prep-index", "", o / "p2"), 1, "index.json: malformed index: shard file '../../etc/passwd'", o / "p2", ""},
      {"pretraining on a directory with no shards", pretrain(d / "student", "", o / "p3"), 1, "no index.json", o / "p3", ""},
      // Settings.
      {"--lr 0 over a good run", finetune("--overwrite --lr 0 --train " + train + " --dev " + dev, o / "f6"), 2, "lr", o / "f6", good_run},
      {"--batch-size 0", finetune("--batch-size 0 --train " + train + " --dev " + dev, o / "f7"), 2, "batch_size", o / "f7", ""},
      {"--max-len beyond the model's positions", finetune("--max-len 100000 --train " + train + " --dev " + dev, o / "f8"), 2, "max_len", o / "f8", ""},
      {"--epochs -1", finetune("--max-steps 0 --epochs -1 --train " + train + " --dev " + dev, o / "f9"), 2, "epochs", o / "f9", ""},
      {"a --config that does not exist", finetune("--config " + q(d / "missing.json") + " --train " + train + " --dev " + dev, o / "f10"), 2, "missing.json", o / "f10", ""},
      {"a --config with an unknown key", finetune("--config " + q(d / "unknown-key.json") + " --train " + train + " --dev " + dev, o / "f11"), 2, "trainer.learning_rate_typo", o / "f11", ""},
      {"a --config with a syntax error", finetune("--config " + q(d / "syntax.json") + " --train " + train + " --dev " + dev, o / "f12"), 2, "syntax.json:1:", o / "f12", ""},
      {"a --config number too large for a double", finetune("--config " + q(d / "huge-number.json") + " --train " + train + " --dev " + dev, o / "f13"), 2, "huge-number.json", o / "f13", ""},
      {"a --config step count with a fraction", finetune("--config " + q(d / "float-steps.json") + " --train " + train + " --dev " + dev, o / "f14"), 2, "trainer.max_steps", o / "f14", ""},
      {"an unknown --device", finetune("--device tpu --train " + train + " --dev " + dev, o / "f15"), 2, "tpu", o / "f15", ""},
      {"--resume with no checkpoint", finetune("--resume --train " + train + " --dev " + dev, o / "f16"), 2, "no resumable checkpoint", o / "f16", ""},
      {"an unknown --precision", classify + teacher + " " + q(task / "test.tsv") + " --precision fp64 -o " + q(o / "c23.tsv"), 2, "fp64", o / "c23.tsv", good_pred},
      {"--layers 0", build("--layers 0", o / "b1"), 2, "layers", o / "b1", ""},
      {"a hidden size the heads do not divide", build("--layers 1 --hidden 30 --heads 4 --intermediate 64", o / "b2"), 2, "30", o / "b2", ""},
      {"a teacher layer that does not exist, over a good student", build("--overwrite --layers 2 --hidden 64 --heads 2 --intermediate 256 --init teacher-layers --layer-selection list --layer-list 1 --layer-list 7", o / "b3"), 2, "teacher layer 7, which does not exist", o / "b3", (d / "student").string()},
      {"--vocab-size too small", preprocess(q(d / "corpus.txt") + " --vocab-size 5", o / "r1"), 2, "vocab_size", o / "r1", ""},
      // Issue 26: encodings, outputs that are inputs or cannot be written, damaged weights,
      // models too large for the machine, late settings, --overwrite of what kdtext did not write.
      {"a binary TSV", classify + teacher + " " + q(d / "binary.tsv") + " -o " + q(o / "c24.tsv"), 1, "binary.tsv:2: a NUL byte", o / "c24.tsv", ""},
      {"a UTF-16 TSV", classify + teacher + " " + q(d / "utf16.tsv") + " -o " + q(o / "c25.tsv"), 1, "utf16.tsv:1: invalid UTF-8: the file starts with a UTF-16 byte-order mark", o / "c25.tsv", ""},
      {"a file as the checkpoint", classify + q(d / "a-file") + " " + q(task / "test.tsv") + " -o " + q(o / "c26.tsv"), 1, "a-file: is a file; a checkpoint is a directory", o / "c26.tsv", ""},
      {"the labelled input as the output (--eval)", classify + teacher + " " + q(d / "self.tsv") + " --eval -o " + q(d / "self.tsv"), 2, "--output: " + (d / "self.tsv").string() + " is also an input", d / "self.tsv", (task / "test.tsv").string()},
      {"--metrics in a directory that does not exist", classify + teacher + " " + q(task / "test.tsv") + " --eval --metrics " + q(d / "nodir" / "m.json") + " -o " + q(o / "c27.tsv"), 2, "--metrics: " + (d / "nodir" / "m.json").string() + ": directory", o / "c27.tsv", ""},
      {"--timings in a directory that does not exist", classify + teacher + " " + q(task / "test.tsv") + " --timings " + q(d / "nodir" / "t.json") + " -o " + q(o / "c28.tsv"), 2, "--timings: ", o / "c28.tsv", good_pred},
      {"a directory as the output file", classify + teacher + " " + q(task / "test.tsv") + " -o " + q(d / "student"), 2, "--output: " + (d / "student").string() + " is a directory", o / "c29.tsv", ""},
      {"--top-k 0", classify + teacher + " " + q(task / "test.tsv") + " --top-k 0 -o " + q(o / "c30.tsv"), 2, "top_k", o / "c30.tsv", ""},
      {"NaN in a weight", classify + q(nan_weights) + " " + q(task / "test.tsv") + " -o " + q(o / "c31.tsv"), 1, "ck-nan: weight 'classifier.bias' holds 1 NaN or infinite value(s)", o / "c31.tsv", good_pred},
      {"a weight stored as I32", classify + q(int_weights) + " " + q(task / "test.tsv") + " -o " + q(o / "c32.tsv"), 1, "weight 'classifier.bias' is stored as Int", o / "c32.tsv", ""},
      {"label2id that contradicts id2label", classify + q(label2id) + " " + q(task / "test.tsv") + " -o " + q(o / "c33.tsv"), 1, "ck-label2id/config.json: label2id", o / "c33.tsv", ""},
      {"num_labels that contradicts id2label", classify + q(num_labels) + " " + q(task / "test.tsv") + " -o " + q(o / "c34.tsv"), 1, "ck-numlabels/config.json: num_labels 7", o / "c34.tsv", ""},
      {"kdtext.json labels that contradict config.json", classify + q(meta_labels) + " " + q(task / "test.tsv") + " -o " + q(o / "c35.tsv"), 1, "ck-metalabels/kdtext.json: labels [\"x\",\"y\"] do not match", o / "c35.tsv", ""},
      {"a checkpoint too large for memory (classify)", classify + q(huge) + " " + q(task / "test.tsv") + " -o " + q(o / "c36.tsv"), 2, "ck-huge/config.json: hidden_size 1000000000", o / "c36.tsv", ""},
      {"fine-tuning a checkpoint too large for memory", bin("kdtext-finetune") + " --from " + q(huge) + " --train " + train + " --dev " + dev + " -o " + q(o / "f17"), 2, "hidden_size 1000000000", o / "f17", ""},
      {"fine-tuning one too large, over a good run", bin("kdtext-finetune") + " --overwrite --from " + q(huge) + " --train " + train + " --dev " + dev + " -o " + q(o / "f18"), 2, "hidden_size 1000000000", o / "f18", good_run},
      {"pretraining a model too large for memory", pretrain(p.prep, "--model " + q(d / "huge.json"), o / "p4"), 2, "huge.json: hidden_size 1000000000", o / "p4", ""},
      {"a student too large for memory", build("--layers 1 --hidden 1000000000 --heads 1 --intermediate 64", o / "b4"), 2, "hidden_size 1000000000", o / "b4", ""},
      {"a negative student width", build("--layers 1 --hidden -64 --heads 2 --intermediate 64", o / "b5"), 2, "student.hidden: must be >= 1, got -64", o / "b5", ""},
      {"a negative hidden size in a model config", pretrain(p.prep, "--model " + q(d / "negative.json"), o / "p5"), 2, "hidden_size must be >= 1", o / "p5", ""},
      {"--vocab-size below the corpus's characters", preprocess(q((source_dir() / "data" / "corpus").string()) + " --vocab-size 20", o / "r3"), 2, "raise --vocab-size", o / "r3", ""},
      {"--lr inf", finetune("--lr inf --train " + train + " --dev " + dev, o / "f19"), 2, "--lr: expected a finite number, got 'inf'", o / "f19", ""},
      {"--lr nan over a good run", finetune("--overwrite --lr nan --train " + train + " --dev " + dev, o / "f20"), 2, "--lr: expected a finite number", o / "f20", good_run},
      {"--grad-accum 0", finetune("--grad-accum 0 --train " + train + " --dev " + dev, o / "f21"), 2, "trainer.grad_accum: must be >= 1", o / "f21", ""},
      {"--eval-every -1", finetune("--eval-every -1 --train " + train + " --dev " + dev, o / "f22"), 2, "trainer.eval_every: must be >= 0", o / "f22", ""},
      {"--max-steps -1", finetune("--max-steps -1 --train " + train + " --dev " + dev, o / "f23"), 2, "trainer.max_steps: must be >= 0", o / "f23", ""},
      {"--epochs 1.5", finetune("--max-steps 0 --epochs 1.5 --train " + train + " --dev " + dev, o / "f24"), 2, "--epochs: expected an integer", o / "f24", ""},
      {"--threads abc", finetune("--threads abc --train " + train + " --dev " + dev, o / "f25"), 2, "--threads: expected an integer, got 'abc'", o / "f25", ""},
      {"fine-tuning from a file", bin("kdtext-finetune") + " --from " + q(d / "a-file") + " --train " + train + " --dev " + dev + " -o " + q(o / "f26"), 1, "a-file: is a file", o / "f26", ""},
      {"a directory as the training file", finetune("--train " + q(d / "student") + " --dev " + dev, o / "f27"), 1, "is a directory", o / "f27", ""},
      {"--overwrite of a user's file", finetune("--overwrite --train " + train + " --dev " + dev, d / "victim.csv"), 2, "victim.csv: exists and is not a directory", d / "victim.csv", (d / "victim.csv").string() + ".orig"},
      {"--overwrite of a user's directory (training)", finetune("--overwrite --train " + train + " --dev " + dev, o / "proj1"), 2, "holds files kdtext did not write", o / "proj1", (d / "myproject").string()},
      {"--overwrite of a user's directory (build-student)", build("--overwrite --layers 1 --hidden 32 --heads 2 --intermediate 64", o / "proj2"), 2, "holds files kdtext did not write", o / "proj2", (d / "myproject").string()},
      {"--overwrite of a user's directory (preprocess)", preprocess(q(d / "corpus.txt") + " --overwrite --vocab-size 64", o / "proj3"), 2, "holds files kdtext did not write", o / "proj3", (d / "myproject").string()},
      {"--overwrite of the current directory", "cd " + q(o / "cwd") + " && " + bin("kdtext-build-student") + " --teacher " + teacher + " --layers 1 --hidden 32 --heads 2 --intermediate 64 -o . --overwrite", 2, "is the current directory or holds it", o / "cwd", (d / "student").string()},
      {"--overwrite of a directory holding the current one", "cd " + q(o / "cwd2" / "src") + " && " + finetune("--overwrite --train " + train + " --dev " + dev, o / "cwd2"), 2, "is the current directory or holds it", o / "cwd2", (d / "myproject").string()},
      {"an augmentation too large for the disk", bin("kdtext-augment") + " " + train + " --teacher " + teacher + " --copies 1000000000000 -o " + q(o / "a1.jsonl"), 2, "augment.copies: 1000000000000 copies", o / "a1.jsonl", ""},
      {"invalid UTF-8 to kdtext-tokenize", bin("kdtext-tokenize") + " --tokenizer " + q(p.prep / "tokenizer") + " " + q(d / "bad-utf8.txt") + " -o " + q(o / "t1.txt"), 1, "bad-utf8.txt:2: invalid UTF-8", o / "t1.txt", ""},
      {"distilling with a file as the teacher", distill("", o / "d3") + " --teacher " + q(d / "a-file"), 1, "a-file: is a file", o / "d3", ""},
      {"a corpus path that does not exist", preprocess(q(d / "no-corpus"), o / "r2"), 2, "no-corpus", o / "r2", ""},
      // Issue 40: the readers and caches that came later, against crafted input.
      {"a bag with 10^12 n-gram buckets (classify)", classify + q(huge_bag) + " " + q(task / "test.tsv") + " -o " + q(o / "c37.tsv"), 2, "s-huge-bag/config.json: vocab_size", o / "c37.tsv", ""},
      {"a cnn with 10^9 filters (classify, int8)", classify + q(huge_cnn) + " " + q(task / "test.tsv") + " --precision int8 -o " + q(o / "c38.tsv"), 2, "hidden 1000000000", o / "c38.tsv", ""},
      {"a bilstm with 10^9 units (distill)", distill("", o / "d4") + " --student " + q(huge_lstm), 2, "s-huge-lstm/config.json: vocab_size", o / "d4", ""},
      {"build-student --arch bag --ngram-buckets 10^12", build("--arch bag --ngram-buckets 1000000000000", o / "b6"), 2, "ngram_buckets 1000000000000 make a bag model", o / "b6", ""},
      {"build-student --arch cnn --sentence-hidden 10^9", build("--arch cnn --sentence-hidden 1000000000", o / "b7"), 2, "hidden 1000000000", o / "b7", ""},
      {"build-student --arch bilstm --sentence-hidden 10^9, over a good student", build("--overwrite --arch bilstm --sentence-hidden 1000000000", o / "b8"), 2, "hidden 1000000000", o / "b8", (d / "student").string()},
      {"a bag whose ngram_order was edited", classify + q(d / "s-order") + " " + q(task / "test.tsv") + " -o " + q(o / "c39.tsv"), 1, "s-order/config.json: its settings are not the ones the weights were written with", o / "c39.tsv", good_pred},
      {"--precision bf16 for a bilstm", classify + q(d / "s-bilstm") + " " + q(task / "test.tsv") + " --precision bf16 -o " + q(o / "c40.tsv"), 2, "bf16 is not offered for bilstm students (kdtext runs the LSTM in fp32 only)", o / "c40.tsv", ""},
      {"pytorch_model.bin with format version 11", import(version11, o / "i1"), 1, "hf-v11/pytorch_model.bin: format version '11'", o / "i1", ""},
      {"pytorch_model.bin with format version abc", import(version_abc, o / "i2"), 1, "hf-vabc/pytorch_model.bin: format version 'abc'", o / "i2", ""},
      {"pytorch_model.bin with an empty version record", import(version_empty, o / "i3"), 1, "hf-vempty/pytorch_model.bin: format version ''", o / "i3", ""},
      {"a pickle nesting lists a million deep", import(deep, o / "i4"), 1, "data.pkl: the pickle nests collections deeper than 64", o / "i4", ""},
      {"a 4 GiB record deflated to 2 bytes", import(bomb, o / "i5"), 1, "zip record archive/data/1 is compressed (method 8)", o / "i5", ""},
      {"two data.pkl records", import(twice, o / "i6"), 1, "zip record archive/data.pkl appears twice", o / "i6", ""},
      {"pickle protocol 99", import(proto, o / "i7"), 1, "data.pkl: pickle protocol 99", o / "i7", ""},
      {"a FRAME of 2^62 bytes", import(huge_frame, o / "i16"), 1, "data.pkl: a FRAME of 4611686018427387904 bytes runs past the pickle", o / "i16", ""},
      {"a storage class no state dict uses", import(odd_storage, o / "i17"), 1, "data.pkl: refuses the class torch.ComplexStorage", o / "i17", ""},
      {"FF FE at the start of line 2 (not a byte-order mark)", bin("kdtext-tokenize") + " --tokenizer " + q(p.prep / "tokenizer") + " " + q(d / "bom2.txt") + " -o " + q(o / "t3.txt"), 1, "bom2.txt:2: invalid UTF-8 (byte", o / "t3.txt", ""},
      {"an int64 storage as a weight", import(longs, o / "i8"), 1, "pytorch_model.bin: 'classifier.bias' holds Long values", o / "i8", ""},
      {"a bool storage as a weight", import(bools, o / "i9"), 1, "'classifier.bias' holds Bool values", o / "i9", ""},
      {"a storage key with a NUL byte", import(nul_key, o / "i10"), 1, "a storage key that is not a plain name", o / "i10", ""},
      {"a storage larger than the model's largest weight", import(big_storage, o / "i11"), 1, "storage '0' holds 1048576 elements, more than the model's largest weight", o / "i11", ""},
      {"a class named under a tensor's backward hooks", import(hook, o / "i12"), 1, "data.pkl: refuses the class builtins.eval", o / "i12", ""},
      {"num_labels 5 beside a 3-row classifier", import(five_labels, o / "i13"), 1, "hf-5labels/config.json: num_labels 5, but classifier.weight has 3 rows", o / "i13", ""},
      {"model_type null in config.json", import(null_type, o / "i14"), 1, "hf-nulltype/config.json: model_type is null", o / "i14", ""},
      {"a top-level array as config.json", import(d / "hf-array", o / "i15"), 1, "hf-array/config.json: not a JSON object", o / "i15", ""},
      {"a UTF-16 config.json", import(d / "hf-utf16", o / "i18"), 1, "(the file looks like UTF-16; JSON files are read as UTF-8", o / "i18", ""},
      {"a bilstm student as the recipe's teacher", bin("kdtext-recipe") + " --teacher " + q(d / "s-bilstm") + " --train " + train + " --dev " + dev + " --student cnn -o " + q(o / "R1"), 2, "s-bilstm is a bilstm student; the teacher is a BERT model", o / "R1", ""},
      {"the dev set as transfer text", distill("--transfer " + dev, o / "d5"), 2, "transfer: " + (task / "dev.tsv").string() + " is the dev set", o / "d5", ""},
      {"the test set as transfer text, over a good run", distill("--overwrite --test " + q(task / "test.tsv") + " --transfer " + q(task / "test.tsv"), o / "d6"), 2, "is the test set", o / "d6", good_run},
      {"a NUL byte to kdtext-tokenize", bin("kdtext-tokenize") + " --tokenizer " + q(p.prep / "tokenizer") + " " + q(d / "binary.tsv") + " -o " + q(o / "t2.txt"), 1, "binary.tsv:2: a NUL byte", o / "t2.txt", ""},
      {"a JSON text that is a number", classify + teacher + " " + q(d / "number-text.jsonl") + " -o " + q(o / "c41.tsv"), 1, "number-text.jsonl:2: missing or non-string field 'text'", o / "c41.tsv", ""},
      {"-o naming standard input's file", classify + teacher + " --eval -o " + q(d / "stdin-self.tsv") + " < " + q(d / "stdin-self.tsv"), 2, "is also standard input", d / "stdin-self.tsv", (d / "stdin-self.tsv.orig").string()},
      {"KDTEXT_MEMORY_LIMIT_MB=-5", "KDTEXT_MEMORY_LIMIT_MB=-5 " + classify + teacher + " " + q(task / "test.tsv") + " -o " + q(o / "c42.tsv"), 2, "KDTEXT_MEMORY_LIMIT_MB: '-5' is not a positive number of MiB", o / "c42.tsv", ""},
      {"KDTEXT_MEMORY_LIMIT_MB=abc, over good predictions", "KDTEXT_MEMORY_LIMIT_MB=abc " + classify + teacher + " " + q(task / "test.tsv") + " -o " + q(o / "c43.tsv"), 2, "KDTEXT_MEMORY_LIMIT_MB: 'abc'", o / "c43.tsv", good_pred},
      {"KDTEXT_MEMORY_LIMIT_MB=1", "KDTEXT_MEMORY_LIMIT_MB=1 " + finetune("--train " + train + " --dev " + dev, o / "f28"), 2, "only 1.0 MiB of memory available (KDTEXT_MEMORY_LIMIT_MB)", o / "f28", ""},
  };
  ASSERT_GT(cases.size(), 120u);

  for (size_t i = 0; i < cases.size(); ++i) {
    if (i % 2 != half) continue;
    const auto& c = cases[i];
    SCOPED_TRACE(c.what);
    fs::create_directories(c.output.parent_path());
    if (!c.previous.empty()) {
      if (fs::is_directory(c.previous)) copy_dir(c.previous, c.output);
      else fs::copy_file(c.previous, c.output);
    }
    const auto before = contents(c.output);
    const auto result = run_command(c.command);
    EXPECT_EQ(result.exit_code, c.exit_code) << c.command << "\n" << result.output;
    EXPECT_NE(result.output.find(c.message), std::string::npos) << "expected '" << c.message << "' in:\n" << result.output;
    if (c.previous.empty()) {
      EXPECT_FALSE(fs::exists(c.output)) << c.output << " was written";
    } else {
      EXPECT_TRUE(contents(c.output) == before) << c.output << ": the previous good output changed";
    }
    EXPECT_EQ(leftovers(d), std::vector<std::string>{});
    // The table for the record (ctest -V): row, exit code, the error line.
    const auto at = result.output.find("error: ");
    const std::string line = at == std::string::npos ? "" : result.output.substr(at + 7, result.output.find('\n', at) - at - 7);
    std::cout << "| " << c.what << " | " << result.exit_code << " | " << line << " |\n";
  }
}

TEST(BadInputs, EveryRowExitsNamingTheCulpritAndWritesNothing_EvenRows) { run_table(0); }
TEST(BadInputs, EveryRowExitsNamingTheCulpritAndWritesNothing_OddRows) { run_table(1); }
