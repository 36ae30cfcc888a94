// Data-parallel training on the CPU (MPI engine, launched by mpirun): the
// same weights as one process with the same global batch, a dead rank ends the
// run, SIGTERM to the launcher leaves one resumable checkpoint, resume with the
// same number of processes is exact, and launches the engine cannot serve are
// refused.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "kdtext/io/safetensors.h"
#include "kdtext/util/json.h"
#include "pipeline_fixture.h"
#include "test_util.h"
#include "weight_diff.h"

using namespace kdtext;
using namespace kdtext::testing;
namespace fs = std::filesystem;

namespace {

// mpirun with N processes; SIGTERM to it reaches the ranks after 5 s and they
// have 5 s to stop (Open MPI's odls_base_sigkill_timeout; its default gives 1).
std::string mpirun(int n) {
  return "mpirun --allow-run-as-root --oversubscribe --mca odls_base_sigkill_timeout 5 -n " + std::to_string(n) + " ";
}

void require_mpirun() {
  const auto r = run_command("command -v mpirun");
  ASSERT_EQ(r.exit_code, 0) << "mpirun is missing (Debian: openmpi-bin; scripts/setup.sh installs it)";
}

// bert-tiny without dropout: one process and two draw different dropout masks.
fs::path tiny_without_dropout(const fs::path& dir) {
  Json c = read_json_file(source_dir() / "configs" / "model" / "bert-tiny.json");
  c["hidden_dropout_prob"] = 0.0;
  c["attention_probs_dropout_prob"] = 0.0;
  write_file(dir / "tiny-nodrop.json", c.dump(2));
  return dir / "tiny-nodrop.json";
}

std::string pretrain(const fs::path& out, const fs::path& model, int batch, const std::string& more = "") {
  return bin("kdtext-pretrain") + " " + quote(pipeline().prep.string()) + " -o " + quote(out.string()) +
         " --model " + quote(model.string()) + " --max-len 32 --batch-size " + std::to_string(batch) +
         " --threads 1 --device cpu " + more;
}

std::string finetune(const fs::path& from, const fs::path& out, int batch, const std::string& more = "") {
  const auto task = source_dir() / "data" / "task";
  return bin("kdtext-finetune") + " --from " + quote(from.string()) + " --train " +
         quote((task / "train.tsv").string()) + " --dev " + quote((task / "dev.tsv").string()) + " -o " +
         quote(out.string()) + " --max-len 48 --batch-size " + std::to_string(batch) +
         " --lr 1e-3 --threads 1 --device cpu " + more;
}

int count_events(const fs::path& metrics, const std::string& event) {
  std::ifstream in(metrics);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += Json::parse(line).value("event", "") == event;
  return n;
}

// Starts `command` in the background, waits (up to 120 s) for `pattern` in its
// log, runs `act` (a shell fragment; $MP is mpirun's pid), then waits for the
// launcher. Prints "rc=N seconds=S" after the log.
CommandResult launch_and(const std::string& command, const fs::path& log, const std::string& pattern,
                         const std::string& act) {
  const std::string script = command + " > " + quote(log.string()) + " 2>&1 & MP=$!\n" +
                             "for i in $(seq 1200); do grep -q " + quote(pattern) + " " + quote(log.string()) +
                             " && break; sleep 0.1; done\n" + "T0=$(date +%s)\n" + act + "\n" +
                             "wait $MP; RC=$?; T1=$(date +%s)\n" + "cat " + quote(log.string()) +
                             "; echo \"rc=$RC seconds=$((T1 - T0))\"\n";
  return run_command("bash -c " + quote(script));
}

int launcher_rc(const std::string& output) {
  std::smatch m;
  return std::regex_search(output, m, std::regex("rc=([0-9]+) seconds=")) ? std::stoi(m[1]) : -1;
}
int launcher_seconds(const std::string& output) {
  std::smatch m;
  return std::regex_search(output, m, std::regex("seconds=([0-9]+)")) ? std::stoi(m[1]) : -1;
}

}  // namespace

// The check: 2 processes x batch 8 reach the weights of 1 process x
// batch 16 after 20 steps, for pretraining and fine-tuning; rank 0 alone logs.
TEST(DataParallel, TwoProcessesOfBatch8EqualOneOfBatch16) {
  require_mpirun();
  TempDir dir;
  const auto model = tiny_without_dropout(dir.path());
  auto r = run_command(pretrain(dir / "p1", model, 16, "--max-steps 20 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(mpirun(2) + pretrain(dir / "p2", model, 8, "--max-steps 20 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("weights differ"), std::string::npos) << r.output;  // the processes stayed identical
  const double pretrain_diff = max_weight_difference(dir / "p1" / "final" / "model.safetensors",
                                            dir / "p2" / "final" / "model.safetensors");
  EXPECT_LE(pretrain_diff, 1e-5);
  EXPECT_EQ(count_events(dir / "p2" / "metrics.jsonl", "train"), count_events(dir / "p1" / "metrics.jsonl", "train"));
  EXPECT_EQ(count_events(dir / "p2" / "metrics.jsonl", "eval"), 1);
  EXPECT_EQ(read_json_file(dir / "p2" / "config.json")["world_size"], 2);
  EXPECT_NEAR(read_json_file(dir / "p1" / "summary.json")["val_loss"].get<double>(),
              read_json_file(dir / "p2" / "summary.json")["val_loss"].get<double>(), 1e-4);

  // Fine-tuning (600 examples: the global batches of an epoch end with a short one).
  const auto from = dir / "p1" / "final";
  r = run_command(finetune(from, dir / "f1", 16, "--max-steps 20 --eval-every 10 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(mpirun(2) + finetune(from, dir / "f2", 8, "--max-steps 20 --eval-every 10 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const double finetune_diff = max_weight_difference(dir / "f1" / "final" / "model.safetensors",
                                            dir / "f2" / "final" / "model.safetensors");
  EXPECT_LE(finetune_diff, 1e-5);
  EXPECT_EQ(count_events(dir / "f2" / "metrics.jsonl", "eval"), 2);
  EXPECT_EQ(read_json_file(dir / "f1" / "metrics.json")["dev"]["accuracy"],
            read_json_file(dir / "f2" / "metrics.json")["dev"]["accuracy"]);
  std::cout << "max |diff| after 20 steps: pretrain " << pretrain_diff << ", finetune " << finetune_diff << "\n";
}

// Task distillation under mpirun: each process scores half of the training
// set with the teacher and they share the logits (the same as one process
// computes, up to batching's rounding); the run finishes with rank 0's report.
TEST(DataParallel, TaskDistillationSharesTheTeacherLogits) {
  require_mpirun();
  TempDir dir;
  auto r = build_small_student(dir / "student");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto train = source_dir() / "data" / "task" / "train.tsv";
  const std::string common = " --max-steps 4 --threads 1 --device cpu --quiet --teacher-logits ";
  r = run_command(distill_command(dir / "student", train, dir / "d1") + "--batch-size 16" + common +
                  quote((dir / "l1.safetensors").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(mpirun(2) + distill_command(dir / "student", train, dir / "d2") + "--batch-size 8" + common +
                  quote((dir / "l2.safetensors").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_LE(max_weight_difference(dir / "l1.safetensors", dir / "l2.safetensors"), 1e-5);
  EXPECT_TRUE(fs::exists(dir / "d2" / "metrics.json"));
}

// kill -9 of one rank: the other is gone, with a non-zero status, within 60 s.
TEST(DataParallel, KillingOneRankEndsTheOtherWithin60Seconds) {
  require_mpirun();
  TempDir dir;
  const auto r = launch_and(mpirun(2) + pretrain(dir / "k", "bert-tiny", 8, "--max-steps 100000 --log-every 5"),
                            dir / "k.log", "step 10/",
                            "kill -9 $(pgrep -P $MP -f kdtext-pretrain | tail -1)");
  EXPECT_NE(launcher_rc(r.output), 0) << r.output;
  EXPECT_NE(launcher_rc(r.output), -1) << r.output;
  EXPECT_LE(launcher_seconds(r.output), 60) << r.output;
  EXPECT_NE(run_command("pgrep -f -- " + quote("[-]o " + (dir / "k").string())).exit_code, 0) << "a rank is still running";
}

// A rank that stops answering (SIGSTOP: alive, so no launcher notices) makes
// the other give up after KDTEXT_DIST_TIMEOUT seconds and end the run.
TEST(DataParallel, ARankThatHangsEndsTheRunAfterTheTimeout) {
  require_mpirun();
  TempDir dir;
  const auto r = launch_and("KDTEXT_DIST_TIMEOUT=3 " + mpirun(2) +
                                pretrain(dir / "h", "bert-tiny", 8, "--max-steps 100000 --log-every 5"),
                            dir / "h.log", "step 10/", "kill -STOP $(pgrep -P $MP -f kdtext-pretrain | tail -1)");
  EXPECT_NE(launcher_rc(r.output), 0) << r.output;
  EXPECT_LE(launcher_seconds(r.output), 30) << r.output;
  EXPECT_NE(r.output.find("waited more than 3 s for the other processes (KDTEXT_DIST_TIMEOUT)"), std::string::npos)
      << r.output;
  EXPECT_NE(run_command("pgrep -f -- " + quote("[-]o " + (dir / "h").string())).exit_code, 0)
      << "a rank is still running";
}

// SIGTERM to mpirun: every rank stops at the same step, rank 0 writes one
// resumable checkpoint, and --resume finishes the run from it.
TEST(DataParallel, SigtermToTheLauncherLeavesOneResumableCheckpoint) {
  require_mpirun();
  TempDir dir;
  const auto out = dir / "t";
  auto r = launch_and(mpirun(2) + pretrain(out, "bert-tiny", 8, "--max-steps 100000 --log-every 5"), dir / "t.log",
                      "step 10/", "kill -TERM $MP");
  EXPECT_NE(launcher_rc(r.output), 0) << r.output;
  std::vector<fs::path> checkpoints;
  for (const auto& e : fs::directory_iterator(out / "checkpoints")) checkpoints.push_back(e.path());
  ASSERT_EQ(checkpoints.size(), 1u) << r.output;
  std::smatch m;
  const std::string name = checkpoints[0].filename().string();
  ASSERT_TRUE(std::regex_match(name, m, std::regex("step-0*([0-9]+)"))) << name;
  const int stopped = std::stoi(m[1]);
  // Both ranks report the same step.
  const std::string line = "stopped by signal 15 at step " + std::to_string(stopped) + ";";
  size_t seen = 0;
  for (size_t at = r.output.find(line); at != std::string::npos; at = r.output.find(line, at + 1)) ++seen;
  EXPECT_EQ(seen, 2u) << r.output;
  EXPECT_FALSE(fs::exists(out / "final"));

  r = run_command(mpirun(2) + pretrain(out, "bert-tiny", 8,
                                       "--resume --accept-changes --max-steps " + std::to_string(stopped + 5) +
                                           " --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(out / "final" / "model.safetensors"));
  EXPECT_EQ(read_json_file(out / "summary.json")["steps"], stopped + 5);
}

// SIGTERM to one process only (rank 1, which writes nothing): both stop after
// the same step, and rank 1 waits for rank 0's checkpoint before it exits.
TEST(DataParallel, SigtermToOneRankStopsBothWithACheckpoint) {
  require_mpirun();
  TempDir dir;
  const auto out = dir / "one";
  const auto r = launch_and(mpirun(2) + pretrain(out, "bert-tiny", 8, "--max-steps 100000 --log-every 5"),
                            dir / "one.log", "step 10/",
                            "kill -TERM $(pgrep -P $MP -f kdtext-pretrain | tail -1)");
  EXPECT_NE(launcher_rc(r.output), 0) << r.output;
  std::vector<fs::path> checkpoints;
  for (const auto& e : fs::directory_iterator(out / "checkpoints")) checkpoints.push_back(e.path());
  ASSERT_EQ(checkpoints.size(), 1u) << r.output;
  const int step = std::stoi(checkpoints[0].filename().string().substr(5));
  const std::string line = "stopped by signal 15 at step " + std::to_string(step) + ";";
  EXPECT_NE(r.output.find(line), std::string::npos) << r.output;
  EXPECT_TRUE(fs::exists(checkpoints[0] / "training_state" / "state.json"));
}

// Stop at step 6 and resume to 12 with 2 processes (dropout on): the weights
// of a straight 12-step run, byte for byte.
TEST(DataParallel, ResumeWithTheSameNumberOfProcessesIsExact) {
  require_mpirun();
  TempDir dir;
  auto r = run_command(mpirun(2) + pretrain(dir / "straight", "bert-tiny", 8, "--max-steps 12 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(mpirun(2) + pretrain(dir / "split", "bert-tiny", 8, "--max-steps 12 --stop-at-step 6 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_FALSE(fs::exists(dir / "split" / "final"));
  r = run_command(mpirun(2) + pretrain(dir / "split", "bert-tiny", 8, "--max-steps 12 --resume --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(dir / "straight" / "final" / "model.safetensors"),
            read_file(dir / "split" / "final" / "model.safetensors"));
  // Resumed with one process: allowed, and said.
  r = run_command(pretrain(dir / "split", "bert-tiny", 16, "--max-steps 14 --resume --accept-changes"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("resuming a run of 2 process(es) with 1"), std::string::npos) << r.output;
}

// The rendezvous a CUDA run makes (parallel::connect_store), checked without a
// GPU by a probe: under torchrun every process is a client of the agent's
// store; with plain variables rank 0 serves it.
TEST(DataParallel, RendezvousUnderTorchrunAndWithPlainVariables) {
  const fs::path python_file = fs::path(bin("kdtext-pretrain")).parent_path().parent_path() / ".kdtext-python";
  if (!fs::exists(python_file)) GTEST_SKIP() << "no LibTorch venv recorded (scripts/setup.sh writes it)";
  std::string python = read_file(python_file);
  python.erase(python.find_last_not_of(" \n") + 1);
  const auto torchrun = fs::path(python).parent_path() / "torchrun";
  ASSERT_TRUE(fs::exists(torchrun)) << torchrun;
  auto r = run_command("timeout 120 " + quote(torchrun.string()) + " --nproc-per-node 2 --no-python " +
                       bin("rendezvous_probe"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("rank 1 of 2 (local 1 of 2, torchrun), agent store, saw 2 processes"), std::string::npos)
      << r.output;
  const std::string vars = "WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$((20000 + $$ % 20000)) ";
  r = run_command("bash -c " + quote("(" + vars + "RANK=1 LOCAL_RANK=1 timeout 60 " + bin("rendezvous_probe") +
                                     " &); " + vars + "RANK=0 LOCAL_RANK=0 timeout 60 " + bin("rendezvous_probe") +
                                     "; sleep 0.5"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("rank 0 of 2 (local 0 of 2, environment), saw 2 processes"), std::string::npos) << r.output;
}

// Launches the engine cannot serve are refused before any work, naming why.
TEST(DataParallel, LaunchesThatCannotWorkAreRefused) {
  TempDir dir;
  // torchrun's variables for a CPU run: the CPU engine is MPI.
  auto r = run_command("WORLD_SIZE=2 RANK=0 LOCAL_RANK=0 LOCAL_WORLD_SIZE=2 TORCHELASTIC_RUN_ID=x " +
                       pretrain(dir / "x", "bert-tiny", 8, "--max-steps 2"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("start it with mpirun -n 2"), std::string::npos) << r.output;
  // A stage that does not train runs as one process.
  r = run_command("OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=1 " + bin("kdtext-classify") + " --model " +
                  quote((pipeline().ft / "best").string()) + " " +
                  quote((source_dir() / "data" / "task" / "dev.tsv").string()));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("kdtext-classify runs as one process, but mpirun started 2"), std::string::npos)
      << r.output;
  // A malformed variable is named.
  r = run_command("WORLD_SIZE=two " + pretrain(dir / "x", "bert-tiny", 8, "--max-steps 2"));
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("WORLD_SIZE='two'"), std::string::npos) << r.output;
  // One GPU named for every process.
  r = run_command("WORLD_SIZE=2 RANK=0 LOCAL_RANK=0 " + bin("kdtext-pretrain") + " " +
                  quote(pipeline().prep.string()) + " -o " + quote((dir / "x").string()) + " --device cuda:0");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--device cuda:0: with several processes give --device cuda"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir / "x"));
}
