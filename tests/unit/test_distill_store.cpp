// The general-distillation store (distill/tasks.h): which changes give a new
// key and which do not, and where place_in_store puts, resumes or reuses a run.
#include <gtest/gtest.h>

#include "kdtext/distill/tasks.h"
#include "kdtext/error.h"
#include "kdtext/text/shard.h"
#include "test_util.h"

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

}  // namespace

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
  write_file(run / "metrics.json", R"({"best_val_loss": 1.5})");
  write_file(run / "store_key.json", p.key.dump());
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

  // An entry whose recorded key is not this one was changed by hand: refused, naming the file.
  write_file(run / "store_key.json", R"({"teacher": "sha256:other"})");
  c = in.config;
  try {
    distill::place_in_store(c, in.cpu);
    FAIL() << "a mismatched store_key.json was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find((run / "store_key.json").string()), std::string::npos) << e.what();
  }

  // An unfinished entry without a checkpoint starts again in place.
  fs::remove(run / "metrics.json");
  c = in.config;
  p = distill::place_in_store(c, in.cpu);
  EXPECT_FALSE(p.reused.has_value());
  EXPECT_TRUE(c.overwrite);
  EXPECT_FALSE(c.resume);
  EXPECT_EQ(c.output, run.string());
}
