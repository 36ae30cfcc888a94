// The general-distillation store (--store DIR): a generally distilled
// student is kept under a key of what produced it, so every task with the
// same teacher reuses it instead of paying for it again.
#include <cstdio>
#include <ctime>
#include <filesystem>

#include "kdtext/distill/tasks.h"
#include "kdtext/io/checkpoint.h"
#include "kdtext/parallel/group.h"
#include "kdtext/util/log.h"
#include "kdtext/text/shard.h"
#include "kdtext/text/tokenizer.h"
#include "kdtext/train/trainer.h"
#include "kdtext/util/atomic.h"
#include "kdtext/error.h"
#include "kdtext/util/file.h"

namespace kdtext::distill {
namespace fs = std::filesystem;

namespace {

// The token shards' content: their index and every shard it lists.
std::string corpus_fingerprint(const fs::path& shards_dir) {
  const fs::path index = shards_dir / "index.json";
  const Json j = read_json_file(index);
  std::string all = text::fingerprint_bytes(j.dump());
  for (const auto& file : text::parse_shard_index(j, index.string()).files) {
    all += text::fingerprint_file(shards_dir / file);
  }
  return text::fingerprint_bytes(all);
}

// Why a finished entry cannot be reused ("" when it can): its key, its best/
// as recorded when it finished, loadable, every weight finite.
std::string entry_defect(const fs::path& dir, const Json& key) {
  std::error_code ec;
  const fs::path key_file = dir / "store_key.json", best = dir / "best";
  Json stored;
  try {
    stored = read_json_file(key_file);
  } catch (const std::exception& e) {
    return "its store_key.json is missing or unreadable";
  }
  Json recorded = stored.is_object() ? stored : Json();
  std::string fingerprint;
  if (recorded.is_object() && recorded.contains("best_fingerprint")) {
    fingerprint = recorded["best_fingerprint"].is_string() ? recorded["best_fingerprint"].get<std::string>() : "?";
    recorded.erase("best_fingerprint");
  }
  if (recorded != key) return "its store_key.json is not the key of this run";
  if (!fs::is_directory(best, ec)) return "it has no best/ checkpoint";
  if (!fingerprint.empty() && content_fingerprint(best) != fingerprint) {
    return "best/ is not what the run finished with (its fingerprint changed)";
  }
  try {
    const auto ck = io::read_checkpoint(best);
    for (const auto& [name, w] : ck.weights) {
      if (!torch::isfinite(w).all().item<bool>()) return "best/ has non-finite values in " + name;
    }
  } catch (const std::exception& e) {
    return std::string("best/ does not load (") + e.what() + ")";
  }
  return "";
}

}  // namespace

Json store_key(const DistillConfig& c, torch::Device device) {
  Json recipe = to_json(c);
  for (const char* k : {"output", "overwrite", "resume", "store", "teacher", "student", "shards", "train", "dev",
                        "test", "teacher_logits", "cache_teacher_logits", "data", "metric"}) {
    recipe.erase(k);
  }
  for (const char* k : {"log_every", "save_every", "keep_last", "stop_at_step"}) recipe["trainer"].erase(k);
  recipe["run"] = Json{{"seed", c.run.seed}};
  return Json{{"teacher", text::fingerprint_file(fs::path(c.teacher) / "model.safetensors")},
              {"student_init", text::fingerprint_file(fs::path(c.student) / "model.safetensors")},
              {"corpus", corpus_fingerprint(fs::path(c.shards) / "shards")},
              {"budget_minutes", c.trainer.max_minutes},
              {"device", device.is_cuda() ? "cuda" : "cpu"},
              {"recipe", recipe}};
}

StorePlacement place_in_store(DistillConfig& c, torch::Device device) {
  StorePlacement p;
  p.key = store_key(c, device);
  const std::string hash = text::fingerprint_bytes(p.key.dump());
  const fs::path dir = fs::path(c.store) / ("general-" + hash.substr(hash.find(':') + 1));
  c.output = dir.string();
  const bool start_over = c.overwrite;  // --overwrite: train this entry again; --resume is implied by the store
  c.resume = c.overwrite = false;
  std::error_code ec;
  if (start_over && fs::exists(dir, ec)) {
    c.overwrite = true;
    log::info("--overwrite: training the store entry ", dir.string(), " again");
    return p;
  }
  if (fs::exists(dir / "metrics.json", ec)) {
    if (const std::string defect = entry_defect(dir, p.key); !defect.empty()) {
      // Kept for a look, out of the store's way; the entry is computed again.
      const fs::path aside = dir.string() + ".bad-" + std::to_string(static_cast<long long>(std::time(nullptr)));
      fs::rename(dir, aside, ec);
      if (ec) throw InputError(dir.string() + ": a damaged store entry (" + defect + ") that cannot be moved aside: " + ec.message());
      log::warn("the store entry ", dir.string(), " is damaged (", defect, "): moved to ", aside.string(),
                "; distilling it again");
      log::info("general distillation stored under ", dir.string());
      return p;
    }
    log::info("reusing the general distillation in ", dir.string(),
              " (same teacher, student init, corpus, budget and settings)");
    Json metrics = read_json_file(dir / "metrics.json");
    metrics["reused"] = true;
    metrics["output"] = dir.string();
    if (parallel::is_writer()) announce_store_run(dir);  // one line, not one per process
    p.reused = metrics;
    return p;
  }
  if (train::Trainer::latest_checkpoint(dir)) {
    c.resume = true;
    log::info("resuming the unfinished general distillation in ", dir.string());
  } else if (fs::exists(dir, ec)) {
    c.overwrite = true;
    log::info(dir.string(), ": an unfinished general distillation with no checkpoint; starting it again");
  } else {
    log::info("general distillation stored under ", dir.string());
  }
  return p;
}

void finish_store_run(const fs::path& dir, const Json& key) {
  Json recorded = key;
  recorded["best_fingerprint"] = content_fingerprint(dir / "best");  // what a later reuse must find there
  write_file_atomic(dir / "store_key.json", recorded.dump(2) + "\n");
}

void announce_store_run(const fs::path& dir) {
  std::printf("%s\n", fs::absolute(dir).string().c_str());
  std::fflush(stdout);
}

}  // namespace kdtext::distill
