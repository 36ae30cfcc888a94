// The bad-input table (issue 16): one row per hostile input to a stage —
// malformed data, corrupt or mismatched checkpoints, wrong settings, missing
// files. Each must exit with the expected code, name the file, line or key,
// leave nothing half-written, and leave a previous good output untouched.
#include <gtest/gtest.h>

#include <functional>
#include <iostream>
#include <map>
#include <regex>

#include "e2e/pipeline_fixture.h"
#include "kdtext/util/json.h"

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

struct Case {
  std::string what;
  std::string command;
  int exit_code;
  std::string message;   // must appear in the output: names the file, line or key
  fs::path output;       // what the command would write
  std::string previous;  // "" = output must not exist afterwards; else a path whose content is put there first
};

}  // namespace

TEST(BadInputs, EveryRowExitsNamingTheCulpritAndWritesNothing) {
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
      {"a corpus path that does not exist", preprocess(q(d / "no-corpus"), o / "r2"), 2, "no-corpus", o / "r2", ""},
  };
  ASSERT_GE(cases.size(), 40u);

  for (const auto& c : cases) {
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
