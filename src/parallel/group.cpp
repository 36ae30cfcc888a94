#include "kdtext/parallel/group.h"

#include <dlfcn.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cstdlib>

#include "engines/engine.h"
#include "kdtext/util/log.h"
#include "kdtext/error.h"
#include "kdtext/util/paths.h"

namespace kdtext::parallel {
namespace fs = std::filesystem;

namespace {

// The engine libraries sit in <prefix>/lib/kdtext/ beside <prefix>/bin/
// ($KDTEXT_ENGINE_DIR overrides).
fs::path engine_path(const std::string& name) {
  const std::string file = "libkdtext_engine_" + name + ".so";
  if (const char* dir = std::getenv("KDTEXT_ENGINE_DIR")) return fs::path(dir) / file;
  return executable_path().parent_path().parent_path() / "lib" / "kdtext" / file;
}

void* load_engine(const std::string& name, const std::string& needs) {
  const fs::path path = engine_path(name);
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = dlerror();
    throw InputError(path.string() + ": the " + name + " engine cannot be loaded (" + (e ? e : "unknown error") +
                     "); " + needs);
  }
  return lib;
}

}  // namespace

c10::intrusive_ptr<c10d::Store> connect_store(const World& w, std::chrono::seconds timeout) {
  std::string addr = w.master_addr;
  int port = w.master_port;
  if (addr.empty() && w.local_size == w.size) addr = "127.0.0.1";  // one machine: no address needed
  if (port == 0 && w.local_size == w.size) port = 29500;
  if (addr.empty() || port == 0) {
    throw ConfigError("a CUDA run on several machines meets at MASTER_ADDR:MASTER_PORT; set both (torchrun "
                      "--rdzv-endpoint or --master-addr/--master-port set them)");
  }
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(port);
  o.isServer = w.rank == 0 && !w.agent_store;
  o.numWorkers = w.size;
  o.waitWorkers = !w.agent_store;
  o.timeout = timeout;
  try {
    auto store = c10::make_intrusive<c10d::TCPStore>(addr, o);
    return c10::make_intrusive<c10d::PrefixStore>("kdtext", store);  // apart from the agent's own keys
  } catch (const std::exception& e) {
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
    throw InputError("rendezvous at " + addr + ":" + std::to_string(port) +
                     (w.agent_store ? " (torchrun's store)" : w.rank == 0 ? " (served here)" : "") + " failed: " +
                     (c10_error ? c10_error->what_without_backtrace() : e.what()));
  }
}

std::shared_ptr<Group> Group::connect(const World& world, torch::Device device, std::chrono::seconds timeout) {
  if (!world.distributed() && !(world.group_of_one_on_cuda() && device.is_cuda())) {
    throw std::logic_error("Group::connect: a single process has no group");
  }
  std::shared_ptr<Group> g(new Group());
  g->world_ = world;
  g->device_ = device;
  g->timeout_ = timeout;
  EngineRequest request;
  request.rank = world.rank;
  request.size = world.size;
  request.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(timeout);
  if (device.is_cuda()) {
    g->engine_ = "nccl";
    request.device_index = device.index();
    request.store = connect_store(world, timeout);
    g->library_ = load_engine("nccl", "it needs LibTorch's CUDA libraries and NCCL");
  } else {
    if (world.launcher != "mpirun" && world.launcher != "srun") {
      throw ConfigError("data-parallel training on the CPU runs on MPI: start it with mpirun -n " +
                        std::to_string(world.size) + " (or srun --mpi=pmix), not " + world.launcher +
                        "; torchrun launches CUDA runs (NCCL)");
    }
    g->engine_ = "mpi";
    g->library_ = load_engine("mpi", "it needs Open MPI (Debian: openmpi-bin)");
  }
  auto make = reinterpret_cast<MakeEngine>(dlsym(g->library_, kMakeEngineSymbol));
  if (make == nullptr) throw InputError(engine_path(g->engine_).string() + ": not a kdtext engine library");
  try {
    g->backend_ = make(request);
  } catch (const ConfigError&) {
    throw;
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(std::string("connecting the processes (") + g->engine_ + "): " + e.what());
  }
  log::info("data-parallel: ", describe(world), ", engine ", g->engine_, ", device ", device.str());
  return g;
}

Group::~Group() {
  backend_.reset();  // the MPI engine finalises MPI here
  // The engine library stays loaded: LibTorch may still hold callbacks into it.
}

void Group::allreduce_sum(std::vector<torch::Tensor>& tensors) {
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (auto& t : tensors) {
    std::vector<at::Tensor> one{t};
    works.push_back(backend_->allreduce(one));
  }
  for (auto& w : works) wait(*w);
}

namespace {
std::vector<double> reduce_values(Group& g, c10d::Backend& b, torch::Device device, const std::vector<double>& values,
                                  c10d::ReduceOp op) {
  auto t = torch::tensor(values, torch::kFloat64).to(device);
  std::vector<at::Tensor> one{t};
  c10d::AllreduceOptions o;
  o.reduceOp = op;
  g.wait(*b.allreduce(one, o));
  auto cpu = t.cpu();
  return std::vector<double>(cpu.data_ptr<double>(), cpu.data_ptr<double>() + cpu.numel());
}
}  // namespace

std::vector<double> Group::sum(const std::vector<double>& values) {
  return reduce_values(*this, *backend_, device_, values, c10d::ReduceOp::SUM);
}

std::vector<double> Group::max(const std::vector<double>& values) {
  return reduce_values(*this, *backend_, device_, values, c10d::ReduceOp::MAX);
}

void Group::broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  bucketed(tensors, 25 << 20, /*broadcast=*/true, root);
}

void Group::wait(c10d::Work& work) {
  bool done = false;
  try {
    done = work.wait(std::chrono::duration_cast<std::chrono::milliseconds>(timeout_));
  } catch (const std::exception& e) {
    const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
    throw std::runtime_error("data-parallel " + engine_ + " collective failed or waited more than " +
                             std::to_string(timeout_.count()) + " s for the other processes (KDTEXT_DIST_TIMEOUT): " +
                             (c10_error ? c10_error->what_without_backtrace() : e.what()));
  }
  if (!done) {
    throw std::runtime_error("data-parallel " + engine_ + " collective did not finish within " +
                             std::to_string(timeout_.count()) + " s (KDTEXT_DIST_TIMEOUT)");
  }
}

void Group::barrier() {
  // A one-element sum: every engine serves it (NCCL's barrier needs a device guess).
  sum({0.0});
}

void Group::sum_gradients(const std::vector<torch::Tensor>& params, int64_t bucket_bytes) {
  std::vector<double> has(params.size());
  for (size_t i = 0; i < params.size(); ++i) has[i] = params[i].grad().defined() ? 1.0 : 0.0;
  const auto anywhere = max(has);
  std::vector<torch::Tensor> grads;
  for (size_t i = 0; i < params.size(); ++i) {
    if (anywhere[i] == 0.0) continue;
    const auto& p = params[i];
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  bucketed(grads, bucket_bytes, /*broadcast=*/false, 0);
}

// Flattens consecutive tensors of one dtype into buckets, runs one collective
// per bucket (all issued before the first is waited for), copies back.
void Group::bucketed(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes, bool broadcast, int root) {
  struct Bucket {
    std::vector<torch::Tensor> members;
    torch::Tensor flat;
    c10::intrusive_ptr<c10d::Work> work;
  };
  std::vector<Bucket> buckets;
  int64_t bytes = 0;
  for (const auto& t : tensors) {
    const int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
    if (buckets.empty() || bytes + size > bucket_bytes || buckets.back().members.front().dtype() != t.dtype()) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().members.push_back(t);
    bytes += size;
  }
  for (auto& b : buckets) {
    std::vector<torch::Tensor> flat;
    for (const auto& t : b.members) flat.push_back(t.reshape(-1));
    b.flat = torch::cat(flat);
    std::vector<at::Tensor> one{b.flat};
    if (broadcast) {
      c10d::BroadcastOptions o;
      o.rootRank = root;
      b.work = backend_->broadcast(one, o);
    } else {
      b.work = backend_->allreduce(one);
    }
  }
  for (auto& b : buckets) {
    wait(*b.work);
    int64_t offset = 0;
    for (auto& t : b.members) {
      const int64_t n = t.numel();
      torch::NoGradGuard no_grad;
      t.copy_(b.flat.slice(0, offset, offset + n).view_as(t));
      offset += n;
    }
  }
}

std::chrono::seconds timeout_from_environment() {
  const char* v = std::getenv("KDTEXT_DIST_TIMEOUT");
  if (v == nullptr || *v == '\0') return std::chrono::seconds(1800);
  const std::string s(v);
  if (s.size() > 7 || s.find_first_not_of("0123456789") != std::string::npos || std::stoi(s) < 1) {
    throw ConfigError("environment variable KDTEXT_DIST_TIMEOUT='" + s + "': expected seconds (a whole number >= 1)");
  }
  return std::chrono::seconds(std::stoi(s));
}

namespace {
std::shared_ptr<Group>& current_group() {
  static std::shared_ptr<Group> group;
  return group;
}
}  // namespace

Group* process_group() { return current_group().get(); }
void set_process_group(std::shared_ptr<Group> group) { current_group() = std::move(group); }

void Group::abort(int code) {
  if (engine_ == "mpi" && library_ != nullptr) {
    if (auto f = reinterpret_cast<AbortEngine>(dlsym(library_, kAbortEngineSymbol))) f(code);
  }
  if (backend_) backend_->abort();
  std::_Exit(code);
}

}  // namespace kdtext::parallel
