#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <random>

#include "kdtext/io/safetensors.h"
#include "kdtext/train/trainer.h"
#include "kdtext/error.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::train;
using kdtext::testing::TempDir;

TEST(Schedule, LinearCosineConstantWithWarmup) {
  TrainerOptions o;
  o.max_steps = 110;
  o.warmup_steps = 10;
  o.schedule = Schedule::kLinear;
  EXPECT_DOUBLE_EQ(lr_factor(o, 1), 0.1);
  EXPECT_DOUBLE_EQ(lr_factor(o, 10), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor(o, 11), 1.0);   // first decay step at the peak
  EXPECT_DOUBLE_EQ(lr_factor(o, 61), 0.5);
  EXPECT_NEAR(lr_factor(o, 110), 0.01, 1e-12);  // the last step still learns
  o.schedule = Schedule::kCosine;
  EXPECT_NEAR(lr_factor(o, 61), 0.5, 1e-12);
  EXPECT_NEAR(lr_factor(o, 36), 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-12);
  o.max_steps = 1;
  o.warmup_steps = 0;
  o.schedule = Schedule::kLinear;
  EXPECT_DOUBLE_EQ(lr_factor(o, 1), 1.0);  // a one-step run is not a no-op
  o.schedule = Schedule::kConstant;
  EXPECT_DOUBLE_EQ(lr_factor(o, 100), 1.0);
  o.max_steps = 110;
  o.warmup_steps = -1;
  o.warmup_ratio = 0.1;
  EXPECT_EQ(warmup_steps(o), 11);
}

TEST(Schedule, WallClockBudgetMovesTheScheduleAlong) {
  TrainerOptions o;
  o.max_steps = 1000;
  EXPECT_EQ(schedule_step(o, 7, 1e6), 7);  // no budget: steps alone
  o.max_minutes = 10;
  EXPECT_EQ(schedule_step(o, 7, 0.0), 7);
  EXPECT_EQ(schedule_step(o, 7, 60.0), 100);     // a tenth of the time: a tenth of the steps
  EXPECT_EQ(schedule_step(o, 400, 60.0), 400);   // steps further along than time
  EXPECT_EQ(schedule_step(o, 7, 1200.0), 1000);  // past the budget: the end of the schedule
  o.warmup_steps = -1;
  o.warmup_ratio = 0.1;
  o.schedule = Schedule::kLinear;
  // Half the budget spent after 50 steps: the rate is half-way down the decay.
  EXPECT_NEAR(lr_factor(o, schedule_step(o, 50, 300.0)), 1.0 - (500.0 - 100 - 1) / 900.0, 1e-12);
}

namespace {

// A tiny regression task: fit y = x·w* with a Linear layer; the eval metric
// can be scripted to test early stopping, and the loss can be poisoned.
struct Regression : torch::nn::Module {
  Regression() { linear = register_module("linear", torch::nn::Linear(4, 1)); }
  torch::nn::Linear linear{nullptr};
};

class RegressionTask : public TrainingTask {
 public:
  RegressionTask() : model_(std::make_shared<Regression>()), gen_(7) {}
  std::string stage() const override { return "test"; }
  torch::nn::Module& module() override { return *model_; }
  StepOutput forward_step() override {
    ++calls_;
    std::mt19937_64 rng(gen_ + calls_);  // data depends only on position: resumable
    std::normal_distribution<float> n;
    auto x = torch::empty({8, 4});
    for (int64_t i = 0; i < 32; ++i) x.view({-1})[i] = n(rng);
    auto y = x.matmul(torch::tensor({1.f, -2.f, 0.5f, 3.f}).view({4, 1}));
    StepOutput out;
    out.loss = torch::mse_loss(model_->linear(x), y);
    if (poison_at_ > 0 && calls_ == poison_at_) out.loss = out.loss * std::nan("");
    out.tokens = 8;
    return out;
  }
  EvalResult evaluate() override {
    ++evals_;
    double metric = scripted_.empty() ? 0.0 : scripted_.at(std::min(evals_ - 1, scripted_.size() - 1));
    return {{{"metric", metric}}};
  }
  std::string selection_metric() const override { return "metric"; }
  bool higher_is_better() const override { return true; }
  Json data_state() const override { return Json{{"calls", calls_}}; }
  void restore_data_state(const Json& s) override { calls_ = s.at("calls").get<int64_t>(); }
  void write_model(const std::filesystem::path& dir, const Json&) override {
    std::vector<std::pair<std::string, torch::Tensor>> named;
    for (auto& p : model_->named_parameters()) named.emplace_back(p.key(), p.value());
    io::save_safetensors(dir / "model.safetensors", named);
  }
  std::shared_ptr<Regression> model_;
  uint64_t gen_;
  int64_t calls_ = 0;
  int64_t poison_at_ = 0;
  size_t evals_ = 0;
  std::vector<double> scripted_;
};

TrainerOptions quiet_options(int64_t steps) {
  TrainerOptions o;
  o.max_steps = steps;
  o.lr = 0.05;
  o.warmup_steps = 2;
  o.log_every = 1000;
  o.weight_decay = 0.0;
  return o;
}

}  // namespace

TEST(Trainer, LearnsAndWritesBestFinalAndCheckpoints) {
  TempDir dir;
  RegressionTask task;
  Trainer t(quiet_options(200), dir.path(), torch::kCPU, 1);
  const auto r = t.run(task);
  EXPECT_EQ(r.steps, 200);
  EXPECT_LT(r.final_loss, 0.01);
  EXPECT_TRUE(std::filesystem::exists(dir / "final" / "model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(dir / "best" / "model.safetensors"));
  EXPECT_EQ(Trainer::latest_checkpoint(dir.path())->filename(), "step-00000200");
}

TEST(Trainer, ResumeIsBitwiseIdenticalToAStraightRun) {
  TempDir dir;
  auto opts = quiet_options(40);
  opts.grad_accum = 2;
  {
    torch::manual_seed(0);
    RegressionTask straight;
    Trainer(opts, dir / "straight", torch::kCPU, 1).run(straight);
  }
  {
    torch::manual_seed(0);
    RegressionTask first;
    auto split = opts;
    split.stop_at_step = 17;
    Trainer(split, dir / "split", torch::kCPU, 1).run(first);
    EXPECT_EQ(Trainer::latest_checkpoint(dir / "split")->filename(), "step-00000017");
    RegressionTask second;  // fresh weights: must come from the checkpoint
    Trainer(opts, dir / "split", torch::kCPU, 1).run(second, Trainer::latest_checkpoint(dir / "split"));
  }
  const auto a = io::load_safetensors(dir / "straight" / "final" / "model.safetensors").tensors;
  const auto b = io::load_safetensors(dir / "split" / "final" / "model.safetensors").tensors;
  for (const auto& [k, v] : a) EXPECT_TRUE(torch::equal(v, b.at(k))) << k;
}

TEST(Trainer, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint) {
  TempDir dir;
  RegressionTask task;
  task.poison_at_ = 25;
  auto o = quiet_options(50);
  o.save_every = 10;
  try {
    Trainer(o, dir.path(), torch::kCPU, 1).run(task);
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("non-finite loss"), std::string::npos) << msg;
    EXPECT_NE(msg.find("step-00000020"), std::string::npos) << msg;
  }
  EXPECT_EQ(Trainer::latest_checkpoint(dir.path())->filename(), "step-00000020");
  EXPECT_FALSE(std::filesystem::exists(dir / "final"));
}

TEST(Trainer, EarlyStoppingAfterPatienceEvaluations) {
  TempDir dir;
  RegressionTask task;
  task.scripted_ = {0.5, 0.7, 0.6, 0.65, 0.69, 0.9};
  auto o = quiet_options(100);
  o.eval_every = 5;
  o.early_stopping_patience = 3;
  const auto r = Trainer(o, dir.path(), torch::kCPU, 1).run(task);
  EXPECT_TRUE(r.early_stopped);
  EXPECT_EQ(r.steps, 25);  // best at eval 2 (step 10); evals 3-5 do not improve
  EXPECT_DOUBLE_EQ(*r.best_metric, 0.7);
}

TEST(Trainer, SignalSavesAResumableCheckpointAndThrowsInterrupted) {
  TempDir dir;
  RegressionTask task;
  struct StopTask : RegressionTask {
    StepOutput forward_step() override {
      if (calls_ == 12) Trainer::request_stop(SIGTERM);
      return RegressionTask::forward_step();
    }
  } stopping;
  try {
    Trainer(quiet_options(50), dir.path(), torch::kCPU, 1).run(stopping);
    FAIL();
  } catch (const Interrupted& e) {
    EXPECT_EQ(e.signal(), SIGTERM);
  }
  const auto ck = Trainer::latest_checkpoint(dir.path());
  ASSERT_TRUE(ck);
  EXPECT_EQ(ck->filename(), "step-00000013");
  RegressionTask resumed;
  const auto r = Trainer(quiet_options(50), dir.path(), torch::kCPU, 1).run(resumed, ck);
  EXPECT_EQ(r.steps, 50);
}
