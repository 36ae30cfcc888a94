// The general-distillation store (distill/tasks.h): which changes give a new
// key and which do not, and where place_in_store puts, resumes or reuses a run.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "kdtext/distill/tasks.h"
#include "kdtext/io/checkpoint.h"
#include "kdtext/model/bert.h"
#include "kdtext/error.h"
#include "kdtext/text/shard.h"
#include "test_util.h"
#include "word_tokenizer.h"

using namespace kdtext;
using kdtext::testing::TempDir;
using kdtext::testing::write_file;
namespace fs = std::filesystem;

namespace {

// A teacher, an initial student (only their weight files count) and token shards.
struct StoreInputs {
  TempDir dir;
  distill::DistillConfig config;
  const torch::Device cpu{torch::kCPU};

  StoreInputs() {
    write_file(dir / "teacher" / "model.safetensors", "teacher weights");
    write_file(dir / "student" / "model.safetensors", "student weights");
    write_shards({{5, 6, 7}, {8, 9}});
    config = distill::default_distill_config();
    config.mode = distill::DistillMode::kGeneral;
    config.teacher = (dir / "teacher").string();
    config.student = (dir / "student").string();
    config.shards = (dir / "prep").string();
    config.store = (dir / "store").string();
    config.trainer.max_minutes = 5;
  }
  void write_shards(const std::vector<std::vector<int32_t>>& documents) {
    fs::remove_all(dir / "prep" / "shards");
    text::ShardSetWriter w(dir / "prep" / "shards", 50, 1000);
    for (const auto& d : documents) w.add_document(d);
    w.finish();
  }
  Json key() const { return distill::store_key(config, cpu); }
};

// A small BERT checkpoint (as a store entry's best/), its weights scaled by `scale` (NaN: not finite).
void write_best(const fs::path& dir, float scale = 1) {
  auto tok = kdtext::testing::word_tokenizer();
  model::BertConfig c;
  c.vocab_size = tok->vocab_size();
  c.hidden_size = 8;
  c.num_hidden_layers = 1;
  c.num_attention_heads = 2;
  c.intermediate_size = 16;
  c.max_position_embeddings = 16;
  model::Bert m(c, model::Heads::kNone);
  torch::NoGradGuard no_grad;
  m->bert->embeddings->word_embeddings->weight.mul_(scale);
  io::save_checkpoint(dir, *m, *tok, {"distill", Json::object()});
}

}  // namespace

TEST(DistillStore, ADamagedFinishedEntryIsSetAsideAndComputedAgain) {
  StoreInputs in;
  auto c = in.config;
  const Json key = distill::place_in_store(c, in.cpu).key;
  const fs::path run(c.output);
  const auto finished = [&](const std::function<void()>& damage) {
    fs::remove_all(run);
    write_best(run / "best");
    write_file(run / "metrics.json", R"({"best_val_loss": 1.5})");
    distill::finish_store_run(run, key);
    damage();
    auto again = in.config;
    return distill::place_in_store(again, in.cpu);
  };
  EXPECT_TRUE(finished([] {}).reused.has_value());  // intact: reused
  const std::vector<std::pair<std::string, std::function<void()>>> damages = {
      {"no best/", [&] { fs::remove_all(run / "best"); }},
      {"NaN weights", [&] { fs::remove_all(run / "best"); write_best(run / "best", std::nanf("")); }},
      {"garbage config.json", [&] { write_file(run / "best" / "config.json", "{ not json"); }},
      {"another key", [&] { write_file(run / "store_key.json", R"({"teacher": "sha256:other"})"); }},
      {"no key", [&] { fs::remove(run / "store_key.json"); }},
  };
  for (const auto& [what, damage] : damages) {
    for (const auto& e : fs::directory_iterator(in.dir / "store")) {
      if (e.path() != run) fs::remove_all(e.path());
    }
    const auto p = finished(damage);
    EXPECT_FALSE(p.reused.has_value()) << what;
    EXPECT_FALSE(fs::exists(run)) << what << ": the entry is out of the way";
    int aside = 0;
    for (const auto& e : fs::directory_iterator(in.dir / "store")) {
      aside += e.path().filename().string().rfind(run.filename().string() + ".bad-", 0) == 0;
    }
    EXPECT_EQ(aside, 1) << what << ": kept beside it for a look";
  }
}

TEST(DistillStore, TheKeyIgnoresPathsLoggingAndCadence) {
  StoreInputs in;
  const Json key = in.key();
  EXPECT_EQ(key["budget_minutes"], 5.0);
  EXPECT_EQ(key["device"], "cpu");
  auto c = in.config;
  fs::copy(in.dir / "teacher", in.dir / "teacher-copy");  // the same weights elsewhere
  c.teacher = (in.dir / "teacher-copy").string();
  c.output = "/somewhere/else";
  c.trainer.log_every = 1;
  c.trainer.save_every = 7;
  c.run.log_level = "debug";
  c.run.threads = 3;
  EXPECT_EQ(distill::store_key(c, in.cpu), key);
}

TEST(DistillStore, TheKeyChangesWithWeightsCorpusBudgetSeedSettingsAndDeviceKind) {
  StoreInputs in;
  const Json key = in.key();
  const auto differs = [&](const std::function<void(distill::DistillConfig&)>& change) {
    auto c = in.config;
    change(c);
    return distill::store_key(c, in.cpu) != key;
  };
  EXPECT_TRUE(differs([](auto& c) { c.trainer.lr *= 2; }));
  EXPECT_TRUE(differs([](auto& c) { c.run.seed += 1; }));
  EXPECT_TRUE(differs([](auto& c) { c.trainer.max_minutes = 6; }));
  EXPECT_TRUE(differs([](auto& c) { c.max_len = 64; }));
  EXPECT_TRUE(differs([](auto& c) { c.loss.hidden_weight += 1; }));
  EXPECT_NE(distill::store_key(in.config, torch::Device(torch::kCUDA, 0)), key);

  write_file(in.dir / "teacher" / "model.safetensors", "other teacher weights");
  EXPECT_NE(in.key(), key);
  write_file(in.dir / "teacher" / "model.safetensors", "teacher weights");
  EXPECT_EQ(in.key(), key);  // back to the same content
  in.write_shards({{5, 6, 7}, {8, 10}});
  EXPECT_NE(in.key(), key);
}

TEST(DistillStore, PlacesAFreshRunThenReusesItOnlyUnderItsOwnKey) {
  StoreInputs in;
  auto c = in.config;
  c.resume = true;  // the store decides
  auto p = distill::place_in_store(c, in.cpu);
  const fs::path run(c.output);
  EXPECT_EQ(run.parent_path(), in.dir / "store");
  EXPECT_EQ(run.filename().string().rfind("general-", 0), 0u) << run;
  EXPECT_FALSE(c.resume);
  EXPECT_FALSE(c.overwrite);
  EXPECT_FALSE(p.reused.has_value());
  EXPECT_EQ(p.key, in.key());

  // A finished entry with this key: its metrics come back, marked reused.
  write_best(run / "best");
  write_file(run / "metrics.json", R"({"best_val_loss": 1.5})");
  distill::finish_store_run(run, p.key);
  c = in.config;
  p = distill::place_in_store(c, in.cpu);
  ASSERT_TRUE(p.reused.has_value());
  EXPECT_EQ((*p.reused)["best_val_loss"], 1.5);
  EXPECT_EQ((*p.reused)["reused"], true);
  EXPECT_EQ((*p.reused)["output"], run.string());

  // --overwrite trains the entry again.
  c = in.config;
  c.overwrite = true;
  p = distill::place_in_store(c, in.cpu);
  EXPECT_FALSE(p.reused.has_value());
  EXPECT_TRUE(c.overwrite);

  // An unfinished entry without a checkpoint starts again in place.
  fs::remove(run / "metrics.json");
  c = in.config;
  p = distill::place_in_store(c, in.cpu);
  EXPECT_FALSE(p.reused.has_value());
  EXPECT_TRUE(c.overwrite);
  EXPECT_FALSE(c.resume);
  EXPECT_EQ(c.output, run.string());
}
