// data.pkl of a torch.save state dict, read without Python and without
// LibTorch: a pickle machine that knows what a state dict is made of (dicts,
// OrderedDicts and their _metadata, tuples, lists, numbers, strings, tensors
// rebuilt from storages) and refuses any other class when the pickle names
// it: nothing pickled is ever called. Bounds: each opcode costs O(1) or O(its
// items) (MARKs are positions on a second stack, as in Python); values live in
// one arena and refer to each other by index, so nothing recurses; the arena,
// stack, memo, nesting and data.pkl itself are capped. The result names each
// tensor's storage and view; io/torch_state_dict.cpp reads the storages it needs.
#include "kdtext/io/pickle.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <deque>
#include <map>
#include <stdexcept>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kdtext/error.h"
#include "kdtext/io/zip.h"

namespace kdtext::io {
namespace {

constexpr size_t kMaxValues = 1000000, kMaxStack = 4000000, kMaxMemo = 1000000, kMaxDepth = 64;
constexpr size_t kMaxPickleBytes = size_t{32} << 20;

struct Value {
  enum Kind : uint8_t { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kTensor, kStorage };
  Kind kind = kNone;
  uint16_t depth = 0;
  int64_t i = 0;  // int, bool; tensor: index of its view; storage: index of the storage
  double f = 0;
  std::string s;                // string; global "module.name"
  std::vector<uint32_t> items;  // tuple, list; dict: key, value, key, value, ... in insertion order
};

const char* kind_name(Value::Kind k) {
  return std::array{"None", "bool", "int", "float", "string", "tuple", "list", "dict", "class", "tensor", "storage"}[k];
}


// The classes a state dict of tensors is pickled with; any other is refused when named.
bool known_global(const std::string& name) {
  static const std::vector<std::string> exact = {
      "collections.OrderedDict", "builtins.dict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
      "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state", "torch.jit._pickle.restore_type_tag"};
  if (std::find(exact.begin(), exact.end(), name) != exact.end()) return true;
  if (name.rfind("torch.jit._pickle.build_", 0) == 0) return true;
  return storage_element_bytes(name) > 0;
}

// A name from the file as an error shows it: at most 80 bytes, control bytes escaped.
std::string shown(const std::string& s) {
  std::string out;
  for (size_t k = 0; k < s.size() && k < 80; ++k) {
    const auto c = static_cast<unsigned char>(s[k]);
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += "0123456789abcdef"[c >> 4];
      out += "0123456789abcdef"[c & 15];
    }
  }
  return s.size() <= 80 ? out : out + "...";
}


class Reader {
 public:
  Reader(std::string_view bytes, const RecordSize& record_bytes) : bytes_(bytes), record_bytes_(record_bytes) {}

  uint32_t run();
  const Value& at(uint32_t k) const { return values_[k]; }
  PickledStateDict result(uint32_t top, const std::string& origin);

 private:
  bool step(uint8_t op);
  static std::string hex(uint8_t b) { return std::string{"0123456789abcdef"[b >> 4], "0123456789abcdef"[b & 15]}; }
  const char* take(uint64_t n) {
    if (n > bytes_.size() - pos_) throw std::runtime_error("the pickle ends in the middle of an opcode");
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  uint8_t u8() { return static_cast<uint8_t>(*take(1)); }
  uint64_t uint_le(size_t n) {
    const char* p = take(n);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[k])) << (8 * k);
    return v;
  }
  std::string line() {
    const size_t end = bytes_.find('\n', pos_);
    if (end == std::string::npos) throw std::runtime_error("the pickle ends inside a class name");
    std::string s(bytes_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  uint32_t make(Value::Kind k) {
    if (values_.size() >= kMaxValues) {
      throw std::runtime_error("the pickle makes more than " + std::to_string(kMaxValues) +
                               " objects (a state dict takes about 15 per tensor)");
    }
    values_.emplace_back();
    values_.back().kind = k;
    return static_cast<uint32_t>(values_.size() - 1);
  }
  uint32_t number(Value::Kind k, int64_t v) {
    const uint32_t n = make(k);
    values_[n].i = v;
    return n;
  }
  uint32_t long1();
  uint32_t binfloat();
  uint32_t string(uint64_t n) {
    const char* p = take(n);
    const uint32_t v = make(Value::kString);
    values_[v].s.assign(p, n);
    return v;
  }
  uint32_t global(std::string name) {
    if (!known_global(name)) {
      throw std::runtime_error("refuses the class " + shown(name) + " (not part of a state dict of tensors)");
    }
    const uint32_t g = make(Value::kGlobal);
    values_[g].s = std::move(name);
    return g;
  }
  void push(uint32_t v) {
    if (stack_.size() + marks_.size() >= kMaxStack) throw std::runtime_error("the pickle's stack grows past 4,000,000");
    stack_.push_back(v);
  }
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
  uint32_t top() const {
    if (stack_.size() <= floor()) throw std::runtime_error("the pickle reads past its stack (or past a MARK)");
    return stack_.back();
  }
  uint32_t pop() { const uint32_t v = top(); stack_.pop_back(); return v; }
  void mark() {
    push(0);  // counts the MARK against the stack's cap
    stack_.pop_back();
    marks_.push_back(static_cast<uint32_t>(stack_.size()));
  }
  std::vector<uint32_t> pop_to_mark() {
    if (marks_.empty()) throw std::runtime_error("the pickle collects items without a MARK");
    std::vector<uint32_t> items(stack_.begin() + marks_.back(), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  void remember(uint64_t k) {
    if (memo_.size() >= kMaxMemo && !memo_.count(k)) throw std::runtime_error("the pickle's memo grows past 1,000,000");
    memo_[k] = top();
  }
  uint32_t memo(uint64_t k) const {
    auto it = memo_.find(k);
    if (it == memo_.end()) throw std::runtime_error("the pickle refers to memo entry " + std::to_string(k) + ", never stored");
    return it->second;
  }
  Value& as(uint32_t v, Value::Kind k, const char* op) {
    if (values_[v].kind != k) throw std::runtime_error(std::string(op) + " on a " + kind_name(values_[v].kind));
    return values_[v];
  }
  void add(uint32_t parent, const std::vector<uint32_t>& items) {
    Value& p = values_[parent];
    for (uint32_t c : items) {
      p.depth = std::max<uint16_t>(p.depth, static_cast<uint16_t>(std::min<size_t>(values_[c].depth + 1, kMaxDepth + 1)));
      p.items.push_back(c);
    }
    if (p.depth > kMaxDepth) {
      throw std::runtime_error("the pickle nests collections deeper than " + std::to_string(kMaxDepth) +
                               " (a state dict nests 3)");
    }
  }
  uint32_t collection(Value::Kind k, const std::vector<uint32_t>& items) {
    const uint32_t c = make(k);
    add(c, items);
    return c;
  }
  uint32_t tuple_of(int n) {
    std::vector<uint32_t> items(static_cast<size_t>(n));
    for (int k = n - 1; k >= 0; --k) items[static_cast<size_t>(k)] = pop();
    return collection(Value::kTuple, items);
  }
  void set_items(const std::vector<uint32_t>& items, const char* op) {
    if (items.size() % 2) throw std::runtime_error(std::string(op) + " with an odd number of values");
    as(top(), Value::kDict, op);
    add(top(), items);
  }
  void build() {
    pop();
    if (values_[top()].kind != Value::kDict) {
      throw std::runtime_error("BUILD (object state) on a " + std::string(kind_name(values_[top()].kind)));
    }
  }
  const Value& arg(uint32_t args, size_t k, Value::Kind kind, const std::string& f) const {
    const Value& a = values_[args];
    if (a.kind != Value::kTuple || a.items.size() <= k || values_[a.items[k]].kind != kind) {
      throw std::runtime_error(f + ": argument " + std::to_string(k + 1) + " is not a " + kind_name(kind));
    }
    return values_[a.items[k]];
  }
  std::vector<int64_t> ints(const Value& t, const std::string& f) const {
    std::vector<int64_t> out;
    for (uint32_t v : t.items) {
      if (values_[v].kind != Value::kInt) throw std::runtime_error(f + ": a size or stride that is not an int");
      out.push_back(values_[v].i);
    }
    return out;
  }
  uint32_t reduce(uint32_t f, uint32_t args);
  uint32_t rebuild_tensor(const std::string& name, uint32_t args);
  uint32_t storage(uint32_t pid);

  std::string_view bytes_;
  const RecordSize& record_bytes_;
  size_t pos_ = 0;
  std::deque<Value> values_;
  std::vector<uint32_t> stack_, marks_;
  std::unordered_map<uint64_t, uint32_t> memo_;
  std::vector<PickledStorage> storages_;
  std::map<std::string, uint32_t> storage_index_;
  std::vector<PickledTensor> views_;
};

uint32_t Reader::run() {
  while (true) {
    const uint8_t op = u8();
    if (op == '.') return pop();  // STOP
    if (!step(op)) throw std::runtime_error("pickle opcode 0x" + hex(op) + " is not one a state dict is saved with");
  }
}

bool Reader::step(uint8_t op) {
  switch (op) {
    case 0x80: {  // PROTO
      const int v = u8();
      if (v > 5) throw std::runtime_error("pickle protocol " + std::to_string(v) + " (Python reads 0 to 5)");
      break;
    }
    case 0x95: {  // FRAME
      const uint64_t n = uint_le(8);
      if (n > bytes_.size() - pos_) throw std::runtime_error("a FRAME of " + std::to_string(n) + " bytes runs past the pickle");
      break;
    }
    case '(': mark(); break;
    case 'N': push(make(Value::kNone)); break;
    case 0x88: case 0x89: push(number(Value::kBool, op == 0x88)); break;                    // NEWTRUE, NEWFALSE
    case 'J': push(number(Value::kInt, static_cast<int32_t>(uint_le(4)))); break;           // BININT
    case 'K': push(number(Value::kInt, static_cast<int64_t>(uint_le(1)))); break;           // BININT1
    case 'M': push(number(Value::kInt, static_cast<int64_t>(uint_le(2)))); break;           // BININT2
    case 0x8a: push(long1()); break;                                                        // LONG1
    case 'G': push(binfloat()); break;                                                      // BINFLOAT
    case 'X': push(string(uint_le(4))); break;                                              // BINUNICODE
    case 0x8c: case 'U': push(string(uint_le(1))); break;  // SHORT_BINUNICODE, SHORT_BINSTRING
    case 'T': case 0x8d: push(string(op == 'T' ? uint_le(4) : uint_le(8))); break;  // BINSTRING, BINUNICODE8
    case '}': push(make(Value::kDict)); break;
    case ']': push(make(Value::kList)); break;
    case ')': push(make(Value::kTuple)); break;
    case 't': push(collection(Value::kTuple, pop_to_mark())); break;
    case 0x85: case 0x86: case 0x87: push(tuple_of(op - 0x84)); break;  // TUPLE1..3
    case 'q': remember(uint_le(1)); break;                              // BINPUT
    case 'r': remember(uint_le(4)); break;                              // LONG_BINPUT
    case 0x94: remember(memo_.size()); break;                           // MEMOIZE
    case 'h': push(memo(uint_le(1))); break;                            // BINGET
    case 'j': push(memo(uint_le(4))); break;                            // LONG_BINGET
    case 'c': { std::string m = line(); push(global(m + "." + line())); break; }  // GLOBAL
    case 0x93: {  // STACK_GLOBAL
      const uint32_t name = pop(), mod = pop();
      if (values_[name].kind != Value::kString || values_[mod].kind != Value::kString) {
        throw std::runtime_error("STACK_GLOBAL of a non-string");
      }
      push(global(values_[mod].s + "." + values_[name].s));
      break;
    }
    case 's': { const uint32_t v = pop(), k = pop(); set_items({k, v}, "SETITEM"); break; }
    case 'u': set_items(pop_to_mark(), "SETITEMS"); break;
    case 'a': { const uint32_t v = pop(); as(top(), Value::kList, "APPEND"); add(top(), {v}); break; }
    case 'e': { auto items = pop_to_mark(); as(top(), Value::kList, "APPENDS"); add(top(), items); break; }
    case 'R': { const uint32_t args = pop(), f = pop(); push(reduce(f, args)); break; }  // REDUCE
    case 'b': build(); break;                                                             // BUILD
    case 'Q': push(storage(pop())); break;                                                // BINPERSID
    default: return false;
  }
  return true;
}

uint32_t Reader::long1() {
  const uint64_t n = u8();
  if (n > 8) throw std::runtime_error("an integer of " + std::to_string(n) + " bytes");
  int64_t v = n ? static_cast<int64_t>(uint_le(static_cast<size_t>(n))) : 0;
  if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v -= int64_t{1} << (8 * n);  // two's complement
  return number(Value::kInt, v);
}

uint32_t Reader::binfloat() {
  const char* p = take(8);
  uint64_t bits = 0;
  for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<uint8_t>(p[k]);  // big-endian
  const uint32_t v = make(Value::kFloat);
  std::memcpy(&values_[v].f, &bits, sizeof bits);
  return v;
}

uint32_t Reader::reduce(uint32_t f, uint32_t args) {
  if (values_[f].kind != Value::kGlobal) throw std::runtime_error("REDUCE calls a " + std::string(kind_name(values_[f].kind)));
  const std::string name = values_[f].s;
  const Value& a = values_[args];
  if (a.kind != Value::kTuple) throw std::runtime_error(name + " with arguments that are not a tuple");
  if (name == "collections.OrderedDict" || name == "builtins.dict") {
    if (!a.items.empty()) throw std::runtime_error(name + " with arguments");
    return make(Value::kDict);
  }
  if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") return rebuild_tensor(name, args);
  if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
    arg(args, 0, Value::kTensor, name);
    if (a.items.size() > 2 && !arg(args, 2, Value::kDict, name).items.empty()) {
      throw std::runtime_error(name + ": a parameter with backward hooks");
    }
    return a.items[0];
  }
  if (name.rfind("torch.jit._pickle.", 0) == 0) {
    if (a.items.empty()) throw std::runtime_error(name + " without arguments");
    return a.items[0];
  }
  throw std::runtime_error("refuses to call " + shown(name) + " (not part of a state dict of tensors)");
}

// _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, metadata]):
// a view the storage holds, with no hooks and no metadata.
uint32_t Reader::rebuild_tensor(const std::string& name, uint32_t args) {
  const Value& st = arg(args, 0, Value::kStorage, name);
  const int64_t offset = arg(args, 1, Value::kInt, name).i;
  const auto size = ints(arg(args, 2, Value::kTuple, name), name);
  const auto stride = ints(arg(args, 3, Value::kTuple, name), name);
  if (name == "torch._utils._rebuild_tensor_v2") {
    const size_t n = values_[args].items.size();
    if (n != 6 && n != 7) throw std::runtime_error(name + ": " + std::to_string(n) + " arguments, not 6 or 7");
    arg(args, 4, Value::kBool, name);
    if (!arg(args, 5, Value::kDict, name).items.empty()) throw std::runtime_error(name + ": a tensor with backward hooks");
    if (n == 7 && !arg(args, 6, Value::kDict, name).items.empty()) {
      throw std::runtime_error(name + ": tensor metadata (conjugate or negative bits) is not read");
    }
  }
  const int64_t numel = storages_[static_cast<size_t>(st.i)].numel;
  int64_t last = offset;  // the last element the view reaches must lie inside the storage
  bool empty = false;
  for (size_t k = 0; k < size.size(); ++k) {
    if (size[k] < 0 || (k < stride.size() && stride[k] < 0)) throw std::runtime_error(name + ": a negative size");
    empty = empty || size[k] == 0;
    int64_t reach = 0;
    if (k < stride.size() && size[k] > 0 &&
        (__builtin_mul_overflow(size[k] - 1, stride[k], &reach) || __builtin_add_overflow(last, reach, &last))) {
      throw std::runtime_error(name + ": a size or stride too large");
    }
  }
  if (empty) last = -1;
  if (size.size() != stride.size() || offset < 0 || last >= numel) {
    throw std::runtime_error(name + ": the view reaches past its storage of " + std::to_string(numel) + " elements");
  }
  views_.push_back(PickledTensor{static_cast<size_t>(st.i), offset, size, stride});
  const uint32_t t = make(Value::kTensor);
  values_[t].i = static_cast<int64_t>(views_.size() - 1);
  return t;
}

// A persistent id ('storage', type, key, location, numel): the record data/<key>,
// its size checked against the declared elements now, its bytes read only when needed.
uint32_t Reader::storage(uint32_t pid) {
  const std::string f = "a storage reference";
  if (arg(pid, 0, Value::kString, f).s != "storage") throw std::runtime_error("a persistent id that is not a storage");
  const std::string type = arg(pid, 1, Value::kGlobal, f).s;
  const std::string key = arg(pid, 2, Value::kString, f).s;
  const int64_t numel = arg(pid, 4, Value::kInt, f).i;
  if (key.empty() || key.size() > 64 ||
      key.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != std::string::npos) {
    throw std::runtime_error("a storage key that is not a plain name ('" + shown(key) + "': torch.save writes 0, 1, ...)");
  }
  const uint64_t element = storage_element_bytes(type);
  if (element == 0) throw std::runtime_error("a storage of unknown type " + shown(type));
  auto it = storage_index_.find(key);
  if (it == storage_index_.end()) {
    const std::string record = "data/" + key;
    const auto bytes = record_bytes_(record);
    if (!bytes) throw std::runtime_error("storage '" + key + "' has no record " + record);
    if (numel < 0 || static_cast<uint64_t>(numel) > *bytes / element || *bytes != static_cast<uint64_t>(numel) * element) {
      throw std::runtime_error("storage '" + key + "' holds " + std::to_string(*bytes) + " bytes, not the " +
                               (numel < 0 ? std::string("(negative)") : std::to_string(static_cast<uint64_t>(numel) * element)) +
                               " its " + std::to_string(numel) + " elements take");
    }
    storages_.push_back(PickledStorage{key, type, element, numel});
    it = storage_index_.emplace(key, static_cast<uint32_t>(storages_.size() - 1)).first;
  } else if (storages_[it->second].type != type || storages_[it->second].numel != numel) {
    throw std::runtime_error("storage '" + key + "' is named twice with different types or sizes");
  }
  const uint32_t v = make(Value::kStorage);
  values_[v].i = it->second;
  return v;
}

PickledStateDict Reader::result(uint32_t top_index, const std::string& origin) {
  const Value& top = values_[top_index];
  if (top.kind != Value::kDict) {
    throw InputError(origin + ": the checkpoint holds a " + kind_name(top.kind) + ", not a state dict of tensors");
  }
  PickledStateDict out;
  for (size_t k = 0; k < top.items.size(); k += 2) {
    const Value& key = values_[top.items[k]];
    const Value& v = values_[top.items[k + 1]];
    if (key.kind != Value::kString) throw InputError(origin + ": a state-dict key is a " + kind_name(key.kind));
    if (v.kind != Value::kTensor) {
      throw InputError(origin + ": '" + shown(key.s) + "' is a " + kind_name(v.kind) + ", not a tensor");
    }
    out.tensors[key.s] = views_[static_cast<size_t>(v.i)];  // a key saved twice: the last counts, as in Python
  }
  out.storages = std::move(storages_);
  return out;
}

}  // namespace

size_t storage_element_bytes(const std::string& type) {
  static const std::map<std::string, size_t> sizes = {
      {"torch.FloatStorage", 4}, {"torch.DoubleStorage", 8}, {"torch.HalfStorage", 2}, {"torch.BFloat16Storage", 2},
      {"torch.LongStorage", 8},  {"torch.IntStorage", 4},    {"torch.ShortStorage", 2}, {"torch.CharStorage", 1},
      {"torch.ByteStorage", 1},  {"torch.BoolStorage", 1}};
  auto it = sizes.find(type);
  return it == sizes.end() ? 0 : it->second;
}

PickledStateDict parse_state_dict_pickle(std::string_view pickle, const RecordSize& record_bytes,
                                         const std::string& origin) {
  if (pickle.size() > kMaxPickleBytes) {
    throw InputError(origin + ": data.pkl holds " + std::to_string(pickle.size()) +
                     " bytes (a state dict's pickle is a few hundred kilobytes; at most 32 MiB is read)");
  }
  Reader reader(pickle, record_bytes);
  uint32_t top = 0;
  try {
    top = reader.run();
  } catch (const std::runtime_error& e) {
    throw InputError(origin + ": data.pkl: " + e.what());
  }
  return reader.result(top, origin);
}

PickledStateDict read_state_dict_layout(ZipArchive& zip, uint64_t min_version, uint64_t max_version) {
  const std::string& origin = zip.origin();
  if (!zip.has("data.pkl")) throw InputError(origin + ": no data.pkl in the archive (not a torch.save file)");
  zip.check_version(min_version, max_version);
  if (zip.has("byteorder") && (zip.size("byteorder") > 16 || zip.read_string("byteorder") != "little")) {
    throw InputError(origin + ": saved on a big-endian machine; only little-endian checkpoints are read");
  }
  if (zip.size("data.pkl") > kMaxPickleBytes) {
    throw InputError(origin + ": data.pkl holds " + std::to_string(zip.size("data.pkl")) +
                     " bytes (a state dict's pickle is a few hundred kilobytes; at most 32 MiB is read)");
  }
  const std::string pickle = zip.read_string("data.pkl");
  return parse_state_dict_pickle(
      pickle,
      [&](const std::string& record) -> std::optional<uint64_t> {
        if (!zip.has(record)) return std::nullopt;
        return zip.size(record);
      },
      origin);
}

}  // namespace kdtext::io
