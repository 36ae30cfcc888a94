// kdtext-pretrain as a user runs it: tiny teacher on data/, exact resume via
// the CLI, and SIGTERM leaving a resumable checkpoint.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

#include "kdtext/io/checkpoint.h"
#include "kdtext/util/json.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::testing;
namespace fs = std::filesystem;

namespace {

// One preprocessed copy of data/corpus shared by the tests of this file.
const fs::path& prep_dir() {
  static TempDir dir;
  static bool done = false;
  if (!done) {
    const auto r = run_command(bin("kdtext-preprocess") + " " + quote((source_dir() / "data" / "corpus").string()) +
                               " -o " + quote((dir / "prep").string()) + " --vocab-size 400 --quiet");
    if (r.exit_code != 0) throw std::runtime_error(r.output);
    done = true;
  }
  static const fs::path p = dir / "prep";
  return p;
}

std::string pretrain_cmd(const fs::path& out, const std::string& extra) {
  return bin("kdtext-pretrain") + " " + quote(prep_dir().string()) + " -o " + quote(out.string()) +
         " --model bert-tiny --max-len 32 --batch-size 8 --lr 3e-3 --threads 1 --log-every 5 " + extra;
}

}  // namespace

TEST(PretrainCli, TinyTeacherLearnsAndWritesCheckpoints) {
  TempDir dir;
  const auto r = run_command(pretrain_cmd(dir / "run", "--max-steps 60 --eval-every 20 --save-every 20"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Validation loss falls well below the uniform guess ln(400) ~ 6.0.
  std::vector<double> val;
  std::ifstream in(dir / "run" / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    const Json j = Json::parse(line);
    if (j["event"] == "eval") val.push_back(j["val_loss"].get<double>());
  }
  ASSERT_EQ(val.size(), 3u);
  EXPECT_LT(val.back(), val.front());
  EXPECT_LT(val.back(), 5.5);
  // final/ and best/ are complete checkpoints; only the newest two resumable ones are kept.
  auto ck = io::read_checkpoint(dir / "run" / "final");
  EXPECT_EQ(ck.heads, model::Heads::kMaskedLM);
  EXPECT_EQ(ck.meta["stage"], "pretrain");
  EXPECT_EQ(ck.config.vocab_size, 400);
  EXPECT_TRUE(fs::exists(dir / "run" / "best" / "model.safetensors"));
  EXPECT_FALSE(fs::exists(dir / "run" / "checkpoints" / "step-00000020"));
  EXPECT_TRUE(fs::exists(dir / "run" / "checkpoints" / "step-00000040" / "training_state" / "optimizer.pt"));
  EXPECT_TRUE(fs::exists(dir / "run" / "checkpoints" / "step-00000060"));
  const Json summary = read_json_file(dir / "run" / "summary.json");
  EXPECT_NEAR(summary["val_perplexity"].get<double>(), std::exp(summary["val_loss"].get<double>()), 1e-6);
  EXPECT_EQ(read_json_file(dir / "run" / "config.json")["trainer"]["max_steps"], 60);
}

TEST(PretrainCli, StopAndResumeEqualsAStraightRunBitwise) {
  TempDir dir;
  auto r = run_command(pretrain_cmd(dir / "straight", "--max-steps 30 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(pretrain_cmd(dir / "split", "--max-steps 30 --stop-at-step 13 --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_FALSE(fs::exists(dir / "split" / "final"));
  r = run_command(pretrain_cmd(dir / "split", "--max-steps 30 --quiet"));
  EXPECT_EQ(r.exit_code, 2) << r.output;  // non-empty output without --resume
  EXPECT_NE(r.output.find("--resume"), std::string::npos) << r.output;
  r = run_command(pretrain_cmd(dir / "split", "--max-steps 30 --resume --quiet"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_file(dir / "straight" / "final" / "model.safetensors"),
            read_file(dir / "split" / "final" / "model.safetensors"));
}

TEST(PretrainCli, SigtermLeavesAResumableCheckpoint) {
  TempDir dir;
  const std::string log = (dir / "log.txt").string();
  const std::string cmd = pretrain_cmd(dir / "run", "--max-steps 100000 --log-every 1") + " > " + quote(log) + " 2>&1";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Wait until training has made progress, then ask it to stop.
  for (int i = 0; i < 600; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (fs::exists(log) && read_file(log).find("step 5/") != std::string::npos) break;
  }
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << read_file(log);
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM) << read_file(log);
  EXPECT_NE(read_file(log).find("resumable checkpoint"), std::string::npos) << read_file(log);

  // The checkpoint resumes: run on to a small step budget beyond it.
  const Json state = [&] {
    fs::path latest;
    for (const auto& e : fs::directory_iterator(dir / "run" / "checkpoints")) latest = std::max(latest, e.path());
    return read_json_file(latest / "training_state" / "state.json");
  }();
  const int64_t stopped_at = state["step"].get<int64_t>();
  EXPECT_GE(stopped_at, 5);
  // A shorter step budget changes the learning-rate schedule: refused, then accepted when asked (and recorded).
  const auto cmd_short = pretrain_cmd(dir / "run", "--max-steps " + std::to_string(stopped_at + 5) + " --resume --quiet");
  const auto refused = run_command(cmd_short);
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("trainer.max_steps: 100000 -> "), std::string::npos) << refused.output;
  const auto resumed = run_command(cmd_short + " --accept-changes");
  EXPECT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_TRUE(fs::exists(dir / "run" / "final" / "model.safetensors"));
  EXPECT_EQ(read_json_file(dir / "run" / "config.json")["changed_on_resume"][0]["keys"]["trainer.max_steps"]["was"],
            100000);
}

TEST(PretrainCli, PresetsAreFoundBesideTheExecutableNeverInTheWorkingDirectory) {
  TempDir dir;
  // From a directory with no configs/ of its own, the bert-tiny preset is found.
  auto r = run_command("cd " + quote(dir.path().string()) + " && " +
                       pretrain_cmd(dir / "run", "--max-steps 2 --quiet"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  // A configs/ in the working directory is not a preset directory.
  fs::create_directories(dir / "configs" / "model");
  fs::copy_file(source_dir() / "configs" / "model" / "bert-tiny.json", dir / "configs" / "model" / "mine.json");
  r = run_command("cd " + quote(dir.path().string()) + " && " + bin("kdtext-pretrain") + " " +
                  quote(prep_dir().string()) + " -o " + quote((dir / "run2").string()) + " --model mine --quiet");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("model config 'mine': no such file or preset"), std::string::npos) << r.output;
  // An installed layout: <prefix>/bin/kdtext-pretrain reads <prefix>/share/kdtext/configs.
  const fs::path prefix = dir / "prefix";
  fs::create_directories(prefix / "bin");
  fs::create_directories(prefix / "share" / "kdtext" / "configs" / "model");
  fs::copy_file(bin("kdtext-pretrain"), prefix / "bin" / "kdtext-pretrain");
  r = run_command(quote((prefix / "bin" / "kdtext-pretrain").string()) + " " + quote(prep_dir().string()) + " -o " +
                  quote((dir / "run3").string()) + " --model mine --quiet");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find((prefix / "share" / "kdtext" / "configs" / "model").string()),
            std::string::npos)
      << r.output;
  fs::copy_file(source_dir() / "configs" / "model" / "bert-tiny.json",
                prefix / "share" / "kdtext" / "configs" / "model" / "mine.json");
  r = run_command(quote((prefix / "bin" / "kdtext-pretrain").string()) + " " + quote(prep_dir().string()) + " -o " +
                  quote((dir / "run3").string()) + " --model mine --max-len 32 --max-steps 2 --threads 1 --quiet");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}
