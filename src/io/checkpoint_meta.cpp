#include "kdtext/io/checkpoint_meta.h"

#include "kdtext/error.h"

namespace kdtext::io {

CheckpointMeta parse_checkpoint_meta(const Json& meta, const std::string& origin) {
  CheckpointMeta out;
  if (!meta.is_object()) throw InputError(origin + ": not a JSON object");
  try {
    JsonFields f(meta, "");
    f.get("format_version", out.format_version);
    f.get("heads", out.heads);
  } catch (const ConfigError& e) {
    throw InputError(origin + ": " + e.what());
  }
  if (out.format_version > kCheckpointFormatVersion) {
    throw InputError(origin + ": checkpoint format version " + std::to_string(out.format_version) +
                     " was written by a newer kdtext (this one reads up to " +
                     std::to_string(kCheckpointFormatVersion) + "); upgrade kdtext to use it");
  }
  if (out.format_version < 1) throw InputError(origin + ": missing or invalid format_version");
  bool known = false;
  for (const char* h : kCheckpointHeads) known = known || out.heads == h;
  if (!known) throw InputError(origin + ": unknown heads '" + out.heads + "'");
  if (auto t = meta.find("tokenizer"); t != meta.end()) {
    if (!t->is_object()) throw InputError(origin + ": tokenizer must be an object");
    if (auto fp = t->find("fingerprint"); fp != t->end()) {
      if (!fp->is_string()) throw InputError(origin + ": tokenizer.fingerprint must be a string");
      out.tokenizer_fingerprint = fp->get<std::string>();
    }
  }
  return out;
}

}  // namespace kdtext::io
