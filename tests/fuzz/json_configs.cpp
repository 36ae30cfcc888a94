// The JSON files of a checkpoint and a shard directory, chosen by the first
// byte: kdtext.json, config.json (Hugging Face keys; must round-trip through
// to_json), the kdtext tokenizer.json options, a Hugging Face
// tokenizer_config.json, and a shard index.json.
#include "fuzz_common.h"
#include "kdtext/io/checkpoint_meta.h"
#include "kdtext/model/config.h"
#include "kdtext/text/shard.h"
#include "kdtext/text/wordpiece.h"
#include "kdtext/util/json.h"

using kdtext::Json;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::Split in = fuzz::split_flags(data, size);
  const uint8_t flags = in.flags;
  const std::string& payload = in.payload;
  const std::string origin = "fuzz.json";
  fuzz::expect_typed_errors(origin, [&] {
    const Json j = kdtext::parse_json_text(payload, origin);
    switch (flags % 5) {
      case 0: {
        const auto meta = kdtext::io::parse_checkpoint_meta(j, origin);
        fuzz::check(meta.format_version == kdtext::io::kCheckpointFormatVersion, "format version");
        break;
      }
      case 1: {
        const auto config = kdtext::model::bert_config_from_json(j, origin);
        const Json again = kdtext::model::to_json(config);
        const auto reread = kdtext::model::bert_config_from_json(again, origin);
        fuzz::check(kdtext::model::to_json(reread) == again, "config.json round trip: " + again.dump());
        break;
      }
      case 2:
        try {
          kdtext::text::wordpiece_options_from_json(kdtext::JsonFields(j, origin));
        } catch (const kdtext::ConfigError& e) {  // load_dir names the file around it
          throw kdtext::InputError(origin + ": " + e.what());
        }
        break;
      case 3:
        kdtext::text::wordpiece_options_from_hf_config(j, origin);
        break;
      default: {
        const auto index = kdtext::text::parse_shard_index(j, origin);
        fuzz::check(index.vocab_size > 0, "vocab_size");
        for (const auto& f : index.files) fuzz::check(!f.empty() && f.find('/') == std::string::npos, "file " + f);
      }
    }
  });
  return 0;
}
