// A test tool: connects to the rendezvous of the run it was launched in (as a
// CUDA run of kdtext does, parallel::connect_store) and checks every process got
// there: each sets its key, then reads every other's. Prints one line; exit 0.
// Lets CI check the rendezvous under torchrun (its agent's store) and with
// plain variables (rank 0 serves) on machines without a GPU.
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <iostream>

#include "kdtext/parallel/group.h"
#include "kdtext/parallel/world.h"
#include "kdtext/error.h"

int main() {
  using namespace kdtext;
  try {
    const auto world = parallel::detect_world();
    auto store = parallel::connect_store(world, std::chrono::seconds(60));
    const auto key = [](int r) { return "probe/rank-" + std::to_string(r); };
    const std::string mine = "hello from " + std::to_string(world.rank);
    store->set(key(world.rank), std::vector<uint8_t>(mine.begin(), mine.end()));
    for (int r = 0; r < world.size; ++r) {
      const auto v = store->get(key(r));  // waits for the key
      if (std::string(v.begin(), v.end()) != "hello from " + std::to_string(r)) {
        std::cerr << "rank " << world.rank << ": wrong value from rank " << r << "\n";
        return 1;
      }
    }
    store->add("probe/done", 1);
    while (store->add("probe/done", 0) < world.size) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    std::cout << "rendezvous ok: " << parallel::describe(world) << (world.agent_store ? ", agent store" : "")
              << ", saw " << world.size << " processes\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "rendezvous_probe: " << e.what() << "\n";
    return 1;
  }
}
