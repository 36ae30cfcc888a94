// A failed run never destroys a good one, and two runs never write the same
// directory (issue 16): --overwrite moves the previous run aside and brings it
// back when the new run fails before its first checkpoint (also after a
// SIGKILL, at the next start); an output directory is locked.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
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

// A full disk (here a file-size limit between the model's size and the
// optimizer state's) while a checkpoint's optimizer.pt is written: an error
// naming the file, not LibTorch's abort (rc 134); the previous run is back,
// no lock, no staged checkpoint, no copy aside (issue 26, item 2).
TEST(Reliability, ADiskFullWhileSavingTheOptimizerStateBringsThePreviousRunBack) {
  TempDir dir;
  const auto run = dir / "run";
  fs::copy(pipeline().ft, run, fs::copy_options::recursive);
  const auto before = snapshot(run);
  // sh's ulimit -f counts 512-byte blocks: 1.5 times the model's size.
  const auto blocks = fs::file_size(pipeline().ft / "best" / "model.safetensors") * 3 / 2 / 512;
  const std::string limit = "ulimit -f " + std::to_string(blocks) + "; ";
  auto r = run_command(limit + finetune(run, "--overwrite --epochs 1 --save-every 10"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("optimizer.pt: write failed"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("the previous run is back in"), std::string::npos) << r.output;
  EXPECT_EQ(snapshot(run), before);
  EXPECT_TRUE(siblings(run, ".replaced-").empty());
  EXPECT_TRUE(siblings(run, ".lock").empty());
  // Without a previous run, nothing at all is left: the rerun needs no flag.
  const auto fresh = dir / "fresh";
  r = run_command(limit + finetune(fresh, "--epochs 1 --save-every 10"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_FALSE(fs::exists(fresh)) << r.output;
  EXPECT_TRUE(siblings(fresh, "").empty());
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

// Issue 26, item 11: a run killed before its first checkpoint leaves a
// directory with nothing to resume; a plain rerun takes it over, and --resume
// says to run without it.
TEST(Reliability, ARunKilledBeforeItsFirstCheckpointIsTakenOverByAPlainRerun) {
  TempDir dir;
  const auto run = dir / "run";
  const pid_t killed = spawn(finetune(run, "--epochs 200 --evals-per-epoch 1"));
  ASSERT_TRUE(wait_for([&] { return fs::exists(run / "config.json"); }, 60)) << "the run never started";
  kill_and_reap(killed);
  ASSERT_FALSE(fs::exists(run / "checkpoints" / "step-00000001"));
  auto r = run_command(finetune(run, "--epochs 1 --resume"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("ended before its first checkpoint: run the command without --resume"), std::string::npos)
      << r.output;
  r = run_command(finetune(run, "--epochs 1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("held a run that ended before its first checkpoint"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(run / "metrics.json"));
  // Killed after its first evaluation wrote best/, still before a checkpoint: the same.
  const auto evaluated = dir / "evaluated";
  const pid_t second = spawn(finetune(evaluated, "--epochs 200 --eval-every 2 --save-every 100000"));
  ASSERT_TRUE(wait_for([&] { return fs::exists(evaluated / "best" / "kdtext.json"); }, 120)) << "no evaluation";
  kill_and_reap(second);
  ASSERT_FALSE(fs::exists(evaluated / "checkpoints" / "step-00000001"));
  r = run_command(finetune(evaluated, "--epochs 1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("held a run that ended before its first checkpoint"), std::string::npos) << r.output;
}

// Issue 26, item 5: a symbolic link to a run directory shares its lock; the
// live run's staging is never taken for a killed run's leftover.
TEST(Reliability, ALinkToALiveRunDirectoryIsLockedWithIt) {
  TempDir dir;
  const auto run = dir / "lk3";
  fs::create_directories(run);
  fs::create_symlink("lk3", dir / "lk3_alias");
  const pid_t first = spawn(finetune(run, "--epochs 200"));
  ASSERT_TRUE(wait_for([&] { return fs::exists(run / "config.json"); }, 60)) << "the first run never started";
  const auto r = run_command(finetune(dir / "lk3_alias", "--overwrite --epochs 1"));
  const bool alive = ::waitpid(first, nullptr, WNOHANG) == 0;
  kill_and_reap(first);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("another run is writing this directory (PID " + std::to_string(first)), std::string::npos)
      << r.output;
  EXPECT_TRUE(alive) << "the refused run disturbed the live one";
  EXPECT_TRUE(fs::is_symlink(dir / "lk3_alias"));
}

// A run stopped by its time budget records the step in its checkpoint: killed
// before it finished its outputs, the resumed run stops at that same step
// (however much of the budget the clock says is left) and ends the same.
TEST(Reliability, AResumedRunStopsWhereItsTimeBudgetEnded) {
  TempDir dir;
  const auto run = dir / "tb";
  const std::string args = "--epochs 100 --max-minutes 0.003 --save-every 100000";
  auto r = run_command(finetune(run, args));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto at = r.output.find("minutes used up at step ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string step = r.output.substr(at + 24, r.output.find_first_not_of("0123456789", at + 24) - at - 24);
  const std::string weights = read_file(run / "final" / "model.safetensors");
  for (const char* finished : {"final", "metrics.json", "summary.json"}) fs::remove_all(run / finished);  // killed
  r = run_command(finetune(run, args + " --resume"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("at step " + step + " (where its time budget ended)"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("| loss"), std::string::npos) << "trained on after the budget's step:\n" << r.output;
  EXPECT_EQ(read_file(run / "final" / "model.safetensors"), weights);
}

// -o naming a dangling link: the output is made where the link points (as a
// file output through one is), and the link stays.
TEST(Reliability, AnOutputNamedByADanglingLinkIsMadeAtItsTarget) {
  TempDir dir;
  fs::create_symlink("made-here", dir / "dangling");
  const auto r = run_command(finetune(dir / "dangling", "--epochs 1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::is_symlink(dir / "dangling"));
  EXPECT_TRUE(fs::exists(dir / "made-here" / "best" / "kdtext.json"));
  EXPECT_TRUE(fs::exists(dir / "dangling" / "metrics.json"));
}

// Issue 26, item 7: the data a run trains on is fingerprinted; --resume on the
// same path with other content is refused, naming it.
TEST(Reliability, ResumeRefusesTrainingDataThatChanged) {
  TempDir dir;
  const auto run = dir / "run";
  const auto train = dir / "train.tsv";
  fs::copy_file(source_dir() / "data" / "task" / "train.tsv", train);
  const auto cmd = [&](const std::string& extra) {
    return bin("kdtext-finetune") + " --from " + quote((pipeline().mlm / "final").string()) + " --train " +
           quote(train.string()) + " --dev " + quote((source_dir() / "data" / "task" / "dev.tsv").string()) +
           " -o " + quote(run.string()) + " --batch-size 16 --max-len 48 --threads 1 --epochs 1 " + extra;
  };
  auto r = run_command(cmd("--stop-at-step 6 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(read_json_file(run / "config.json")["inputs_fingerprint"].contains("train"));
  // Same path, same number of rows and bytes: two labels swapped.
  std::string text = read_file(train);
  const auto a = text.find("sports\t"), b = text.find("cooking\t");
  ASSERT_NE(a, std::string::npos);
  ASSERT_NE(b, std::string::npos);
  std::string swapped = text;
  swapped.replace(std::max(a, b), std::string(a > b ? "sports" : "cooking").size(), a > b ? "cooking" : "sports");
  swapped.replace(std::min(a, b), std::string(a < b ? "sports" : "cooking").size(), a < b ? "cooking" : "sports");
  ASSERT_EQ(swapped.size(), text.size());
  write_file(train, swapped);
  r = run_command(cmd("--resume"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("inputs_fingerprint.train:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("the content of that input file or directory changed"), std::string::npos) << r.output;
  write_file(train, text);  // back as it was: the run goes on
  r = run_command(cmd("--resume --quiet"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// Issue 26, item 3: -o naming a FIFO, a device node or a symbolic link is
// written in place (or at the link's target), never renamed over.
TEST(Reliability, ClassifyWritesFifosDevicesAndLinkTargetsInPlace) {
  TempDir dir;
  const std::string model = quote((pipeline().ft / "best").string());
  const std::string input = quote((source_dir() / "data" / "task" / "test.tsv").string());
  auto r = run_command(classify("-m " + model + " " + input + " -o " + quote((dir / "plain.tsv").string()) + " --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string expected = read_file(dir / "plain.tsv");
  ASSERT_FALSE(expected.empty());
  // A FIFO: its reader gets the predictions.
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0644), 0);
  r = run_command("cat " + quote((dir / "fifo").string()) + " > " + quote((dir / "from-fifo.tsv").string()) + " & " +
                  classify("-m " + model + " " + input + " -o " + quote((dir / "fifo").string()) + " --quiet") +
                  " && wait");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(dir / "from-fifo.tsv"), expected);
  struct stat st {};
  ASSERT_EQ(::stat((dir / "fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  // A symbolic link: the link stays, its target gets the predictions.
  write_file(dir / "target.tsv", "old\n");
  fs::create_symlink("target.tsv", dir / "link.tsv");
  r = run_command(classify("-m " + model + " " + input + " -o " + quote((dir / "link.tsv").string()) + " --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::is_symlink(dir / "link.tsv"));
  EXPECT_EQ(read_file(dir / "target.tsv"), expected);
  // /dev/stdout: the bytes reach standard output.
  r = run_command(classify("-m " + model + " " + input + " -o /dev/stdout --quiet") + " > " +
                  quote((dir / "stdout.tsv").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(dir / "stdout.tsv"), expected);
  // A device node of our own (as root; mknod needs it): stays a device.
  if (::mknod((dir / "mynull").c_str(), S_IFCHR | 0666, ::makedev(1, 3)) == 0) {
    r = run_command(classify("-m " + model + " " + input + " -o " + quote((dir / "mynull").string()) + " --quiet"));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    ASSERT_EQ(::stat((dir / "mynull").c_str(), &st), 0);
    EXPECT_TRUE(S_ISCHR(st.st_mode));
  }
}

// Issue 26, items 9 and 10: every input line gets one output row (blank ones
// too), streamed or not; invalid UTF-8 is refused naming the line either way.
TEST(Reliability, EveryInputLineGetsOneRowAndBadBytesAreRefusedAlike) {
  TempDir dir;
  const std::string model = quote((pipeline().ft / "best").string());
  write_file(dir / "in.txt", "The striker scored\n\n   \nSlow soup\nend\n");
  for (const std::string stream : {"on", "off"}) {
    SCOPED_TRACE(stream);
    auto r = run_command("cat " + quote((dir / "in.txt").string()) + " | " +
                         classify("-m " + model + " --stream " + stream + " --quiet") + " > " +
                         quote((dir / "out.tsv").string()));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    std::istringstream out(read_file(dir / "out.tsv"));
    int rows = 0;
    for (std::string line; std::getline(out, line);) rows += line.empty() ? 0 : 1;
    EXPECT_EQ(rows, 1 + 5) << read_file(dir / "out.tsv");  // the header and one row per input line
    r = run_command("printf 'ok\\n\\377\\376 bad\\n' | " + classify("-m " + model + " --stream " + stream + " --quiet"));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("<stdin>:2: invalid UTF-8"), std::string::npos) << r.output;
  }
  const auto r = run_command("printf 'ok\\n\\377\\376 bad\\n' | " + bin("kdtext-tokenize") + " --tokenizer " +
                             quote((pipeline().prep / "tokenizer").string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("<stdin>:2: invalid UTF-8"), std::string::npos) << r.output;
}

// Issue 26, item 12: kdtext-augment stopped by SIGTERM removes its temporary
// file; one killed by SIGKILL leaves it, and the next run removes it.
TEST(Reliability, AStoppedOrKilledAugmentationLeavesNoTemporaryBehind) {
  TempDir dir;
  const auto out = dir / "aug.jsonl";
  const std::string cmd = bin("kdtext-augment") + " " + quote((source_dir() / "data" / "task" / "train.tsv").string()) +
                          " --teacher " + quote((pipeline().ft / "best").string()) + " --copies 100000 -o " +
                          quote(out.string()) + " --threads 1";
  const auto temporaries = [&] { return siblings(out, ".tmp-"); };
  for (const int sig : {SIGTERM, SIGKILL}) {
    SCOPED_TRACE(sig);
    const pid_t pid = spawn(cmd);
    ASSERT_TRUE(wait_for([&] { return !temporaries().empty(); }, 60)) << "augment never started writing";
    ::kill(pid, sig);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (sig == SIGTERM) {
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM) << status;
      EXPECT_TRUE(temporaries().empty());
    } else {
      EXPECT_EQ(temporaries().size(), 1u);
    }
    EXPECT_FALSE(fs::exists(out));
  }
  // The next run (here a small one) removes the killed writer's temporary.
  const auto r = run_command(bin("kdtext-augment") + " " + quote((source_dir() / "data" / "task" / "train.tsv").string()) +
                             " --teacher " + quote((pipeline().ft / "best").string()) + " --copies 1 -o " +
                             quote(out.string()) + " --threads 1 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(temporaries().empty());
  EXPECT_TRUE(fs::exists(out));
}
