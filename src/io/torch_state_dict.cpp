// pytorch_model.bin without Python: the zip archive through LibTorch's
// reader (caffe2::serialize), data.pkl through a pickle reader of our own that
// knows what a state dict is made of (dicts, OrderedDicts and their _metadata,
// tuples, lists, numbers, strings, tensors rebuilt from storages) and refuses
// any other class by name: nothing pickled is ever called. LibTorch's own
// unpickler turns an OrderedDict into None, so a state dict saved as Python's
// model.state_dict() (what transformers wrote for years) cannot go through it.
#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "kdtext/error.h"
#include "kdtext/io/hf.h"

namespace kdtext::io {
namespace {

struct Value;
using Ptr = std::shared_ptr<Value>;
struct Value {
  enum Kind { kNone, kBool, kInt, kFloat, kString, kTuple, kList, kDict, kGlobal, kTensor, kMark } kind = kNone;
  int64_t i = 0;
  double f = 0;
  std::string s;                          // string; global "module.name"
  std::vector<Ptr> items;                 // tuple, list
  std::vector<std::pair<Ptr, Ptr>> dict;  // in insertion order
  torch::Tensor tensor;                   // a tensor, or a storage (1-D, its whole record)
};

const char* kind_name(Value::Kind k) {
  static const char* names[] = {"None", "bool", "int", "float", "string", "tuple", "list", "dict", "class", "tensor", "mark"};
  return names[k];
}

Ptr make(Value::Kind k) {
  auto v = std::make_shared<Value>();
  v->kind = k;
  return v;
}

torch::ScalarType storage_dtype(const std::string& global) {
  static const std::map<std::string, torch::ScalarType> types = {
      {"torch.FloatStorage", torch::kFloat32}, {"torch.DoubleStorage", torch::kFloat64},
      {"torch.HalfStorage", torch::kFloat16},  {"torch.BFloat16Storage", torch::kBFloat16},
      {"torch.LongStorage", torch::kInt64},    {"torch.IntStorage", torch::kInt32},
      {"torch.ShortStorage", torch::kInt16},   {"torch.CharStorage", torch::kInt8},
      {"torch.ByteStorage", torch::kUInt8},    {"torch.BoolStorage", torch::kBool}};
  auto it = types.find(global);
  if (it == types.end()) throw std::runtime_error("a storage of unknown type " + global);
  return it->second;
}

class Reader {
 public:
  explicit Reader(caffe2::serialize::PyTorchStreamReader& zip) : zip_(zip) {
    auto [data, size] = zip_.getRecord("data.pkl");
    bytes_.assign(static_cast<const char*>(data.get()), size);
  }

  Ptr run() {
    while (true) {
      const uint8_t op = u8();
      switch (op) {
        case 0x80: u8(); break;                   // PROTO
        case 0x95: take(8); break;                // FRAME
        case '.': return pop();                   // STOP
        case '(': push(make(Value::kMark)); break;  // MARK
        case 'N': push(make(Value::kNone)); break;
        case 0x88: case 0x89: push(number(Value::kBool, op == 0x88)); break;  // NEWTRUE, NEWFALSE
        case 'J': push(number(Value::kInt, static_cast<int32_t>(uint_le(4)))); break;  // BININT
        case 'K': push(number(Value::kInt, uint_le(1))); break;                        // BININT1
        case 'M': push(number(Value::kInt, uint_le(2))); break;                        // BININT2
        case 0x8a: push(long1()); break;                                               // LONG1
        case 'G': push(binfloat()); break;                                             // BINFLOAT
        case 'X': push(string(uint_le(4))); break;                                     // BINUNICODE
        case 0x8c: case 'U': push(string(uint_le(1))); break;  // SHORT_BINUNICODE, SHORT_BINSTRING
        case 'T': case 0x8d: push(string(op == 'T' ? uint_le(4) : uint_le(8))); break;  // BINSTRING, BINUNICODE8
        case '}': push(make(Value::kDict)); break;
        case ']': push(make(Value::kList)); break;
        case ')': push(make(Value::kTuple)); break;
        case 't': { auto t = make(Value::kTuple); t->items = pop_to_mark(); push(t); break; }
        case 0x85: case 0x86: case 0x87: push(tuple_of(op - 0x84)); break;  // TUPLE1..3
        case 'q': memo_[uint_le(1)] = top(); break;                       // BINPUT
        case 'r': memo_[uint_le(4)] = top(); break;                       // LONG_BINPUT
        case 0x94: memo_[static_cast<int64_t>(memo_.size())] = top(); break;  // MEMOIZE
        case 'h': push(memo(uint_le(1))); break;                          // BINGET
        case 'j': push(memo(uint_le(4))); break;                          // LONG_BINGET
        case 'c': { auto g = make(Value::kGlobal); g->s = line(); g->s += "." + line(); push(g); break; }
        case 0x93: { auto name = pop(), mod = pop(); auto g = make(Value::kGlobal);  // STACK_GLOBAL
                     g->s = mod->s + "." + name->s; push(g); break; }
        case 's': { auto v = pop(), k = pop(); as(top(), Value::kDict, "SETITEM")->dict.emplace_back(k, v); break; }
        case 'u': set_items(); break;                                     // SETITEMS
        case 'a': { auto v = pop(); as(top(), Value::kList, "APPEND")->items.push_back(v); break; }
        case 'e': { auto items = pop_to_mark(); auto& l = as(top(), Value::kList, "APPENDS")->items;
                    l.insert(l.end(), items.begin(), items.end()); break; }
        case 'R': { auto args = pop(), f = pop(); push(reduce(f, args)); break; }  // REDUCE
        case 'b': build(); break;                                                   // BUILD
        case 'Q': push(storage(pop())); break;                                      // BINPERSID
        default: throw std::runtime_error("pickle opcode 0x" + hex(op) + " is not one a state dict is saved with");
      }
    }
  }

 private:
  static std::string hex(uint8_t b) {
    const char* d = "0123456789abcdef";
    return std::string{d[b >> 4], d[b & 15]};
  }
  const char* take(size_t n) {
    if (n > bytes_.size() - pos_) throw std::runtime_error("the pickle ends in the middle of an opcode");
    const char* p = bytes_.data() + pos_;
    pos_ += n;
    return p;
  }
  uint8_t u8() { return static_cast<uint8_t>(*take(1)); }
  int64_t uint_le(size_t n) {
    const char* p = take(n);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[k])) << (8 * k);
    return static_cast<int64_t>(v);
  }
  std::string line() {
    const size_t end = bytes_.find('\n', pos_);
    if (end == std::string::npos) throw std::runtime_error("the pickle ends inside a class name");
    std::string s = bytes_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return s;
  }
  static Ptr number(Value::Kind k, int64_t v) {
    auto n = make(k);
    n->i = v;
    return n;
  }
  Ptr long1() {
    const int64_t n = u8();
    if (n > 8) throw std::runtime_error("an integer of " + std::to_string(n) + " bytes");
    int64_t v = n ? uint_le(static_cast<size_t>(n)) : 0;
    if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v -= int64_t{1} << (8 * n);  // two's complement
    return number(Value::kInt, v);
  }
  Ptr binfloat() {
    const char* p = take(8);
    uint64_t bits = 0;
    for (int k = 0; k < 8; ++k) bits = (bits << 8) | static_cast<uint8_t>(p[k]);  // big-endian
    auto v = make(Value::kFloat);
    std::memcpy(&v->f, &bits, sizeof bits);
    return v;
  }
  Ptr string(int64_t n) {
    auto v = make(Value::kString);
    v->s.assign(take(static_cast<size_t>(n)), static_cast<size_t>(n));
    return v;
  }
  void push(Ptr v) { stack_.push_back(std::move(v)); }
  Ptr top() {
    if (stack_.empty()) throw std::runtime_error("the pickle reads from an empty stack");
    return stack_.back();
  }
  Ptr pop() {
    Ptr v = top();
    stack_.pop_back();
    return v;
  }
  Ptr memo(int64_t k) {
    auto it = memo_.find(k);
    if (it == memo_.end()) throw std::runtime_error("the pickle refers to memo entry " + std::to_string(k) + ", never stored");
    return it->second;
  }
  std::vector<Ptr> pop_to_mark() {
    std::vector<Ptr> items;
    while (top()->kind != Value::kMark) items.insert(items.begin(), pop());
    pop();
    return items;
  }
  Ptr tuple_of(int n) {
    auto t = make(Value::kTuple);
    for (int k = 0; k < n; ++k) t->items.insert(t->items.begin(), pop());
    return t;
  }
  static Ptr as(const Ptr& v, Value::Kind k, const char* op) {
    if (v->kind != k) throw std::runtime_error(std::string(op) + " on a " + kind_name(v->kind));
    return v;
  }
  void set_items() {
    auto items = pop_to_mark();
    if (items.size() % 2) throw std::runtime_error("SETITEMS with an odd number of values");
    auto d = as(top(), Value::kDict, "SETITEMS");
    for (size_t k = 0; k < items.size(); k += 2) d->dict.emplace_back(items[k], items[k + 1]);
  }
  // The state BUILD gives an object: an OrderedDict's attributes (a state dict's
  // _metadata: per-module versions) are dropped; nothing else has state here.
  void build() {
    pop();
    if (top()->kind != Value::kDict) throw std::runtime_error("BUILD (object state) on a " + std::string(kind_name(top()->kind)));
  }
  static const Ptr& arg(const Ptr& args, size_t k, Value::Kind kind, const std::string& f) {
    if (args->kind != Value::kTuple || args->items.size() <= k || args->items[k]->kind != kind) {
      throw std::runtime_error(f + ": argument " + std::to_string(k + 1) + " is not a " + kind_name(kind));
    }
    return args->items[k];
  }
  static std::vector<int64_t> ints(const Ptr& t, const std::string& f) {
    std::vector<int64_t> out;
    for (const auto& v : t->items) {
      if (v->kind != Value::kInt) throw std::runtime_error(f + ": a size or stride that is not an int");
      out.push_back(v->i);
    }
    return out;
  }
  Ptr reduce(const Ptr& f, const Ptr& args) {
    if (f->kind != Value::kGlobal) throw std::runtime_error("REDUCE calls a " + std::string(kind_name(f->kind)));
    const std::string& name = f->s;
    if (name == "collections.OrderedDict" || name == "builtins.dict") {
      if (args->kind != Value::kTuple || !args->items.empty()) throw std::runtime_error(name + " with arguments");
      return make(Value::kDict);
    }
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      const auto& st = arg(args, 0, Value::kTensor, name);
      const int64_t offset = arg(args, 1, Value::kInt, name)->i;
      const auto size = ints(arg(args, 2, Value::kTuple, name), name);
      const auto stride = ints(arg(args, 3, Value::kTuple, name), name);
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
      if (size.size() != stride.size() || offset < 0 || last >= st->tensor.numel()) {
        throw std::runtime_error(name + ": the view reaches past its storage of " + std::to_string(st->tensor.numel()) +
                                 " elements");
      }
      auto t = make(Value::kTensor);
      t->tensor = st->tensor.as_strided(size, stride, offset).contiguous();
      return t;
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state" ||
        name == "torch.jit._pickle.restore_type_tag" || name.rfind("torch.jit._pickle.build_", 0) == 0) {
      if (args->kind != Value::kTuple || args->items.empty()) throw std::runtime_error(name + " without arguments");
      return args->items[0];
    }
    throw std::runtime_error("refuses to call " + name + " (not part of a state dict of tensors)");
  }
  // A persistent id ('storage', type, key, location, numel): the record data/<key>.
  Ptr storage(const Ptr& pid) {
    const std::string f = "a storage reference";
    if (arg(pid, 0, Value::kString, f)->s != "storage") throw std::runtime_error("a persistent id that is not a storage");
    const auto dtype = storage_dtype(arg(pid, 1, Value::kGlobal, f)->s);
    const std::string key = arg(pid, 2, Value::kString, f)->s;
    const int64_t numel = arg(pid, 4, Value::kInt, f)->i;
    auto it = storages_.find(key);
    if (it != storages_.end()) return it->second;
    const std::string record = "data/" + key;
    if (!zip_.hasRecord(record)) throw std::runtime_error("storage '" + key + "' has no record " + record);
    auto [data, bytes] = zip_.getRecord(record);
    const size_t expected = static_cast<size_t>(numel) * c10::elementSize(dtype);
    if (numel < 0 || bytes != expected) {
      throw std::runtime_error("storage '" + key + "' holds " + std::to_string(bytes) + " bytes, not the " +
                               std::to_string(expected) + " its " + std::to_string(numel) + " elements take");
    }
    auto v = make(Value::kTensor);
    v->tensor = torch::empty({numel}, torch::TensorOptions().dtype(dtype));
    if (bytes) std::memcpy(v->tensor.data_ptr(), data.get(), bytes);
    return storages_[key] = v;
  }

  caffe2::serialize::PyTorchStreamReader& zip_;
  std::string bytes_;
  size_t pos_ = 0;
  std::vector<Ptr> stack_;
  std::map<int64_t, Ptr> memo_;
  std::map<std::string, Ptr> storages_;
};

}  // namespace

TensorMap read_torch_state_dict(const std::filesystem::path& path) {
  const std::string origin = path.string();
  Ptr top;
  try {
    caffe2::serialize::PyTorchStreamReader zip(origin);
    if (!zip.hasRecord("data.pkl")) throw InputError(origin + ": no data.pkl in the archive (not a torch.save file)");
    if (zip.hasRecord("byteorder")) {
      auto [data, size] = zip.getRecord("byteorder");
      if (std::string(static_cast<const char*>(data.get()), size) != "little") {
        throw InputError(origin + ": saved on a big-endian machine; only little-endian checkpoints are read");
      }
    }
    try {
      top = Reader(zip).run();
    } catch (const std::runtime_error& e) {
      throw InputError(origin + ": data.pkl: " + e.what());
    }
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    const std::string why = e.what();
    throw InputError(origin + ": cannot read as a PyTorch zip checkpoint (torch.save since 1.6; the legacy format is "
                     "not read): " + why.substr(0, why.find('\n')));
  }
  if (top->kind != Value::kDict) {
    throw InputError(origin + ": the checkpoint holds a " + kind_name(top->kind) + ", not a state dict of tensors");
  }
  TensorMap out;
  for (const auto& [k, v] : top->dict) {
    if (k->kind != Value::kString) throw InputError(origin + ": a state-dict key is a " + kind_name(k->kind));
    if (v->kind != Value::kTensor) {
      throw InputError(origin + ": '" + k->s + "' is a " + kind_name(v->kind) + ", not a tensor");
    }
    out[k->s] = v->tensor;
  }
  return out;
}

}  // namespace kdtext::io
