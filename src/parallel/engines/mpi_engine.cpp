// kdtext's CPU engine: MPI (Open MPI from the system) behind a c10d::Backend.
// One thread of its own initialises MPI, runs every collective in the order
// they were issued and finalises MPI (MPI_THREAD_FUNNELED), so the callers'
// threads never enter MPI and a collective can overlap other work.
#include <mpi.h>

#include <ATen/core/ivalue.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "engine.h"

namespace kdtext::parallel {
namespace {

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw std::runtime_error(std::string("MPI: ") + what + " failed: " + std::string(text, static_cast<size_t>(len)));
}

MPI_Datatype mpi_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kFloat: return MPI_FLOAT;
    case at::kDouble: return MPI_DOUBLE;
    case at::kLong: return MPI_INT64_T;
    case at::kInt: return MPI_INT32_T;
    case at::kByte: return MPI_UINT8_T;
    case at::kChar: return MPI_INT8_T;
    default: throw std::runtime_error(std::string("MPI engine: unsupported dtype ") + c10::toString(t.scalar_type()));
  }
}

MPI_Op mpi_op(const c10d::ReduceOp& op) {
  switch (op.op_) {
    case c10d::ReduceOp::SUM: return MPI_SUM;
    case c10d::ReduceOp::MAX: return MPI_MAX;
    case c10d::ReduceOp::MIN: return MPI_MIN;
    case c10d::ReduceOp::PRODUCT: return MPI_PROD;
    default: throw std::runtime_error("MPI engine: unsupported reduce op");
  }
}

void check_tensors(const std::vector<at::Tensor>& tensors) {
  if (tensors.size() != 1) throw std::runtime_error("MPI engine: one tensor per collective");
  const auto& t = tensors[0];
  if (!t.device().is_cpu() || !t.is_contiguous()) {
    throw std::runtime_error("MPI engine: tensors must be contiguous and on the CPU");
  }
}

class MpiWork final : public c10d::Work {
 public:
  MpiWork(c10d::OpType type, std::vector<at::Tensor> outputs)
      : Work(-1, type), outputs_(std::move(outputs)),
        future_(c10::make_intrusive<c10::ivalue::Future>(c10::ListType::create(c10::TensorType::get()))) {}

  void complete(std::exception_ptr error) {
    if (error) {
      future_->setError(error);
    } else {
      future_->markCompleted(c10::IValue(outputs_));
    }
    finish(error);
  }
  std::vector<at::Tensor> result() override { return outputs_; }
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override { return future_; }

 private:
  std::vector<at::Tensor> outputs_;
  c10::intrusive_ptr<c10::ivalue::Future> future_;
};

class MpiEngine final : public c10d::Backend {
 public:
  MpiEngine(int rank, int size) : Backend(rank, size) {}

  // Starts the MPI thread and checks the world MPI sees against the launcher's.
  void start(int expected_rank, int expected_size) {
    std::promise<std::pair<int, int>> ready;
    auto seen = ready.get_future();
    worker_ = std::thread([this, &ready] { run(ready); });
    const auto [rank, size] = seen.get();  // rethrows an MPI_Init failure
    if (rank != expected_rank || size != expected_size) {
      throw std::runtime_error("MPI sees rank " + std::to_string(rank) + " of " + std::to_string(size) +
                               " but the launcher's variables say rank " + std::to_string(expected_rank) + " of " +
                               std::to_string(expected_size) + " (CPU runs start under mpirun or srun --mpi=pmix)");
    }
  }

  ~MpiEngine() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    if (worker_.joinable()) worker_.join();
  }

  const std::string getBackendName() const override { return "kdtext-mpi"; }

  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& tensors,
                                           const c10d::AllreduceOptions& opts) override {
    check_tensors(tensors);
    const MPI_Op op = mpi_op(opts.reduceOp);
    auto t = tensors[0];
    return enqueue(c10d::OpType::ALLREDUCE, tensors, [t, op] {
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), op,
                              MPI_COMM_WORLD),
                "MPI_Allreduce");
    });
  }

  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& tensors,
                                           const c10d::BroadcastOptions& opts) override {
    check_tensors(tensors);
    auto t = tensors[0];
    const int root = static_cast<int>(opts.rootRank);
    return enqueue(c10d::OpType::BROADCAST, tensors, [t, root] {
      check_mpi(MPI_Bcast(t.data_ptr(), static_cast<int>(t.numel()), mpi_type(t), root, MPI_COMM_WORLD),
                "MPI_Bcast");
    });
  }

  c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions&) override {
    return enqueue(c10d::OpType::BARRIER, {}, [] { check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); });
  }

 private:
  struct Job {
    std::function<void()> body;
    c10::intrusive_ptr<MpiWork> work;
  };

  c10::intrusive_ptr<c10d::Work> enqueue(c10d::OpType type, std::vector<at::Tensor> tensors,
                                         std::function<void()> body) {
    for (const auto& t : tensors) {
      if (t.numel() > std::numeric_limits<int>::max()) throw std::runtime_error("MPI engine: tensor too large");
    }
    auto work = c10::make_intrusive<MpiWork>(type, std::move(tensors));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back({std::move(body), work});
    }
    cv_.notify_all();
    return work;
  }

  void run(std::promise<std::pair<int, int>>& ready) {
    try {
      int provided = 0;
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
      int rank = 0, size = 0;
      MPI_Comm_rank(MPI_COMM_WORLD, &rank);
      MPI_Comm_size(MPI_COMM_WORLD, &size);
      ready.set_value({rank, size});
    } catch (...) {
      ready.set_exception(std::current_exception());
      return;
    }
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) break;  // stopping, nothing left
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      std::exception_ptr error;
      try {
        job.body();
      } catch (...) {
        error = std::current_exception();
      }
      job.work->complete(error);
    }
    MPI_Finalize();
  }

  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
};

}  // namespace
}  // namespace kdtext::parallel

extern "C" __attribute__((visibility("default"))) c10::intrusive_ptr<c10d::Backend> kdtext_make_engine_v1(
    const kdtext::parallel::EngineRequest& request) {
  auto engine = c10::make_intrusive<kdtext::parallel::MpiEngine>(request.rank, request.size);
  engine->start(request.rank, request.size);
  return engine;
}

extern "C" __attribute__((visibility("default"))) void kdtext_abort_engine_v1(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}
