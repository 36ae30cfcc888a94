// Which process of a data-parallel run this is, from each launcher's variables.
#include <gtest/gtest.h>

#include <map>

#include "kdtext/parallel/world.h"
#include "kdtext/error.h"

using namespace kdtext;
using namespace kdtext::parallel;

namespace {
World detect(const std::map<std::string, std::string>& env) {
  return detect_world([&](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

std::string refusal(const std::map<std::string, std::string>& env) {
  try {
    detect(env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "accepted";
}
}  // namespace

TEST(DistWorld, NoLauncherIsOneProcess) {
  const auto w = detect({});
  EXPECT_FALSE(w.distributed());
  EXPECT_EQ(w.size, 1);
  EXPECT_EQ(w.rank, 0);
  EXPECT_EQ(describe(w), "one process");
  // A launcher that started one process is one process too.
  EXPECT_FALSE(detect({{"WORLD_SIZE", "1"}, {"RANK", "0"}}).distributed());
  EXPECT_TRUE(detect({{"WORLD_SIZE", "1"}, {"RANK", "0"}, {"TORCHELASTIC_RUN_ID", "j"}}).group_of_one_on_cuda());
  EXPECT_FALSE(detect({{"OMPI_COMM_WORLD_SIZE", "1"}}).group_of_one_on_cuda());
  EXPECT_FALSE(detect({}).group_of_one_on_cuda());
  EXPECT_FALSE(detect({{"OMPI_COMM_WORLD_SIZE", "1"}}).distributed());
}

TEST(DistWorld, EachLauncherIsRead) {
  const auto t = detect({{"WORLD_SIZE", "8"}, {"RANK", "5"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "4"},
                         {"MASTER_ADDR", "node0"}, {"MASTER_PORT", "29400"}, {"TORCHELASTIC_RUN_ID", "j"}});
  EXPECT_EQ(t.launcher, "torchrun");
  EXPECT_EQ(t.rank, 5);
  EXPECT_EQ(t.size, 8);
  EXPECT_EQ(t.local_rank, 1);
  EXPECT_EQ(t.local_size, 4);
  EXPECT_EQ(t.master_addr, "node0");
  EXPECT_EQ(t.master_port, 29400);
  EXPECT_EQ(describe(t), "rank 5 of 8 (local 1 of 4, torchrun)");
  EXPECT_FALSE(t.agent_store);
  EXPECT_TRUE(detect({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"LOCAL_RANK", "0"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}})
                  .agent_store);

  const auto m = detect({{"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_COMM_WORLD_RANK", "3"},
                         {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}});
  EXPECT_EQ(m.launcher, "mpirun");
  EXPECT_EQ(m.rank, 3);
  EXPECT_EQ(m.local_rank, 1);
  EXPECT_EQ(m.local_size, 2);

  const auto s = detect({{"SLURM_STEP_NUM_TASKS", "6"}, {"SLURM_PROCID", "4"}, {"SLURM_LOCALID", "1"},
                         {"SLURM_STEP_TASKS_PER_NODE", "2(x3)"}});
  EXPECT_EQ(s.launcher, "srun");
  EXPECT_EQ(s.rank, 4);
  EXPECT_EQ(s.local_rank, 1);
  EXPECT_EQ(s.local_size, 2);
  // A batch script's own variables (no job step) are not a launch.
  EXPECT_FALSE(detect({{"SLURM_NTASKS", "6"}, {"SLURM_PROCID", "0"}}).distributed());
}

TEST(DistWorld, MalformedOrContradictoryVariablesAreNamed) {
  EXPECT_NE(refusal({{"WORLD_SIZE", "two"}}).find("WORLD_SIZE='two'"), std::string::npos);
  EXPECT_NE(refusal({{"WORLD_SIZE", "2"}}).find("RANK is not"), std::string::npos);
  EXPECT_NE(refusal({{"WORLD_SIZE", "2"}, {"RANK", "0"}}).find("LOCAL_RANK is not set"), std::string::npos);
  EXPECT_NE(refusal({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"LOCAL_RANK", "0"}}).find("rank 2 is not below the world size 2"),
            std::string::npos);
  EXPECT_NE(refusal({{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"LOCAL_RANK", "3"}, {"LOCAL_WORLD_SIZE", "2"}})
                .find("local rank 3 is not below the local size 2"),
            std::string::npos);
  EXPECT_NE(refusal({{"WORLD_SIZE", "0"}}).find("must be >= 1"), std::string::npos);
  EXPECT_NE(refusal({{"WORLD_SIZE", "2"}, {"RANK", "0"}, {"LOCAL_RANK", "0"}, {"MASTER_PORT", "70000"}})
                .find("MASTER_PORT"),
            std::string::npos);
}
