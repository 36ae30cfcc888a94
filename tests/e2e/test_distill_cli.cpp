// kdtext-build-student and kdtext-distill as a user runs them, on the task in
// data/ with the teacher of the shared pipeline fixture.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "e2e/pipeline_fixture.h"
#include "kdtext/io/safetensors.h"
#include "kdtext/util/json.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::testing;
namespace fs = std::filesystem;

TEST(DistillCli, BuildStudentThenDistillKeepsTheTeachersAccuracy) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  auto r = run_command(bin("kdtext-build-student") + " --teacher " + quote((p.ft / "best").string()) +
                       " --layers 1 --hidden 64 --heads 2 --intermediate 256 --init teacher-layers "
                       "--layer-selection last -o " + quote((dir / "init").string()) + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json meta = read_json_file(dir / "init" / "kdtext.json");
  EXPECT_EQ(meta["stage"], "build-student");
  EXPECT_EQ(meta["provenance"]["layer_map"], (Json{2}));
  r = run_command(bin("kdtext-distill") + " --config " + quote((source_dir() / "configs" / "distill" / "distilbert.json").string()) +
                  " --teacher " + quote((p.ft / "best").string()) + " --student " + quote((dir / "init").string()) +
                  " --train " + quote((data / "train.tsv").string()) + " --dev " + quote((data / "dev.tsv").string()) +
                  " -o " + quote((dir / "student").string()) +
                  " --epochs 4 --batch-size 16 --lr 1e-3 --max-len 48 --threads 1 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const double teacher = read_json_file(p.ft / "metrics.json")["dev"]["accuracy"].get<double>();
  const Json m = read_json_file(dir / "student" / "metrics.json");
  EXPECT_GE(m["dev"]["accuracy"].get<double>(), teacher - 0.05) << m.dump(2);
  // Per-term losses are logged separately.
  const std::string log = read_file(dir / "student" / "metrics.jsonl");
  for (const char* term : {"loss_output", "loss_hard", "loss_hidden"}) EXPECT_NE(log.find(term), std::string::npos) << term;
  // The student is a plain classification checkpoint that classify runs.
  r = run_command(bin("kdtext-classify") + " -m " + quote((dir / "student" / "best").string()) + " " +
                  quote((data / "test.tsv").string()) + " --eval -o " + quote((dir / "pred.tsv").string()) + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GE(read_json_file(dir / "pred.tsv.metrics.json")["accuracy"].get<double>(), teacher - 0.1);
  // Validation: a layer that does not exist.
  r = run_command(bin("kdtext-build-student") + " --teacher " + quote((p.ft / "best").string()) +
                  " --layers 2 --hidden 64 --heads 2 --intermediate 256 --init teacher-layers --layer-selection list "
                  "--layer-list 1 --layer-list 7 -o " + quote((dir / "bad").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("teacher layer 7, which does not exist"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "bad"));
}

TEST(DistillCli, AStepChangesTheStudentButNotTheTeacher) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  auto r = build_small_student(dir / "init");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string teacher_before = read_file(p.ft / "best" / "model.safetensors");
  r = run_command(bin("kdtext-distill") + " --teacher " + quote((p.ft / "best").string()) + " --student " +
                  quote((dir / "init").string()) + " --train " + quote((data / "train.tsv").string()) + " --dev " +
                  quote((data / "dev.tsv").string()) + " -o " + quote((dir / "s").string()) +
                  " --max-steps 1 --hidden-weight 1 --attention-weight 1 --threads 1 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(p.ft / "best" / "model.safetensors"), teacher_before);
  EXPECT_NE(read_file(dir / "s" / "final" / "model.safetensors"), read_file(dir / "init" / "model.safetensors"));
  // Widths differ (32 vs 64): projections were trained, and are kept out of the student checkpoint.
  EXPECT_TRUE(fs::exists(dir / "s" / "final" / "distill_projections.safetensors"));
  const std::string log = read_file(dir / "s" / "metrics.jsonl");
  EXPECT_NE(log.find("loss_attention"), std::string::npos);
  // The layer mapping is checked only when a layer-wise term uses it: an output-only stage
  // (TinyBERT's prediction stage) runs whatever the mapping says.
  const std::string base = bin("kdtext-distill") + " --config " +
                           quote((source_dir() / "configs" / "distill" / "tinybert-prediction.json").string()) +
                           " --teacher " + quote((p.ft / "best").string()) + " --student " +
                           quote((dir / "init").string()) + " --train " + quote((data / "train.tsv").string()) +
                           " --dev " + quote((data / "dev.tsv").string()) +
                           " --max-steps 1 --threads 1 --quiet --layer-map list --layer-list 9";
  r = run_command(base + " -o " + quote((dir / "pred").string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = run_command(base + " -o " + quote((dir / "bad").string()) + " --hidden-weight 1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("loss.layer_map"), std::string::npos) << r.output;
  // Layer-wise terms only (TinyBERT's first stage): the untrained classifier cannot pick the
  // best checkpoint, the dev distillation loss does (lower is better).
  r = run_command(bin("kdtext-distill") + " --config " +
                  quote((source_dir() / "configs" / "distill" / "tinybert-intermediate.json").string()) +
                  " --teacher " + quote((p.ft / "best").string()) + " --student " + quote((dir / "init").string()) +
                  " --train " + quote((data / "train.tsv").string()) + " --dev " + quote((data / "dev.tsv").string()) +
                  " -o " + quote((dir / "inter").string()) + " --max-steps 6 --eval-every 2 --threads 1 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::istringstream lines(read_file(dir / "inter" / "metrics.jsonl"));
  std::string line;
  double best = 1e300;
  int evals = 0;
  while (std::getline(lines, line)) {
    const Json e = Json::parse(line);
    if (e["event"] != "eval") continue;
    ++evals;
    const double v = e["dev_distill_loss"].get<double>();
    EXPECT_EQ(e["best"].get<bool>(), v < best) << line;
    best = std::min(best, v);
  }
  EXPECT_EQ(evals, 3);
}

TEST(DistillCli, GeneralDistillationOnShardsThenTaskDistillation) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  const auto configs = source_dir() / "configs" / "distill";
  // TinyBERT's recipe: a student of the pretrained (masked-LM) teacher, distilled on the unlabelled shards ...
  auto r = run_command(bin("kdtext-build-student") + " --teacher " + quote((p.mlm / "final").string()) +
                       " --layers 1 --hidden 64 --heads 2 --intermediate 256 --init teacher-layers "
                       "--layer-selection last -o " + quote((dir / "init").string()) + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string general = bin("kdtext-distill") + " --config " + quote((configs / "tinybert-general.json").string()) +
                              " --teacher " + quote((p.mlm / "final").string()) + " --shards " +
                              quote(p.prep.string()) + " --max-len 64 --batch-size 16 --threads 1 --quiet";
  r = run_command(general + " --student " + quote((dir / "init").string()) + " -o " + quote((dir / "gen").string()) +
                  " --epochs 2 --mlm-weight 1 --validation-every 10 --eval-every 10");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json m = read_json_file(dir / "gen" / "metrics.json");
  EXPECT_EQ(m["mode"], "general");
  EXPECT_EQ(read_json_file(dir / "gen" / "config.json")["mode"], "general");
  // Every term is logged, and the held-out loss falls as the student learns.
  std::vector<double> val;
  std::istringstream lines(read_file(dir / "gen" / "metrics.jsonl"));
  std::string line;
  bool seen_terms = false;
  while (std::getline(lines, line)) {
    const Json e = Json::parse(line);
    if (e["event"] == "eval") val.push_back(e["val_loss"].get<double>());
    if (e["event"] == "train") {
      seen_terms = e.contains("loss_hidden") && e.contains("loss_attention") && e.contains("loss_embedding") &&
                   e.contains("loss_mlm") && !e.contains("loss_output");
    }
  }
  EXPECT_TRUE(seen_terms);
  ASSERT_GE(val.size(), 3u);
  EXPECT_LT(val.back(), val.front());
  EXPECT_DOUBLE_EQ(m["best_val_loss"].get<double>(), *std::min_element(val.begin(), val.end()));
  const Json meta = read_json_file(dir / "gen" / "best" / "kdtext.json");
  EXPECT_EQ(meta["provenance"]["mode"], "general");
  // A split batch job (stop, then resume: packer and masker state included) equals a straight run.
  const std::string short_run = general + " --student " + quote((dir / "init").string()) +
                                " --max-steps 8 --mlm-weight 1 --validation-every 10 --save-every 4";
  r = run_command(short_run + " -o " + quote((dir / "straight").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(short_run + " -o " + quote((dir / "split").string()) + " --stop-at-step 4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(short_run + " -o " + quote((dir / "split").string()) + " --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(dir / "split" / "final" / "model.safetensors"),
            read_file(dir / "straight" / "final" / "model.safetensors"));

  // ... then task distillation from it: the student gets a new classifier for the teacher's labels.
  r = run_command(bin("kdtext-distill") + " --config " + quote((configs / "distilbert.json").string()) + " --teacher " +
                  quote((p.ft / "best").string()) + " --student " + quote((dir / "gen" / "best").string()) +
                  " --train " + quote((data / "train.tsv").string()) + " --dev " + quote((data / "dev.tsv").string()) +
                  " -o " + quote((dir / "task").string()) +
                  " --epochs 4 --batch-size 16 --lr 1e-3 --max-len 48 --threads 1 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_GE(read_json_file(dir / "task" / "metrics.json")["dev"]["accuracy"].get<double>(), 0.6);  // chance is 0.37

  // Misconfigurations name the key; nothing is left behind.
  r = run_command(general + " --student " + quote((dir / "init").string()) + " -o " + quote((dir / "bad").string()) +
                  " --output-weight 1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("loss.output_weight: general distillation has no labels"), std::string::npos) << r.output;
  r = run_command(general + " --student " + quote((dir / "task" / "best").string()) + " -o " +
                  quote((dir / "bad").string()) + " --mlm-weight 1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("loss.mlm_weight needs a student with a masked-LM head"), std::string::npos) << r.output;
  r = run_command(bin("kdtext-distill") + " --teacher " + quote((p.ft / "best").string()) + " --student " +
                  quote((dir / "init").string()) + " -o " + quote((dir / "bad").string()) + " --mode general");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("shards: required for mode general"), std::string::npos) << r.output;
  // Shards encoded with another tokenizer.
  r = run_command(bin("kdtext-preprocess") + " " + quote((source_dir() / "data" / "corpus" / "en.txt").string()) +
                  " -o " + quote((dir / "other").string()) + " --vocab-size 300 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(bin("kdtext-distill") + " --config " + quote((configs / "tinybert-general.json").string()) +
                  " --teacher " + quote((p.mlm / "final").string()) + " --student " + quote((dir / "init").string()) +
                  " --shards " + quote((dir / "other").string()) + " -o " + quote((dir / "bad").string()) + " --quiet");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("differs from the teacher's"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "bad" / "final"));
}

TEST(DistillCli, GeneralDistillationStoreReusesAFinishedRunAndResumesAnUnfinishedOne) {
  auto& p = pipeline();
  TempDir dir;
  auto r = run_command(bin("kdtext-build-student") + " --teacher " + quote((p.mlm / "final").string()) +
                       " --layers 1 --hidden 32 --heads 2 --intermediate 64 -o " + quote((dir / "init").string()) +
                       " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string general = bin("kdtext-distill") + " --config " +
                              quote((source_dir() / "configs" / "distill" / "tinybert-general.json").string()) +
                              " --teacher " + quote((p.mlm / "final").string()) + " --shards " + quote(p.prep.string()) +
                              " --student " + quote((dir / "init").string()) +
                              " --max-len 32 --batch-size 8 --max-steps 6 --threads 1";
  // Standard output is the run directory alone (logs go to standard error).
  const auto stored_in = [&](const std::string& store, const std::string& extra) {
    const auto res = run_command("{ " + general + " --store " + quote((dir / store).string()) + extra + " 2>/dev/null; }");
    EXPECT_EQ(res.exit_code, 0) << res.output;
    std::string out = res.output;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return fs::path(out);
  };
  const fs::path first = stored_in("store", "");
  ASSERT_TRUE(fs::exists(first / "best" / "model.safetensors")) << first;
  EXPECT_EQ(first.parent_path(), fs::absolute(dir / "store"));
  EXPECT_EQ(first.filename().string().rfind("general-", 0), 0u);
  const Json key = read_json_file(first / "store_key.json");
  for (const char* k : {"teacher", "student_init", "corpus", "budget_minutes", "recipe"}) EXPECT_TRUE(key.contains(k)) << k;
  const std::string weights = read_file(first / "final" / "model.safetensors");
  const std::string records = read_file(first / "metrics.jsonl");

  // Same teacher, student, corpus, budget and settings: reused, not trained again.
  r = run_command(general + " --store " + quote((dir / "store").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("reusing the general distillation in"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(first / "metrics.jsonl"), records);
  // --overwrite trains the entry again (same key, same place).
  EXPECT_EQ(stored_in("store", " --overwrite"), first);
  EXPECT_NE(read_file(first / "metrics.jsonl"), records);
  EXPECT_EQ(read_file(first / "final" / "model.safetensors"), weights);  // deterministic
  // Another budget or setting is another entry.
  EXPECT_NE(stored_in("store", " --max-minutes 30"), first);
  EXPECT_NE(stored_in("store", " --lr 1e-3"), first);

  // A run stopped part-way (or killed after a checkpoint) is resumed by the next call under the same key,
  // to the same weights as a run in one go.
  r = run_command(general + " --store " + quote((dir / "other").string()) + " --save-every 3 --stop-at-step 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const fs::path resumed = stored_in("other", "");
  EXPECT_EQ(resumed.filename(), first.filename());
  EXPECT_EQ(read_file(resumed / "final" / "model.safetensors"), weights);

  // An entry edited by hand is set aside and distilled again, with a line saying so (to the same weights);
  // --store is for general distillation, without --output.
  write_file(first / "store_key.json", "{}");
  r = run_command(general + " --store " + quote((dir / "store").string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("is damaged (its store_key.json is not the key of this run): moved to"), std::string::npos)
      << r.output;
  EXPECT_EQ(read_file(first / "final" / "model.safetensors"), weights);
  r = run_command(general + " --store " + quote((dir / "store").string()) + " -o " + quote((dir / "x").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("output: leave it out with store"), std::string::npos) << r.output;
  r = run_command(general + " --mode task --store " + quote((dir / "store").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("store: only for mode general"), std::string::npos) << r.output;
}

TEST(DistillCli, MaxLenBeyondWhatTheModelsTakeIsAnErrorNotAClamp) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  auto r = build_small_student(dir / "init");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // bert-tiny has 128 positions: 129 tokens cannot be distilled, nor classified.
  r = run_command(distill_command(dir / "init", data / "train.tsv", dir / "student") +
                  "--max-len 129 --max-steps 2 --threads 1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("max_len 129 exceeds the checkpoint's max_position_embeddings 128"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir / "student"));
  r = run_command(bin("kdtext-classify") + " -m " + quote((p.ft / "best").string()) + " " +
                  quote((data / "dev.tsv").string()) + " --max-len 129 -o " + quote((dir / "pred.tsv").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("max_len 129 exceeds the checkpoint's max_position_embeddings 128"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir / "pred.tsv"));
}

TEST(BuildStudentCli, ReportsInferenceFlopsAgainstTheTeacher) {
  TempDir dir;
  const auto r = build_small_student(dir / "init");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Json f = read_json_file(dir / "init" / "kdtext.json")["provenance"]["flops_per_sentence"];
  // bert-tiny teacher (2 x 64, FFN 256, 3 labels) and a 1 x 32 student (FFN 64) at 64 tokens, by hand:
  // teacher 2*(64*(4*64^2 + 2*64*256) + 2*64^2*64) + 64^2 + 64*3 = 7,344,320 multiply-adds;
  // student 64*(4*32^2 + 2*32*64) + 2*64^2*32 + 32^2 + 32*3 = 787,552.
  EXPECT_EQ(f["tokens"], 64);
  EXPECT_EQ(f["teacher"].get<int64_t>(), 2 * 7344320);
  EXPECT_EQ(f["student"].get<int64_t>(), 2 * 787552);
  EXPECT_NEAR(f["ratio"].get<double>(), 787552.0 / 7344320.0, 1e-12);

  // A preset's sizes are what build_config.json records (not the flags' defaults).
  const auto r2 = run_command(bin("kdtext-build-student") + " --teacher " + quote((pipeline().ft / "best").string()) +
                              " --preset 2l-128 -o " + quote((dir / "preset").string()) + " --quiet");
  ASSERT_EQ(r2.exit_code, 0) << r2.output;
  const Json spec = read_json_file(dir / "preset" / "build_config.json")["student"];
  EXPECT_EQ(spec["preset"], "2l-128");
  EXPECT_EQ(spec["layers"], 2);
  EXPECT_EQ(spec["hidden"], 128);
  EXPECT_EQ(spec["heads"], 2);
  EXPECT_EQ(spec["intermediate"], 512);
  EXPECT_EQ(read_json_file(dir / "preset" / "config.json")["hidden_size"], 128);
}

TEST(AugmentCli, CopiesKeepTheirLabelAndSourceAreDeterministicAndTrainAStudent) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  const std::string augment = bin("kdtext-augment") + " " + quote((data / "train.tsv").string()) + " --teacher " +
                              quote((p.ft / "best").string()) + " --copies 3 --quiet -o ";
  auto r = run_command(augment + quote((dir / "a.jsonl").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Every example: the original (copy 0) then 3 copies, each pointing at its line, with its label.
  std::map<uint64_t, std::string> labels;
  {
    std::ifstream in(data / "train.tsv");
    std::string line;
    std::getline(in, line);  // header: label, text
    for (uint64_t n = 2; std::getline(in, line); ++n) labels[n] = line.substr(0, line.find('\t'));
  }
  std::ifstream in(dir / "a.jsonl");
  size_t rows = 0;
  for (std::string line; std::getline(in, line); ++rows) {
    const Json j = Json::parse(line);
    const std::string src = j["source"];
    const auto colon = src.rfind(':'), hash = src.rfind('#');
    EXPECT_EQ(src.substr(0, colon), (data / "train.tsv").string());
    const uint64_t n = std::stoull(src.substr(colon + 1, hash - colon - 1));
    EXPECT_EQ(std::stoi(src.substr(hash + 1)), static_cast<int>(rows % 4)) << line;
    ASSERT_TRUE(labels.count(n)) << line;
    EXPECT_EQ(j["label"], labels[n]) << line;
  }
  EXPECT_EQ(rows, 4 * labels.size());
  // Same seed, same file; another seed, other copies.
  r = run_command(augment + quote((dir / "b.jsonl").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(dir / "a.jsonl"), read_file(dir / "b.jsonl"));
  r = run_command(augment + quote((dir / "c.jsonl").string()) + " --seed 7");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(read_file(dir / "a.jsonl"), read_file(dir / "c.jsonl"));
  // An existing output is kept unless --overwrite.
  r = run_command(augment + quote((dir / "c.jsonl").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(read_file(dir / "a.jsonl"), read_file(dir / "c.jsonl"));
  // --copies 0: the originals alone, i.e. the copy-0 rows of a.jsonl.
  r = run_command(bin("kdtext-augment") + " " + quote((data / "train.tsv").string()) + " --teacher " +
                  quote((p.ft / "best").string()) + " --copies 0 --quiet -o " + quote((dir / "plain.jsonl").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  {
    std::istringstream all(read_file(dir / "a.jsonl"));
    std::string line, originals;
    while (std::getline(all, line)) {
      if (Json::parse(line)["source"].get<std::string>().find("#0") != std::string::npos) originals += line + "\n";
    }
    EXPECT_EQ(read_file(dir / "plain.jsonl"), originals);
  }
  // The augmented file is a labelled training set for distillation.
  r = build_small_student(dir / "init");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(distill_command(dir / "init", dir / "a.jsonl", dir / "student") +
                  "--max-steps 4 --batch-size 16 --max-len 48 --threads 1 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "student" / "best" / "model.safetensors"));
}

TEST(AugmentCli, AMaskedLmHeadProposesWordsInContextAndAClassifierIsRefused) {
  auto& p = pipeline();
  TempDir dir;
  const auto train = quote((source_dir() / "data" / "task" / "train.tsv").string());
  const auto augment = [&](const std::string& teacher, const std::string& extra, const std::string& out) {
    return run_command(bin("kdtext-augment") + " " + train + " --teacher " + quote(teacher) +
                       " --copies 2 --threads 1 " + extra + " -o " + quote((dir / out).string()));
  };
  const std::string mlm = (p.mlm / "best").string(), classifier = (p.ft / "best").string();
  // A teacher with a masked-LM head serves itself; --mlm none turns it off.
  auto r = augment(mlm, "", "auto.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("masked-LM predictions of " + mlm), std::string::npos) << r.output;
  r = augment(mlm, "--mlm none", "none.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("masked-LM predictions"), std::string::npos) << r.output;
  EXPECT_NE(read_file(dir / "auto.jsonl"), read_file(dir / "none.jsonl"));
  // A classifier teacher: neighbours only, said so; --mlm names a model with the head.
  r = augment(classifier, "", "plain.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("has no masked-LM head: every replacement comes from embedding neighbours"),
            std::string::npos) << r.output;
  r = augment(classifier, "--mlm " + quote(mlm), "named.jsonl");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("masked-LM predictions of " + mlm), std::string::npos) << r.output;
  EXPECT_NE(read_file(dir / "named.jsonl"), read_file(dir / "plain.jsonl"));
  r = augment(classifier, "--mlm " + quote(classifier), "bad.jsonl");
  EXPECT_EQ(r.exit_code, 1) << r.output;  // an input error
  EXPECT_NE(r.output.find(classifier + ": has no masked-LM head"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "bad.jsonl"));
}

TEST(DistillCli, TeacherLogitsCachedInAFileAreTheTeachersAndReusedAcrossRuns) {
  auto& p = pipeline();
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  auto r = build_small_student(dir / "init");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto distill = [&](const std::string& out, const std::string& extra) {
    return run_command(distill_command(dir / "init", data / "train.tsv", dir / out) + "--teacher-logits " +
                       quote((dir / "logits.safetensors").string()) +
                       " --hard-weight 0.5 --max-steps 6 --batch-size 16 --threads 1 " + extra);
  };
  r = distill("s1", "--max-len 48");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("written to"), std::string::npos) << r.output;
  // The file holds the teacher's logits for every training example, in file order (as kdtext-classify prints them).
  r = run_command(bin("kdtext-classify") + " -m " + quote((p.ft / "best").string()) + " " +
                  quote((data / "train.tsv").string()) + " --max-len 48 --logits --threads 1 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto cached = io::load_safetensors(dir / "logits.safetensors").tensors.at("logits");
  std::istringstream rows(r.output);
  std::string line;
  std::getline(rows, line);  // header
  int64_t i = 0;
  for (; std::getline(rows, line); ++i) {
    std::vector<std::string> cells;
    std::istringstream cs(line);
    for (std::string c; std::getline(cs, c, '\t');) cells.push_back(c);
    ASSERT_EQ(cells.size(), 2u + 3u) << line;  // label, probability, three logits
    for (int64_t k = 0; k < 3; ++k) EXPECT_NEAR(cached[i][k].item<double>(), std::stod(cells[2 + k]), 1e-4) << line;
  }
  EXPECT_EQ(i, cached.size(0));
  // A second run reads it and trains the same student; another max_len recomputes it, and says so.
  r = distill("s2", "--max-len 48");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("read from"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(dir / "s1" / "best" / "model.safetensors"), read_file(dir / "s2" / "best" / "model.safetensors"));
  // A damaged cache (cut short, or bytes overwritten under its checksum) is computed again, with a line saying so,
  // and trains the same student.
  const fs::path cache = dir / "logits.safetensors";
  const std::string intact = read_file(cache);
  write_file(cache, intact.substr(0, intact.size() / 2));
  r = distill("s6", "--max-len 48");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("logits.safetensors is damaged"), std::string::npos) << r.output;
  EXPECT_EQ(read_file(cache), intact);
  std::string overwritten = intact;
  overwritten.replace(overwritten.size() - 4000, 4000, std::string(4000, '\xff'));  // NaN floats
  write_file(cache, overwritten);
  r = distill("s7", "--max-len 48");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("logits.safetensors fails its checksum (damaged): computing it again"), std::string::npos)
      << r.output;
  EXPECT_EQ(read_file(cache), intact);
  EXPECT_EQ(read_file(dir / "s1" / "best" / "model.safetensors"), read_file(dir / "s7" / "best" / "model.safetensors"));
  r = distill("s3", "--max-len 40");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("computing it again"), std::string::npos) << r.output;
  // A cache a sentence student wrote (logits, then the teacher's sentence vectors) serves a student that needs
  // only the logits: its first columns are the same logits.
  r = run_command(bin("kdtext-build-student") + " --teacher " + quote((p.ft / "best").string()) +
                  " --arch cnn --embedding 16 --sentence-hidden 8 -o " + quote((dir / "cnn").string()) + " --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(distill_command(dir / "cnn", data / "train.tsv", dir / "c1") + "--teacher-logits " +
                  quote((dir / "with-sentences.safetensors").string()) +
                  " --sentence-weight 1 --max-steps 2 --batch-size 16 --max-len 48 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The sentence student reads its own cache back whole (logits and sentence vectors).
  r = run_command(distill_command(dir / "cnn", data / "train.tsv", dir / "c2") + "--teacher-logits " +
                  quote((dir / "with-sentences.safetensors").string()) +
                  " --sentence-weight 1 --max-steps 2 --batch-size 16 --max-len 48 --threads 1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("training examples read from"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("left aside"), std::string::npos) << r.output;
  const auto wide = io::load_safetensors(dir / "with-sentences.safetensors").tensors.at("logits");
  ASSERT_GT(wide.size(1), 3);
  EXPECT_TRUE(torch::allclose(wide.narrow(1, 0, 3), cached, 1e-4, 1e-4));
  r = run_command(distill_command(dir / "init", data / "train.tsv", dir / "s5") + "--teacher-logits " +
                  quote((dir / "with-sentences.safetensors").string()) +
                  " --hard-weight 0.5 --max-steps 2 --batch-size 16 --threads 1 --max-len 48");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(its sentence vectors left aside)"), std::string::npos) << r.output;
  // Terms that need the teacher's hidden states every step cannot use it.
  r = distill("s4", "--max-len 48 --hidden-weight 1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("teacher_logits: a logits cache serves task distillation"), std::string::npos) << r.output;
}

// Found by scripts/crash-test.sh: teacher logits were cached lazily, in the
// training batch each example first met, so a run resumed in its first epoch
// computed the rest in other batches (other padding, other rounding) and its
// weights drifted from a straight run's in the second epoch.
TEST(DistillCli, TaskDistillationResumedInItsFirstEpochEqualsAStraightRun) {
  TempDir dir;
  auto r = build_small_student(dir / "init");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto data = source_dir() / "data" / "task";
  // 600 examples in batches of 16: the second epoch starts at step 38.
  const std::string flags = " --max-steps 44 --save-every 8 --eval-every 22 --batch-size 16 --threads 1 --quiet";
  r = run_command(distill_command(dir / "init", data / "train.tsv", dir / "straight") + flags);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(distill_command(dir / "init", data / "train.tsv", dir / "split") + flags + " --stop-at-step 8");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(distill_command(dir / "init", data / "train.tsv", dir / "split") + flags + " --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(dir / "split" / "final" / "model.safetensors"),
            read_file(dir / "straight" / "final" / "model.safetensors"));
}
