#include "kdtext/util/cpu.h"

#include <algorithm>
#include <fstream>
#include <sstream>

namespace kdtext {

namespace {
std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}
}  // namespace

CpuFacts parse_cpuinfo(std::string_view text) {
  CpuFacts cpu;
  std::vector<std::string> words;
  bool have_flags = false;
  while (!text.empty()) {
    const auto end = text.find('\n');
    const auto line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const auto key = trim(line.substr(0, colon));
    const auto value = trim(line.substr(colon + 1));
    if (key == "processor") ++cpu.logical_cpus;
    if ((key == "model name" || key == "Processor") && cpu.model.empty()) cpu.model = std::string(value);
    if ((key == "flags" || key == "Features") && !have_flags) {
      have_flags = true;
      std::istringstream in{std::string(value)};
      for (std::string w; in >> w;) words.push_back(w);
    }
  }
  if (cpu.model.empty()) cpu.model = "unknown";
  for (const char* flag : kKernelFlags) {
    if (std::find(words.begin(), words.end(), flag) != words.end()) cpu.flags.emplace_back(flag);
  }
  return cpu;
}

const CpuFacts& this_cpu() {
  static const CpuFacts facts = [] {
    std::ifstream in("/proc/cpuinfo");
    std::stringstream text;
    text << in.rdbuf();
    return parse_cpuinfo(text.str());
  }();
  return facts;
}

std::string describe(const CpuFacts& cpu) {
  std::string s = cpu.model + " (";
  for (size_t i = 0; i < cpu.flags.size(); ++i) s += (i ? " " : "") + cpu.flags[i];
  return s + ")";
}

}  // namespace kdtext
