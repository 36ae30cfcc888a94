// kdtext.json, the checkpoint's own record (see io/checkpoint.h): the
// torch-free part of reading a checkpoint, fuzzed by tests/fuzz/json_configs.cpp.
#pragma once
#include <string>

#include "kdtext/util/json.h"

namespace kdtext::io {

inline constexpr int kCheckpointFormatVersion = 1;
inline constexpr const char* kCheckpointMetaFile = "kdtext.json";
inline constexpr const char* kCheckpointHeads[] = {"none", "masked_lm", "classifier"};

struct CheckpointMeta {
  int format_version = 0;
  std::string heads = "none";          // one of kCheckpointHeads
  std::string tokenizer_fingerprint;   // "" when not recorded
};

// Validates the fields kdtext reads from kdtext.json: a format version this
// kdtext reads, known heads, a string fingerprint. Throws InputError naming
// `origin` and the key.
CheckpointMeta parse_checkpoint_meta(const Json& meta, const std::string& origin);

}  // namespace kdtext::io
