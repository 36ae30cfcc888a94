// Whole-file reads with the project's error convention.
#pragma once

#include <filesystem>
#include <string>

namespace kdtext {

// The bytes of `path`. Throws InputError "<path>: cannot open <what> for reading".
std::string read_file(const std::filesystem::path& path, const std::string& what = "file");

}  // namespace kdtext

namespace kdtext {

// A fingerprint of the content of a file, or of every regular file under a
// directory (relative names included, in name order):
// "fnv1a64:<16 hex>:<bytes hashed>" (util/hash.h). Read in 1 MB chunks, so
// size does not matter. For telling whether the data a run trained on changed.
std::string content_fingerprint(const std::filesystem::path& path);

}  // namespace kdtext
