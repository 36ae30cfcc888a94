// pytorch_model.bin without LibTorch: the zip container (io/zip.h) and the
// pickle machine (io/pickle.h). Flag bit 0 picks the input's form: a whole
// torch.save file (the zip, its version record, data.pkl, and every storage
// record the state dict names, read and CRC-checked), or data.pkl alone
// against an archive holding data/0..data/99 of 24 bytes each. Every view the
// result names must lie inside its storage; the machine's caps bound time and
// memory (run with -timeout=1 -malloc_limit_mb=256 to hold it to them).
#include <vector>

#include "fuzz_common.h"
#include "kdtext/io/pickle.h"
#include "kdtext/io/zip.h"

namespace {

void check_views(const kdtext::io::PickledStateDict& sd) {
  for (const auto& [key, t] : sd.tensors) {
    fuzz::check(t.storage < sd.storages.size(), "storage index");
    fuzz::check(t.size.size() == t.stride.size(), "size and stride of one rank");
    const auto& st = sd.storages[t.storage];
    int64_t last = t.offset;
    bool empty = false;
    for (size_t k = 0; k < t.size.size(); ++k) {
      fuzz::check(t.size[k] >= 0 && t.stride[k] >= 0, "non-negative view");
      empty = empty || t.size[k] == 0;
      if (t.size[k] > 0) last += (t.size[k] - 1) * t.stride[k];
    }
    fuzz::check(t.offset >= 0 && (empty || last < st.numel), "view inside its storage: " + key);
    fuzz::check(st.element_bytes > 0 && st.numel >= 0, "a known storage type");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fuzz::Split in = fuzz::split_flags(data, size);
  if (in.flags & 1) {
    const std::string origin = "fuzz.pkl";
    fuzz::expect_typed_errors(origin, [&] {
      const auto sd = kdtext::io::parse_state_dict_pickle(
          in.payload,
          [](const std::string& record) -> std::optional<uint64_t> {
            if (record.size() > 7 || record.rfind("data/", 0) != 0) return std::nullopt;
            return 24;
          },
          origin);
      check_views(sd);
    });
    return 0;
  }
  const fuzz::MemFile file(reinterpret_cast<const uint8_t*>(in.payload.data()), in.payload.size());
  fuzz::expect_typed_errors(file.path(), [&] {
    kdtext::io::ZipArchive zip(file.path());
    const auto sd = kdtext::io::read_state_dict_layout(zip, 1, 10);
    check_views(sd);
    for (const auto& st : sd.storages) {
      const std::string record = "data/" + st.key;
      fuzz::check(zip.size(record) == static_cast<uint64_t>(st.numel) * st.element_bytes, "record size checked");
      fuzz::check(zip.size(record) <= in.payload.size(), "a record inside the file");
      std::vector<char> bytes(zip.size(record));
      zip.read(record, bytes.data());
    }
  });
  return 0;
}
