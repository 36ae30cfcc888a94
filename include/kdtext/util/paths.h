// Where kdtext finds the files it ships (presets): relative to the running
// executable, never the current directory.
#pragma once

#include <filesystem>
#include <string>

namespace kdtext {

// The running executable (/proc/self/exe); empty if it cannot be read.
std::filesystem::path executable_path();

// The presets directory: $KDTEXT_CONFIG_DIR when set, otherwise
// <dir of the executable>/../share/kdtext/configs. An installed prefix has it
// there, and the build tree links build/share/kdtext/configs to the sources'
// configs/, so build/bin/kdtext-* find it the same way.
std::filesystem::path presets_directory();

// kdtext's cache: $KDTEXT_CACHE when set, otherwise ~/.cache/kdtext (general
// distillations in general/, measured precisions in precision/).
std::filesystem::path cache_root();

}  // namespace kdtext
