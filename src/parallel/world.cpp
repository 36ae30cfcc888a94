#include "kdtext/parallel/world.h"

#include <cstdlib>
#include <optional>

#include "kdtext/error.h"

namespace kdtext::parallel {
namespace {

std::optional<int> int_var(const Getenv& getenv, const char* name, int min_value) {
  const char* v = getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  const std::string s(v);
  if (s.size() > 9 || s.find_first_not_of("0123456789") != std::string::npos) {
    throw ConfigError(std::string("environment variable ") + name + "='" + s + "': expected a non-negative integer");
  }
  const int n = std::stoi(s);
  if (n < min_value) {
    throw ConfigError(std::string("environment variable ") + name + "=" + s + ": must be >= " +
                      std::to_string(min_value));
  }
  return n;
}

// SLURM_STEP_TASKS_PER_NODE reads like "2(x3),1"; the local count is the
// first group's when every node runs the same number (the usual case).
std::optional<int> slurm_tasks_per_node(const Getenv& getenv) {
  const char* v = getenv("SLURM_STEP_TASKS_PER_NODE");
  if (v == nullptr) return std::nullopt;
  const std::string s(v);
  const size_t digits = s.find_first_not_of("0123456789");
  if (digits == 0) return std::nullopt;
  return std::stoi(s.substr(0, digits));
}

}  // namespace

World detect_world(const Getenv& getenv) {
  World w;
  const auto env_size = int_var(getenv, "WORLD_SIZE", 1);
  const auto ompi_size = int_var(getenv, "OMPI_COMM_WORLD_SIZE", 1);
  const auto slurm_size = int_var(getenv, "SLURM_STEP_NUM_TASKS", 1);
  if (env_size) {
    w.launcher = getenv("TORCHELASTIC_RUN_ID") ? "torchrun" : "environment";
    w.size = *env_size;
    const auto rank = int_var(getenv, "RANK", 0);
    if (!rank && w.size > 1) throw ConfigError("environment variable WORLD_SIZE is set but RANK is not");
    w.rank = rank.value_or(0);
    w.local_rank = int_var(getenv, "LOCAL_RANK", 0).value_or(w.size > 1 ? -1 : 0);
    w.local_size = int_var(getenv, "LOCAL_WORLD_SIZE", 1).value_or(w.size);
    if (w.local_rank < 0) {
      throw ConfigError("environment variable LOCAL_RANK is not set (WORLD_SIZE is); launch with torchrun");
    }
  } else if (ompi_size) {
    w.launcher = "mpirun";
    w.size = *ompi_size;
    w.rank = int_var(getenv, "OMPI_COMM_WORLD_RANK", 0).value_or(0);
    w.local_rank = int_var(getenv, "OMPI_COMM_WORLD_LOCAL_RANK", 0).value_or(0);
    w.local_size = int_var(getenv, "OMPI_COMM_WORLD_LOCAL_SIZE", 1).value_or(w.size);
  } else if (slurm_size) {
    w.launcher = "srun";
    w.size = *slurm_size;
    w.rank = int_var(getenv, "SLURM_PROCID", 0).value_or(0);
    w.local_rank = int_var(getenv, "SLURM_LOCALID", 0).value_or(0);
    w.local_size = slurm_tasks_per_node(getenv).value_or(w.size);
  }
  if (w.launcher.empty()) return w;
  if (w.rank >= w.size) {
    throw ConfigError("rank " + std::to_string(w.rank) + " is not below the world size " + std::to_string(w.size) +
                      " (" + w.launcher + " variables)");
  }
  if (w.local_size < 1 || w.local_rank >= w.local_size) {
    throw ConfigError("local rank " + std::to_string(w.local_rank) + " is not below the local size " +
                      std::to_string(w.local_size) + " (" + w.launcher + " variables)");
  }
  if (const char* addr = getenv("MASTER_ADDR")) w.master_addr = addr;
  if (const char* agent = getenv("TORCHELASTIC_USE_AGENT_STORE")) w.agent_store = std::string(agent) == "True";
  w.master_port = int_var(getenv, "MASTER_PORT", 1).value_or(0);
  if (w.master_port > 65535) throw ConfigError("environment variable MASTER_PORT: not a port number");
  return w;
}

World detect_world() {
  return detect_world([](const char* name) { return std::getenv(name); });
}

std::string describe(const World& w) {
  if (w.launcher.empty()) return "one process";
  return "rank " + std::to_string(w.rank) + " of " + std::to_string(w.size) + " (local " +
         std::to_string(w.local_rank) + " of " + std::to_string(w.local_size) + ", " + w.launcher + ")";
}

}  // namespace kdtext::parallel
