// The same checks on every device: CPU always, CUDA when a GPU is usable
// (skipped otherwise; scripts/gpu-check.sh runs them on a GPU machine).
// Numerics against float64 on the CPU; checkpoints crossing devices both ways;
// bf16 autocast training; exact resume (CUDA generators included); classify
// and distill on the device.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "e2e/pipeline_fixture.h"
#include "e2e/weight_diff.h"
#include "kdtext/cli/runtime.h"
#include "kdtext/infer/engine.h"
#include "kdtext/io/safetensors.h"
#include "kdtext/model/bert.h"
#include "kdtext/util/json.h"

using namespace kdtext;
using namespace kdtext::testing;
namespace fs = std::filesystem;

namespace {

class OnDevice : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() != "cuda" || cli::cuda_device_count() > 0) return;
    // A driver without a device LibTorch can use is a broken set-up, not a machine without a GPU.
    std::string why;
    if (cli::gpu_driver_present()) {
      FAIL() << "a GPU driver is present but LibTorch sees no CUDA device"
             << (cli::load_cuda_runtime(&why) ? "" : " (its CUDA library: " + why + ")");
    }
    GTEST_SKIP() << "no CUDA GPU on this machine";
  }
  const std::string& device() const { return GetParam(); }
  // " --device D --threads 1 --quiet " for a command line.
  std::string flags() const { return " --device " + device() + " --threads 1 --quiet "; }
};

std::vector<Json> metrics(const fs::path& file, const std::string& event) {
  std::vector<Json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    const Json j = Json::parse(line);
    if (j.value("event", "") == event) out.push_back(j);
  }
  return out;
}

std::string classify(const fs::path& ckpt, const std::string& device, const fs::path& out) {
  const auto r = run_command(bin("kdtext-classify") + " -m " + quote(ckpt.string()) + " " +
                             quote((source_dir() / "data" / "task" / "dev.tsv").string()) +
                             " --all-probs --max-len 48 --device " + device + " --threads 1 --quiet -o " +
                             quote(out.string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return read_file(out);
}

// Column 1 (the label) of every line but the header.
std::vector<std::string> labels_of(const std::string& tsv) {
  std::vector<std::string> out;
  std::istringstream in(tsv);
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) out.push_back(line.substr(0, line.find('\t')));
  return out;
}

// A 2-layer x 32 classifier config with 3 labels.
model::BertConfig small_config() {
  model::BertConfig c;
  c.vocab_size = 120;
  c.hidden_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.intermediate_size = 64;
  c.max_position_embeddings = 64;
  c.labels = {"a", "b", "c"};
  return c;
}

}  // namespace

TEST_P(OnDevice, EncoderForwardMatchesFloat64OnTheCpu) {
  const auto c = small_config();
  torch::manual_seed(3);
  model::Bert m(c, model::Heads::kClassifier);
  model::init_weights(*m, c);
  torch::manual_seed(3);
  model::Bert ref(c, model::Heads::kClassifier);
  model::init_weights(*ref, c);
  ref->to(torch::kDouble);
  m->eval();
  ref->eval();
  m->to(torch::Device(device()));
  const auto ids = torch::randint(5, c.vocab_size, {3, 20}, torch::kLong);
  auto mask = torch::ones({3, 20}, torch::kLong);
  mask.index_put_({1, torch::indexing::Slice(12)}, 0);  // padding in one row
  torch::NoGradGuard no_grad;
  const auto out = m->encode(ids.to(m->bert->embeddings->word_embeddings->weight.device()),
                             mask.to(m->bert->embeddings->word_embeddings->weight.device()));
  const auto expect = ref->encode(ids, mask);
  EXPECT_EQ(out.last_hidden.device().type(), torch::Device(device()).type());
  const auto hidden_err = (out.last_hidden.cpu().to(torch::kDouble) - expect.last_hidden).abs().max().item<double>();
  const auto logits_err =
      (m->classify(out.pooled).cpu().to(torch::kDouble) - ref->classify(expect.pooled)).abs().max().item<double>();
  EXPECT_LE(hidden_err, 1e-4);
  EXPECT_LE(logits_err, 1e-4);
}

// kdtext-classify's engine on the device, fp32 and bf16, against the model in float64 on the CPU.
TEST_P(OnDevice, InferenceEngineMatchesFloat64InEachPrecision) {
  const auto c = small_config();
  torch::manual_seed(5);
  model::Bert m(c, model::Heads::kClassifier);
  m->classifier->weight.detach().mul_(50.0);  // logits of a useful size
  m->eval();
  const auto ids = torch::randint(5, c.vocab_size, {3, 20}, torch::kLong);
  auto mask = torch::ones({3, 20}, torch::kLong);
  mask.index_put_({1, torch::indexing::Slice(12)}, 0);
  torch::NoGradGuard no_grad;
  const infer::Engine fp32(*m, infer::Precision::kFloat32, torch::Device(device()));
  const infer::Engine bf16(*m, infer::Precision::kBFloat16, torch::Device(device()));
  m->to(torch::kDouble);
  const auto want = m->classify(m->encode(ids, mask).pooled);
  const double scale = want.abs().max().item<double>();
  ASSERT_GT(scale, 0.5);
  const auto err = [&](const infer::Engine& e) {
    return (e.logits(ids, mask, {}).to(torch::kDouble) - want).abs().max().item<double>();
  };
  EXPECT_LE(err(fp32), 1e-4);
  EXPECT_LE(err(bf16), 0.05 * scale);
}

TEST_P(OnDevice, Bf16AutocastTrainingLowersTheLossAndItsCheckpointClassifiesTheSameOnTheCpu) {
  auto& p = pipeline();  // pretrained on the CPU: loaded onto the device
  TempDir dir;
  const auto data = source_dir() / "data" / "task";
  auto r = run_command(bin("kdtext-finetune") + " --from " + quote((p.mlm / "final").string()) + " --train " +
                       quote((data / "train.tsv").string()) + " --dev " + quote((data / "dev.tsv").string()) +
                       " -o " + quote((dir / "ft").string()) +
                       " --bf16 --max-steps 60 --batch-size 16 --lr 1e-3 --max-len 48 --log-every 10" + flags());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto train = metrics(dir / "ft" / "metrics.jsonl", "train");
  ASSERT_GE(train.size(), 3u);
  EXPECT_LT(train.back()["loss"].get<double>(), 0.8 * train.front()["loss"].get<double>());
  // The device's checkpoint classified on the device and on the CPU (fp32 both): the same labels.
  const auto on_device = classify(dir / "ft" / "best", device(), dir / "device.tsv");
  const auto on_cpu = classify(dir / "ft" / "best", "cpu", dir / "cpu.tsv");
  ASSERT_FALSE(on_cpu.empty());
  EXPECT_EQ(labels_of(on_device), labels_of(on_cpu));
  if (device() == "cpu") EXPECT_EQ(on_device, on_cpu);
}

TEST_P(OnDevice, StopAndResumeEqualsAStraightRun) {
  auto& p = pipeline();
  TempDir dir;
  // Pretraining draws masks and dropout: a resume must restore every generator the device uses.
  const auto pretrain = [&](const fs::path& out, const std::string& extra) {
    return run_command(bin("kdtext-pretrain") + " " + quote(p.prep.string()) + " -o " + quote(out.string()) +
                       " --model bert-tiny --max-len 32 --batch-size 8 --lr 3e-3 --max-steps 24" + flags() + extra);
  };
  auto r = pretrain(dir / "straight", "");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = pretrain(dir / "split", "--stop-at-step 11");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  fs::copy(dir / "split", dir / "split-on-cpu", fs::copy_options::recursive);
  r = pretrain(dir / "split", "--resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto a = dir / "straight" / "final" / "model.safetensors", b = dir / "split" / "final" / "model.safetensors";
  if (device() == "cpu") {
    EXPECT_EQ(read_file(a), read_file(b));  // bitwise
  } else {
    // CUDA kernels with atomics (embedding backward) are not bitwise deterministic; a
    // generator not restored would change the dropout masks, a far larger difference.
    EXPECT_LE(max_weight_difference(a, b), 1e-4);
  }
  // The training state written on the device resumes on the CPU too.
  r = run_command(bin("kdtext-pretrain") + " " + quote(p.prep.string()) + " -o " +
                  quote((dir / "split-on-cpu").string()) +
                  " --model bert-tiny --max-len 32 --batch-size 8 --lr 3e-3 --max-steps 24 --resume --device cpu "
                  "--threads 1 --quiet");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(dir / "split-on-cpu" / "final" / "model.safetensors"));
}

TEST_P(OnDevice, DistillationStepsRunAndTheStudentLoadsOnTheCpu) {
  TempDir dir;
  auto r = build_small_student(dir / "init");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_command(distill_command(dir / "init", source_dir() / "data" / "task" / "train.tsv", dir / "student") +
                  "--max-steps 6 --batch-size 16 --max-len 48 --log-every 2" + flags());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto train = metrics(dir / "student" / "metrics.jsonl", "train");
  ASSERT_FALSE(train.empty());
  for (const auto& t : train) EXPECT_TRUE(std::isfinite(t["loss"].get<double>())) << t.dump();
  EXPECT_EQ(labels_of(classify(dir / "student" / "best", device(), dir / "device.tsv")),
            labels_of(classify(dir / "student" / "best", "cpu", dir / "cpu.tsv")));
}

INSTANTIATE_TEST_SUITE_P(Devices, OnDevice, ::testing::Values("cpu", "cuda"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });
