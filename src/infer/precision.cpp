#include "kdtext/infer/precision.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "kdtext/error.h"
#include "kdtext/util/atomic.h"
#include "kdtext/util/hash.h"
#include "kdtext/util/log.h"

namespace kdtext::infer {

namespace fs = std::filesystem;

Precision parse_precision(const std::string& name, const std::string& key, bool allow_auto) {
  if (name == "fp32") return Precision::kFloat32;
  if (name == "bf16") return Precision::kBFloat16;
  if (name == "int8") return Precision::kInt8;
  if (name == "auto" && allow_auto) return Precision::kAuto;
  throw ConfigError(key + " must be fp32, bf16, int8" + (allow_auto ? std::string(" or auto") : std::string()) +
                    ", got '" + name + "'");
}

std::string precision_name(Precision p) {
  switch (p) {
    case Precision::kBFloat16: return "bf16";
    case Precision::kInt8: return "int8";
    case Precision::kAuto: return "auto";
    default: return "fp32";
  }
}

namespace {
const PrecisionMeasurement* find(const std::vector<PrecisionMeasurement>& m, Precision p) {
  const auto it = std::find_if(m.begin(), m.end(), [&](const auto& x) { return x.precision == p; });
  return it == m.end() ? nullptr : &*it;
}

}  // namespace

std::string describe_measurements(const std::vector<PrecisionMeasurement>& measured) {
  const auto* fp32 = find(measured, Precision::kFloat32);
  const double per = 1000.0;
  std::string s;
  for (const auto& m : measured) {
    if (!s.empty()) s += ", ";
    s += precision_name(m.precision) + " " + log::fixed(m.seconds * per, 2) + " ms";
    if (m.precision != Precision::kFloat32 && fp32 != nullptr && m.seconds > 0) {
      s += " (" + log::fixed(fp32->seconds / m.seconds, 2) + "x, labels " + log::fixed(100 * m.agreement, 1) + "%)";
    }
  }
  return s + " per batch";
}

PrecisionChoice choose_precision(const std::vector<PrecisionMeasurement>& measured) {
  const auto* fp32 = find(measured, Precision::kFloat32);
  if (fp32 == nullptr) throw ConfigError("precision auto: fp32 was not measured");
  for (const auto& m : measured) {
    if (!(m.seconds > 0)) throw ConfigError("precision auto: " + precision_name(m.precision) + " has no positive time");
  }
  const PrecisionMeasurement* best = fp32;
  std::vector<std::string> excluded;
  for (const auto& m : measured) {
    if (m.agreement < kAgreementBound) {
      excluded.push_back(precision_name(m.precision) + " (labels " + log::fixed(100 * m.agreement, 1) + "% as fp32's, under " +
                         log::fixed(100 * kAgreementBound, 0) + "%)");
      continue;
    }
    if (m.seconds < best->seconds) best = &m;
  }
  PrecisionChoice c;
  const double gain = fp32->seconds / best->seconds;
  if (best != fp32 && gain >= kSpeedMargin) {
    c.precision = best->precision;
    c.reason = precision_name(best->precision) + ": " + log::fixed(gain, 2) + "x fp32's speed";
  } else if (best != fp32) {
    c.reason = "fp32: " + precision_name(best->precision) + " is only " + log::fixed(gain, 2) + "x fp32's speed (under " +
               log::fixed(kSpeedMargin, 2) + "x)";
  } else {
    c.reason = "fp32: no other precision is faster";
  }
  for (const auto& e : excluded) c.reason += "; left out " + e;
  return c;
}

std::optional<std::string> precision_warning(Precision requested, const std::vector<PrecisionMeasurement>& measured) {
  const auto* fp32 = find(measured, Precision::kFloat32);
  const auto* mine = find(measured, requested);
  if (requested == Precision::kFloat32 || fp32 == nullptr || mine == nullptr || !(mine->seconds > 0)) return std::nullopt;
  const double ratio = fp32->seconds / mine->seconds;
  if (ratio * kSpeedMargin >= 1.0) return std::nullopt;
  return "--precision " + precision_name(requested) + " runs at " + log::fixed(ratio, 2) +
         "x fp32's speed on this machine (measured at load); fp32 or --precision auto would be faster";
}

Json ProbeKey::to_json() const {
  return Json{{"model", model},         {"cpu", cpu},       {"device", device},
              {"threads", threads},     {"batch_size", batch_size}, {"tokens", tokens},
              {"candidates", candidates}, {"labels_on", labels_on}, {"libtorch", libtorch}, {"kdtext", kdtext}};
}

std::string model_identity(const fs::path& dir) {
  Fnv1a64 h;
  for (const char* name : {"config.json", "kdtext.json"}) {
    std::ifstream in(dir / name, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    h.add(name);
    h.add(text.str());
  }
  for (const char* name : {"model.safetensors", "pytorch_model.bin"}) {
    std::error_code ec;
    const auto size = fs::file_size(dir / name, ec);
    h.add(std::string(name) + "=" + (ec ? std::string("-") : std::to_string(size)));
  }
  return h.hex();
}

fs::path probe_cache_file(const fs::path& dir, const ProbeKey& key) {
  Fnv1a64 h;
  h.add(key.to_json().dump());
  auto name = h.hex();
  name.replace(0, name.find(':') + 1, "");
  return dir / (name + ".json");
}

std::optional<std::vector<PrecisionMeasurement>> read_probe_cache(const fs::path& file, const ProbeKey& key) {
  // kdtext's own place: a link, FIFO or device there is not followed or opened (write_cache_file replaces it).
  const auto bytes = read_cache_file(file, 1 << 20);
  if (!bytes) return std::nullopt;
  try {
    const auto j = Json::parse(*bytes);
    if (j.at("key") != key.to_json()) return std::nullopt;
    std::vector<PrecisionMeasurement> out;
    for (const auto& m : j.at("measured")) {
      PrecisionMeasurement x;
      x.precision = parse_precision(m.at("precision").get<std::string>(), file.string(), false);
      x.seconds = m.at("seconds").get<double>();
      x.agreement = m.at("agreement").get<double>();
      if (!(x.seconds > 0) || x.agreement < 0 || x.agreement > 1) throw ConfigError("a measurement out of range");
      const auto& offered = key.candidates;  // the precisions this model offers: any other is not a measurement of it
      if (std::find(offered.begin(), offered.end(), precision_name(x.precision)) == offered.end()) {
        throw ConfigError(precision_name(x.precision) + " is not offered by this model");
      }
      out.push_back(x);
    }
    if (find(out, Precision::kFloat32) == nullptr) throw ConfigError("no fp32 measurement");
    return out;
  } catch (const std::exception& e) {
    log::info(file.string(), ": unreadable precision measurement (", e.what(), "); measuring again");
    return std::nullopt;
  }
}

void write_probe_cache(const fs::path& file, const ProbeKey& key, const std::vector<PrecisionMeasurement>& measured) {
  Json j{{"key", key.to_json()}, {"measured", Json::array()}};
  for (const auto& m : measured) {
    j["measured"].push_back({{"precision", precision_name(m.precision)}, {"seconds", m.seconds}, {"agreement", m.agreement}});
  }
  try {
    fs::create_directories(file.parent_path());
    write_cache_file(file, j.dump(1) + "\n");
  } catch (const std::exception& e) {
    log::warn("could not cache the precision measurement at ", file.string(), ": ", e.what());
  }
}

}  // namespace kdtext::infer
