// A failed run never destroys a good one, and two runs never write the same
// directory (issue 16): --overwrite moves the previous run aside and brings it
// back when the new run fails before its first checkpoint (also after a
// SIGKILL, at the next start); an output directory is locked.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <sstream>
#include <thread>

#include "e2e/pipeline_fixture.h"
#include "kdtext/util/json.h"

using namespace kdtext;
using namespace kdtext::testing;
namespace fs = std::filesystem;

namespace {

// Every file under `dir` by relative path, with its content.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out[fs::relative(e.path(), dir).string()] = read_file(e.path());
  }
  return out;
}

// Siblings of `dir` whose name starts with its name and `suffix`.
std::vector<std::string> siblings(const fs::path& dir, const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir.parent_path())) {
    const auto name = e.path().filename().string();
    if (name.rfind(dir.filename().string() + suffix, 0) == 0) out.push_back(name);
  }
  return out;
}

std::string finetune(const fs::path& out, const std::string& extra) {
  const auto& p = pipeline();
  const auto data = source_dir() / "data" / "task";
  return bin("kdtext-finetune") + " --from " + quote((p.mlm / "final").string()) + " --train " +
         quote((data / "train.tsv").string()) + " --dev " + quote((data / "dev.tsv").string()) + " -o " +
         quote(out.string()) + " --batch-size 16 --max-len 48 --threads 1 " + extra;
}

// Starts `command` in the background (its own process group); returns its PID.
pid_t spawn(const std::string& command) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sh", "sh", "-c", ("exec " + command + " >/dev/null 2>&1").c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Waits up to `seconds` for `ready`.
template <typename Ready>
bool wait_for(Ready ready, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
}

}  // namespace

TEST(Reliability, OverwriteThatFailsLeavesThePreviousRunIntact) {
  TempDir dir;
  const auto run = dir / "run";
  fs::copy(pipeline().ft, run, fs::copy_options::recursive);
  const auto before = snapshot(run);
  // A setting refused only once the trainer is built, after the directory is prepared.
  const auto r = run_command(finetune(run, "--overwrite --lr 0"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("trainer.lr: must be > 0"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("the previous run is back in"), std::string::npos) << r.output;
  EXPECT_EQ(snapshot(run), before);
  EXPECT_TRUE(siblings(run, ".replaced-").empty());
}

TEST(Reliability, OverwriteThatSucceedsReplacesTheRunAndKeepsNothingAside) {
  TempDir dir;
  const auto run = dir / "run";
  fs::copy(pipeline().ft, run, fs::copy_options::recursive);
  const auto r = run_command(finetune(run, "--overwrite --epochs 1 --seed 8 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(read_file(run / "config.json").find("\"seed\": 8"), std::string::npos);
  EXPECT_TRUE(fs::exists(run / "metrics.json"));
  EXPECT_TRUE(siblings(run, ".replaced-").empty());
}

TEST(Reliability, ASecondRunOnTheSameDirectoryFailsAtOnceNamingTheHolder) {
  TempDir dir;
  const auto run = dir / "run";
  const pid_t first = spawn(finetune(run, "--epochs 200"));
  const auto lock = fs::path(run.string() + ".lock");
  const std::string holder = "PID " + std::to_string(first) + ":";
  ASSERT_TRUE(wait_for([&] { return fs::exists(lock) && read_file(lock).find(holder) != std::string::npos; }, 60))
      << "the first run never took the lock";
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = run_command(finetune(run, "--overwrite --epochs 1"));
  const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  kill_and_reap(first);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("another run is writing this directory (" + holder), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("kdtext-finetune"), std::string::npos) << r.output;  // the holder's command
  EXPECT_LT(waited, 20.0);  // at once: no waiting for the holder
  // The holder's outputs were not touched by the refused run.
  EXPECT_TRUE(siblings(run, ".replaced-").empty());
}

TEST(Reliability, AKilledOverwriteRunGetsThePreviousRunBackAtTheNextStart) {
  TempDir dir;
  const auto run = dir / "run";
  fs::copy(pipeline().ft, run, fs::copy_options::recursive);
  const auto before = snapshot(run);
  // Killed as soon as it has moved the previous run aside: long before its first checkpoint.
  const pid_t killed = spawn(finetune(run, "--overwrite --epochs 200"));
  const auto aside = dir.path() / ("run.replaced-" + std::to_string(killed));
  ASSERT_TRUE(wait_for([&] { return fs::exists(aside); }, 60)) << "the run never moved the previous one aside";
  kill_and_reap(killed);
  ASSERT_TRUE(fs::exists(aside));
  // Any next run on the directory settles it: here one that is refused (no flag) and changes nothing else.
  const auto r = run_command(finetune(run, ""));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("moved back"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("exists and is not empty"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(aside));
  EXPECT_EQ(snapshot(run), before);
}

// What killed runs leave (a checkpoint missing its model, one being pruned, a
// staged best/, a temporary file) is never resumed from and is cleaned at the
// next start.
TEST(Reliability, ResumeSkipsIncompleteCheckpointsAndCleansLeftovers) {
  TempDir dir;
  const auto run = dir / "run";
  auto r = run_command(finetune(run, "--epochs 1 --save-every 5 --stop-at-step 12 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto ck = run / "checkpoints";
  ASSERT_TRUE(fs::exists(ck / "step-00000012" / "model.safetensors"));  // the stop's checkpoint
  // Newer, but a kill while pruning (before pruning renamed first) left training state and no model.
  fs::create_directories(ck / "step-00000013" / "training_state");
  write_file(ck / "step-00000013" / "training_state" / "state.json", "{\"step\": 13}");
  fs::create_directories(ck / "step-00000005.pruning-999999");
  fs::create_directories(run / "best.old-999999");
  fs::create_directories(ck / "step-00000015.partial-999999");
  write_file(run / "config.json.tmp-999999", "{");
  r = run_command(finetune(run, "--epochs 1 --save-every 5 --resume"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("removed 4 leftover(s) of a killed run"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("resumed from " + (ck / "step-00000012").string() + " at step 12"), std::string::npos)
      << r.output;
  for (const auto& e : fs::recursive_directory_iterator(run)) {
    const auto name = e.path().filename().string();
    EXPECT_EQ(name.find("999999"), std::string::npos) << e.path();
  }
  EXPECT_TRUE(fs::exists(run / "metrics.json"));
}

// A file-size limit (as a full disk) is an error naming the file, not a silent
// SIGXFSZ death, and leaves no temporaries.
TEST(Reliability, AFileSizeLimitIsReportedWithThePathAndLeavesNothing) {
  TempDir dir;
  const auto r = run_command("ulimit -f 50; " + bin("kdtext-preprocess") + " " +
                             quote((source_dir() / "data" / "corpus").string()) + " -o " +
                             quote((dir / "prep").string()) + " --vocab-size 400 --quiet");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("write failed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(dir.path().string()), std::string::npos) << r.output;
  EXPECT_TRUE(fs::is_empty(dir.path())) << "leftovers in " << dir.path();
}

// Resume refuses settings that would make the run's record lie about its
// weights, names each, and accepts them only when told to (recorded).
TEST(Reliability, ResumeRefusesChangedSettingsUnlessAccepted) {
  TempDir dir;
  const auto run = dir / "run";
  auto r = run_command(finetune(run, "--epochs 1 --lr 1e-3 --stop-at-step 12 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto config_before = read_file(run / "config.json");
  r = run_command(finetune(run, "--epochs 1 --resume --lr 5e-3 --seed 99 --stop-at-step 14"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("trainer.lr: 0.001 -> 0.005"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("run.seed: 42 -> 99"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("stop_at_step:"), std::string::npos) << r.output;  // a budget may change
  EXPECT_EQ(read_file(run / "config.json"), config_before);
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step-00000014"));
  // Logging, threads and the stop step change freely.
  r = run_command(finetune(run, "--epochs 1 --lr 1e-3 --resume --log-every 3 --threads 2 --stop-at-step 14 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(read_json_file(run / "config.json").contains("changed_on_resume"));
  // Told to, it goes on and says so in the record.
  r = run_command(finetune(run, "--epochs 1 --resume --lr 5e-3 --accept-changes"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto changed = read_json_file(run / "config.json")["changed_on_resume"];
  ASSERT_EQ(changed.size(), 1u) << changed.dump();
  EXPECT_EQ(changed[0]["from_checkpoint"], "step-00000014");
  EXPECT_EQ(changed[0]["keys"]["trainer.lr"]["was"], 1e-3);
  EXPECT_EQ(changed[0]["keys"]["trainer.lr"]["now"], 5e-3);
}

// Readers never lose data silently; each bad input names the file (and line).
// The bad-input table is tests/e2e/test_bad_inputs_cli.cpp.

// A damaged training state names its file instead of LibTorch's raw archive error.
TEST(Reliability, AnEmptyOptimizerStateIsRefusedNamingIt) {
  TempDir dir;
  const auto run = dir / "run";
  auto r = run_command(finetune(run, "--epochs 1 --stop-at-step 6 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto state = run / "checkpoints" / "step-00000006" / "training_state" / "optimizer.pt";
  ASSERT_TRUE(fs::exists(state));
  write_file(state, "");
  r = run_command(finetune(run, "--epochs 1 --resume"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(state.string() + ": not a readable training state"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Exception raised from"), std::string::npos) << r.output;  // no LibTorch backtrace
}

// A run killed after an evaluation but before its next checkpoint wrote
// records that the resumed run writes again: they are dropped, not doubled.
TEST(Reliability, ResumeDropsMetricsRecordsOfStepsAfterTheCheckpoint) {
  TempDir dir;
  const auto run = dir / "run";
  const std::string args = "--epochs 1 --evals-per-epoch 4";
  auto r = run_command(finetune(run, args + " --stop-at-step 18 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto log = run / "metrics.jsonl";
  write_file(log, read_file(log) + "{\"event\": \"eval\", \"step\": 27, \"accuracy\": 0.5}\n{\"event\": \"tra");
  r = run_command(finetune(run, args + " --resume"));  // not quiet: the note is checked
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("dropped 2 record(s) of steps after step 18"), std::string::npos) << r.output;
  int evals_at_27 = 0;
  std::istringstream in(read_file(log));
  for (std::string line; std::getline(in, line);) {
    const Json j = Json::parse(line);  // every line whole
    if (j.value("event", "") == "eval" && j.value("step", 0) == 27) ++evals_at_27;
  }
  EXPECT_EQ(evals_at_27, 1);
}
