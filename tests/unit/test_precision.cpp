// --precision auto's rule, its warning and its cache (infer/precision.h), with
// injected timings; the CPU facts they are keyed by (util/cpu.h).
#include <gtest/gtest.h>

#include <random>

#include "kdtext/error.h"
#include "kdtext/infer/precision.h"
#include "kdtext/util/cpu.h"
#include "test_util.h"

using namespace kdtext;
using namespace kdtext::infer;

namespace precision_test {

PrecisionMeasurement m(Precision p, double seconds, double agreement = 1.0) { return {p, seconds, agreement}; }

ProbeKey key() {
  ProbeKey k;
  k.model = "fnv1a64:0123456789abcdef";
  k.cpu = "Intel Xeon (avx512f avx512_bf16)";
  k.device = "cpu";
  k.threads = 2;
  k.batch_size = 32;
  k.tokens = 64;
  k.candidates = {"fp32", "bf16", "int8"};
  k.libtorch = "2.11.0";
  k.kdtext = "0.1.0";
  return k;
}

TEST(PrecisionChoice, PicksTheFastestWhoseLabelsKeepTheBound) {
  // AMD-like: bf16 2x, int8 2.8x faster, both keep the labels.
  auto c = choose_precision({m(Precision::kFloat32, 0.50), m(Precision::kBFloat16, 0.25), m(Precision::kInt8, 0.18)});
  EXPECT_EQ(c.precision, Precision::kInt8);
  EXPECT_NE(c.reason.find("2.78x"), std::string::npos) << c.reason;
  // int8 flips 1.2% of the labels: left out, and the reason says so; bf16 wins.
  c = choose_precision({m(Precision::kFloat32, 0.50), m(Precision::kBFloat16, 0.25), m(Precision::kInt8, 0.18, 0.988)});
  EXPECT_EQ(c.precision, Precision::kBFloat16);
  EXPECT_NE(c.reason.find("left out int8 (labels 98.8%"), std::string::npos) << c.reason;
  // Exactly at the bound is kept.
  c = choose_precision({m(Precision::kFloat32, 0.50), m(Precision::kInt8, 0.18, kAgreementBound)});
  EXPECT_EQ(c.precision, Precision::kInt8);
}

TEST(PrecisionChoice, KeepsFp32WhenNothingIsClearlyFaster) {
  // Xeon-like: bf16 0.6x fp32, int8 filtered out: fp32.
  auto c = choose_precision({m(Precision::kFloat32, 0.30), m(Precision::kBFloat16, 0.50), m(Precision::kInt8, 0.1, 0.5)});
  EXPECT_EQ(c.precision, Precision::kFloat32);
  // 2% faster is within the margin of a short measurement: fp32, saying why.
  c = choose_precision({m(Precision::kFloat32, 0.102), m(Precision::kBFloat16, 0.100)});
  EXPECT_EQ(c.precision, Precision::kFloat32);
  EXPECT_NE(c.reason.find("only 1.02x"), std::string::npos) << c.reason;
  // fp32 alone (a bilstm, or a GPU without bf16 gains).
  EXPECT_EQ(choose_precision({m(Precision::kFloat32, 0.1)}).precision, Precision::kFloat32);
}

TEST(PrecisionChoice, IsNeverSlowerThanFp32AndNeverBreaksTheBound) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> time(0.01, 1.0), agree(0.97, 1.0);
  for (int trial = 0; trial < 500; ++trial) {
    const std::vector<PrecisionMeasurement> ms = {m(Precision::kFloat32, time(rng)),
                                                  m(Precision::kBFloat16, time(rng), agree(rng)),
                                                  m(Precision::kInt8, time(rng), agree(rng))};
    const auto c = choose_precision(ms);
    const auto& chosen = *std::find_if(ms.begin(), ms.end(), [&](const auto& x) { return x.precision == c.precision; });
    EXPECT_LE(chosen.seconds, ms[0].seconds);
    EXPECT_GE(chosen.agreement, kAgreementBound);
    for (const auto& x : ms) {  // no admissible precision is more than the margin faster
      if (x.agreement >= kAgreementBound) EXPECT_LE(chosen.seconds, x.seconds * kSpeedMargin + 1e-12);
    }
  }
}

TEST(PrecisionChoice, RefusesMeasurementsWithoutFp32OrATime) {
  EXPECT_THROW(choose_precision({m(Precision::kInt8, 0.1)}), ConfigError);
  EXPECT_THROW(choose_precision({m(Precision::kFloat32, 0.1), m(Precision::kInt8, 0.0)}), ConfigError);
}

TEST(PrecisionWarning, NamesTheMeasuredRatioWhenAnExplicitPrecisionIsSlower) {
  const std::vector<PrecisionMeasurement> xeon = {m(Precision::kFloat32, 0.59), m(Precision::kBFloat16, 1.0),
                                                  m(Precision::kInt8, 0.28)};
  const auto w = precision_warning(Precision::kBFloat16, xeon);
  ASSERT_TRUE(w.has_value());
  EXPECT_NE(w->find("--precision bf16 runs at 0.59x fp32's speed"), std::string::npos) << *w;
  EXPECT_FALSE(precision_warning(Precision::kInt8, xeon).has_value());     // faster
  EXPECT_FALSE(precision_warning(Precision::kFloat32, xeon).has_value());  // the baseline
  EXPECT_FALSE(precision_warning(Precision::kBFloat16, {m(Precision::kFloat32, 1.0), m(Precision::kBFloat16, 1.02)})
                   .has_value());  // within the margin
  EXPECT_FALSE(precision_warning(Precision::kBFloat16, {m(Precision::kFloat32, 1.0)}).has_value());  // not measured
}

TEST(PrecisionCache, OneFilePerKeyAndEveryPartOfTheKeyCounts) {
  const auto dir = std::filesystem::path("/cache");
  const auto base = probe_cache_file(dir, key());
  EXPECT_EQ(base, probe_cache_file(dir, key()));
  EXPECT_EQ(base.parent_path(), dir);
  const std::vector<std::function<void(ProbeKey&)>> changes = {
      [](ProbeKey& k) { k.model = "fnv1a64:1111111111111111"; }, [](ProbeKey& k) { k.cpu = "AMD EPYC (avx512f)"; },
      [](ProbeKey& k) { k.threads = 1; },   [](ProbeKey& k) { k.batch_size = 1; },
      [](ProbeKey& k) { k.tokens = 128; },  [](ProbeKey& k) { k.device = "cuda:0"; },
      [](ProbeKey& k) { k.libtorch = "2.12.0"; }, [](ProbeKey& k) { k.candidates = {"fp32", "int8"}; },
      [](ProbeKey& k) { k.labels_on = "text"; },  [](ProbeKey& k) { k.kdtext = "0.1.0 engine 3"; }};
  for (size_t i = 0; i < changes.size(); ++i) {
    auto k = key();
    changes[i](k);
    EXPECT_NE(probe_cache_file(dir, k), base) << "change " << i;
  }
}

TEST(PrecisionCache, RoundTripsAndDistrustsWhatItCannotRead) {
  kdtext::testing::TempDir tmp;
  const auto file = probe_cache_file(tmp / "precision", key());
  EXPECT_FALSE(read_probe_cache(file, key()).has_value());  // absent
  const std::vector<PrecisionMeasurement> ms = {m(Precision::kFloat32, 0.5), m(Precision::kInt8, 0.2, 0.995)};
  write_probe_cache(file, key(), ms);
  const auto back = read_probe_cache(file, key());
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].precision, Precision::kInt8);
  EXPECT_DOUBLE_EQ((*back)[1].seconds, 0.2);
  EXPECT_DOUBLE_EQ((*back)[1].agreement, 0.995);
  auto other = key();
  other.threads = 4;
  EXPECT_FALSE(read_probe_cache(file, other).has_value());  // another key's file (a collision) is not used
  for (const std::string bad : {"{not json", R"({"key": 1})", R"({"measured": []})"}) {
    kdtext::testing::write_file(file, bad);
    EXPECT_FALSE(read_probe_cache(file, key()).has_value()) << bad;
  }
  Json j = {{"key", key().to_json()}, {"measured", {{{"precision", "fp32"}, {"seconds", -1.0}, {"agreement", 1.0}}}}};
  kdtext::testing::write_file(file, j.dump());
  EXPECT_FALSE(read_probe_cache(file, key()).has_value());  // a negative time
  j["measured"] = {{{"precision", "int8"}, {"seconds", 0.1}, {"agreement", 1.0}}};
  kdtext::testing::write_file(file, j.dump());
  EXPECT_FALSE(read_probe_cache(file, key()).has_value());  // no fp32 to compare with
}

TEST(PrecisionCache, ModelIdentityFollowsTheCheckpointFiles) {
  kdtext::testing::TempDir tmp;
  kdtext::testing::write_file(tmp / "config.json", R"({"hidden_size": 32})");
  kdtext::testing::write_file(tmp / "kdtext.json", R"({"created": "2026-12-07T10:00:00Z"})");
  kdtext::testing::write_file(tmp / "model.safetensors", std::string(100, 'x'));
  const auto a = model_identity(tmp.path());
  EXPECT_EQ(a, model_identity(tmp.path()));
  kdtext::testing::write_file(tmp / "kdtext.json", R"({"created": "2026-12-07T11:00:00Z"})");  // written again
  const auto b = model_identity(tmp.path());
  EXPECT_NE(a, b);
  kdtext::testing::write_file(tmp / "model.safetensors", std::string(101, 'x'));
  EXPECT_NE(b, model_identity(tmp.path()));
}

TEST(PrecisionNames, AutoIsARequestOnlyWhereAllowed) {
  EXPECT_EQ(parse_precision("auto", "k"), Precision::kAuto);
  EXPECT_EQ(precision_name(Precision::kAuto), "auto");
  try {
    parse_precision("auto", "cache.precision", false);
    FAIL() << "auto accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("cache.precision must be fp32, bf16, int8, got 'auto'"), std::string::npos)
        << e.what();
  }
}

TEST(CpuFacts, ModelFlagsAndCoresFromCpuinfo) {
  const std::string x86 =
      "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\n"
      "flags\t\t: fpu sse avx2 fma avx512f avx512bw avx512vl avx512_vnni avx512_bf16 amx_tile\n\n"
      "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz\nflags\t\t: fpu\n";
  const auto c = parse_cpuinfo(x86);
  EXPECT_EQ(c.model, "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz");
  EXPECT_EQ(c.logical_cpus, 2);
  EXPECT_EQ(c.flags, (std::vector<std::string>{"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                                               "avx512_bf16", "amx_tile"}));
  EXPECT_EQ(describe(c), "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz (avx2 fma avx512f avx512bw avx512vl "
                         "avx512_vnni avx512_bf16 amx_tile)");
  const auto none = parse_cpuinfo("garbage without colons\n");
  EXPECT_EQ(none.model, "unknown");
  EXPECT_TRUE(none.flags.empty());
  EXPECT_EQ(parse_cpuinfo("Processor : ARMv8 r1\nFeatures : fp asimd bf16\n").model, "ARMv8 r1");
}

}  // namespace precision_test
