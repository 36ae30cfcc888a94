// Whole-file reads with the project's error convention.
#pragma once

#include <filesystem>
#include <string>

namespace kdtext {

// The bytes of `path`. Throws InputError "<path>: cannot open <what> for reading".
std::string read_file(const std::filesystem::path& path, const std::string& what = "file");

}  // namespace kdtext
