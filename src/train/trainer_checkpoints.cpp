// Resuming, saving and pruning a training run's checkpoints (training_run.h).
#include <unistd.h>

#include <fstream>
#include <regex>

#include "kdtext/io/safetensors.h"
#include "kdtext/io/training_state.h"
#include "kdtext/util/atomic.h"
#include "kdtext/util/fault.h"
#include "kdtext/util/log.h"
#include "kdtext/error.h"
#include "training_run.h"

namespace kdtext::train::detail {

void TrainingRun::resume(const fs::path& from) {
  const Json state = io::load_training_state(from, *optimizer_);
  task_.load_for_resume(from);
  step_ = state.at("step").get<int64_t>();
  evals_without_improvement_ = state.value("evals_without_improvement", 0);
  if (state.contains("best_metric") && !state["best_metric"].is_null()) best_ = state["best_metric"].get<double>();
  task_.restore_data_state(state.at("data"));
  last_good_ = from;
  const int64_t saved_world = state.value("world_size", 1);
  if (saved_world != parallel::world_size()) {
    log::warn("resuming a run of ", saved_world, " process(es) with ", parallel::world_size(),
              ": the global batch and the data each process reads change from here, so the result differs from "
              "an uninterrupted run (with the same number of processes a resume is exact)");
  }
  if (state.value("time_budget_stopped_at", Json()).is_number_integer()) {
    budget_stop_ = step_;  // the time budget had ended this run here: the same step, whatever the clock says now
    result_.budget_exhausted = true;
  }
  if (writer_) drop_records_after(step_);
  log::info("resumed from ", from.string(), " at step ", step_, result_.budget_exhausted ? " (where its time budget ended)" : "");
  record({{"event", "resume"}, {"step", step_}, {"from", from.string()}, {"world_size", parallel::world_size()}});
}

// Records of steps after the checkpoint (a run killed after them) are dropped: this run writes them again.
void TrainingRun::drop_records_after(int64_t step) {
  const fs::path path = out_ / "metrics.jsonl";
  metrics_.reset();
  std::ifstream in(path);
  std::string kept, line;
  int64_t dropped = 0;
  while (std::getline(in, line)) {
    try {
      const Json j = Json::parse(line);
      if (j.contains("step") && j["step"].is_number_integer() && j["step"].get<int64_t>() > step) {
        ++dropped;
        continue;
      }
    } catch (const nlohmann::json::exception&) {
      ++dropped;  // a line cut short by the kill
      continue;
    }
    kept += line + "\n";
  }
  in.close();
  if (dropped > 0) {
    write_file_atomic(path, kept);
    log::info("metrics.jsonl: dropped ", dropped, " record(s) of steps after step ", step,
              " (written by a run killed after its last checkpoint)");
  }
  metrics_ = std::make_unique<MetricsLog>(path);
}

void TrainingRun::save_model(const fs::path& dir, const Json& prov) {
  if (!writer_) return;
  StagedDirectory staged(dir, /*overwrite=*/true, /*lock=*/false);  // inside a locked run
  task_.write_model(staged.path(), prov);
  staged.commit();
}

void TrainingRun::save_resumable(int64_t s) {
  const fs::path dir = out_ / "checkpoints" / step_dir_name(s);
  last_good_ = dir;
  if (writer_) write_resumable(dir, s);
  // Every process goes on (or exits, after a signal) only once the checkpoint
  // exists: a launcher that sees one process end stops the others. (A writer
  // that fails here ends the run instead: StageApp aborts the group.)
  if (group_) group_->barrier();
}

void TrainingRun::write_resumable(const fs::path& dir, int64_t s) {
  StagedDirectory staged(dir, /*overwrite=*/true, /*lock=*/false);  // inside a locked run
  task_.write_model(staged.path(), provenance(s));
  io::save_training_state(staged.path(), *optimizer_,
                          Json{{"step", s},
                               {"evals_without_improvement", evals_without_improvement_},
                               {"best_metric", best_ ? Json(*best_) : Json(nullptr)},
                               {"data", task_.data_state()},
                               {"world_size", parallel::world_size()},
                               {"time_budget_stopped_at", result_.budget_exhausted ? Json(s) : Json(nullptr)},
                               {"trainer", to_json(o_)}});
  staged.commit();
  last_good_ = dir;
  prune_checkpoints();
  record({{"event", "checkpoint"}, {"step", s}, {"path", dir.string()}});
}

// Keeps the newest `keep_last` checkpoints. Each old one is renamed away, then deleted: a kill in between
// leaves a `.pruning-` directory no resume takes (RunDirectory removes it), never a half-deleted step-N.
void TrainingRun::prune_checkpoints() {
  static const std::regex kName("step-[0-9]{8}");
  std::vector<fs::path> all;
  for (const auto& e : fs::directory_iterator(out_ / "checkpoints")) {
    if (std::regex_match(e.path().filename().string(), kName)) all.push_back(e.path());
  }
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + static_cast<size_t>(o_.keep_last) < all.size(); ++i) {
    const fs::path away = all[i].string() + ".pruning-" + std::to_string(::getpid());
    fs::rename(all[i], away);
    crash_point("prune.renamed");
    fs::remove_all(away);
  }
}
}  // namespace kdtext::train::detail
