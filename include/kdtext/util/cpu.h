// What CPU this is, as /proc/cpuinfo says: its model name and the flags that
// decide which kernels run fast (AVX-512, VNNI, BF16, AMX). Speed figures
// name it (kdtext-classify --timings, bench/), and measured precisions are
// cached per CPU model (infer/precision.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kdtext {

struct CpuFacts {
  std::string model;               // "model name" of the first processor ("unknown" when absent)
  std::vector<std::string> flags;  // those of kKernelFlags it has, in that order
  int logical_cpus = 0;            // "processor" entries
};

// The flags that matter for inference kernels (others are not kept).
inline constexpr const char* kKernelFlags[] = {"avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
                                               "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8",
                                               "amx_tile"};

// Parses the text of /proc/cpuinfo (x86 "model name"/"flags"; other
// architectures' "Processor"/"CPU part"/"Features" lines are read alike).
CpuFacts parse_cpuinfo(std::string_view text);

// This machine's (read once; "unknown" without /proc/cpuinfo).
const CpuFacts& this_cpu();

// "AMD EPYC 9R14 (avx2 fma avx512f ... amx_int8)" for logs and tables.
std::string describe(const CpuFacts& cpu);

}  // namespace kdtext
