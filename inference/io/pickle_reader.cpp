#include "pickle_reader.h"

#include <cmath>
#include <cstring>
#include <map>

#include "../status.h"

namespace sdgimp::io {
namespace {

constexpr size_t kMaxObjects = size_t(1) << 26;  // far above any real state dict

enum class Callable { kOrderedDict, kRebuildTensorV2, kRebuildTensor, kRebuildParameter,
                      kRebuildParameterWithState, kSet, kCodecsEncode, kOpaque, kStorageType };

// What a global may stand for. Anything absent is refused.
const std::map<std::string, Callable>& allowed_globals() {
    static const std::map<std::string, Callable> m = {
        {"collections.OrderedDict", Callable::kOrderedDict},
        {"torch._utils._rebuild_tensor_v2", Callable::kRebuildTensorV2},
        {"torch._utils._rebuild_tensor", Callable::kRebuildTensor},
        {"torch._utils._rebuild_parameter", Callable::kRebuildParameter},
        {"torch._utils._rebuild_parameter_with_state", Callable::kRebuildParameterWithState},
        {"builtins.set", Callable::kSet},
        {"__builtin__.set", Callable::kSet},
        {"_codecs.encode", Callable::kCodecsEncode},
        // Training metadata some released checkpoints carry; kept as inert placeholders.
        {"pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint", Callable::kOpaque},
        {"numpy.core.multiarray.scalar", Callable::kOpaque},
        {"numpy.dtype", Callable::kOpaque},
        {"torch.device", Callable::kOpaque},
        {"torch.float32", Callable::kOpaque},
        {"torch.float16", Callable::kOpaque},
        {"torch.bfloat16", Callable::kOpaque},
        {"torch.FloatStorage", Callable::kStorageType},
        {"torch.DoubleStorage", Callable::kStorageType},
        {"torch.HalfStorage", Callable::kStorageType},
        {"torch.BFloat16Storage", Callable::kStorageType},
        {"torch.LongStorage", Callable::kStorageType},
        {"torch.IntStorage", Callable::kStorageType},
        {"torch.ShortStorage", Callable::kStorageType},
        {"torch.CharStorage", Callable::kStorageType},
        {"torch.ByteStorage", Callable::kStorageType},
        {"torch.BoolStorage", Callable::kStorageType},
    };
    return m;
}

DType storage_dtype(const std::string& name) {
    static const std::map<std::string, DType> m = {
        {"torch.FloatStorage", DType::kF32}, {"torch.DoubleStorage", DType::kF64},
        {"torch.HalfStorage", DType::kF16},  {"torch.BFloat16Storage", DType::kBF16},
        {"torch.LongStorage", DType::kI64},  {"torch.IntStorage", DType::kI32},
        {"torch.ShortStorage", DType::kI16}, {"torch.CharStorage", DType::kI8},
        {"torch.ByteStorage", DType::kU8},   {"torch.BoolStorage", DType::kBool}};
    return m.at(name);
}

}  // namespace

PyObj* PyObj::get(const std::string& key) const {
    if (kind != Kind::kDict) return nullptr;
    for (const auto& kv : dict)
        if (kv.first->kind == Kind::kStr && kv.first->s == key) return kv.second;
    return nullptr;
}

Unpickler::Unpickler(const uint8_t* data, size_t size, std::string file)
    : data_(data), size_(size), file_(std::move(file)) {}

Unpickler::~Unpickler() = default;

void Unpickler::fail(const std::string& why) const {
    throw_bad_file(file_, why);
}

PyObj* Unpickler::make(PyObj::Kind k) {
    if (arena_.size() >= kMaxObjects) fail("holds more objects than any model file; it is corrupt or hostile.");
    arena_.push_back(std::make_unique<PyObj>());
    arena_.back()->kind = k;
    return arena_.back().get();
}

const uint8_t* Unpickler::take(size_t n) {
    if (n > size_ - pos_) fail("its pickle data ends early; the file is truncated.");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
}

std::string Unpickler::take_line() {
    size_t start = pos_;
    while (pos_ < size_ && data_[pos_] != '\n') ++pos_;
    if (pos_ >= size_) fail("its pickle data ends inside a text line; the file is truncated.");
    std::string line(reinterpret_cast<const char*>(data_ + start), pos_ - start);
    ++pos_;
    return line;
}

uint64_t Unpickler::read_uint(int n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

PyObj* Unpickler::pop() {
    if (stack_.empty() || (!marks_.empty() && stack_.size() <= marks_.back()))
        fail("its pickle data pops an empty stack; the file is corrupt.");
    PyObj* o = stack_.back();
    stack_.pop_back();
    return o;
}

std::vector<PyObj*> Unpickler::pop_to_mark() {
    if (marks_.empty()) fail("its pickle data uses a missing mark; the file is corrupt.");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<PyObj*> items(stack_.begin() + static_cast<long>(m), stack_.end());
    stack_.resize(m);
    return items;
}

PyObj* Unpickler::make_global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    if (!allowed_globals().count(full))
        fail("refuses to load: its pickle asks for '" + full +
             "', which a model file never needs and which could run code; convert the file to .safetensors with a tool you trust.");
    PyObj* g = make(PyObj::Kind::kGlobal);
    g->s = full;
    return g;
}

PyObj* Unpickler::persistent_load(PyObj* pid) {
    // ('storage', StorageType, key, location, numel[, view_metadata])
    if (pid->kind != PyObj::Kind::kTuple || pid->items.size() < 5 || !pid->items[0]->is_str("storage") ||
        pid->items[1]->kind != PyObj::Kind::kGlobal ||
        allowed_globals().at(pid->items[1]->s) != Callable::kStorageType ||
        pid->items[2]->kind != PyObj::Kind::kStr || pid->items[4]->kind != PyObj::Kind::kInt ||
        pid->items[4]->i < 0)
        fail("has a storage reference that is not a tensor storage; the file is corrupt or not a checkpoint.");
    PyObj* st = make(PyObj::Kind::kStorage);
    st->dtype = storage_dtype(pid->items[1]->s);
    st->storage_key = pid->items[2]->s;
    st->storage_numel = pid->items[4]->i;
    if (pid->items.size() >= 6 && pid->items[5]->kind == PyObj::Kind::kTuple) {
        // Legacy view: (view_key, offset, view_size) into the root storage `key`.
        const auto& v = pid->items[5]->items;
        if (v.size() != 3 || v[1]->kind != PyObj::Kind::kInt || v[2]->kind != PyObj::Kind::kInt ||
            v[1]->i < 0 || v[2]->i < 0)
            fail("has a malformed storage view; the file is corrupt.");
        st->view_offset = v[1]->i;
        st->storage_numel = v[2]->i;
    }
    return st;
}

static bool int_list(const PyObj* o, std::vector<int64_t>* out) {
    if (o->kind != PyObj::Kind::kTuple && o->kind != PyObj::Kind::kList) return false;
    if (o->items.size() > 16) return false;
    for (const PyObj* e : o->items) {
        if (e->kind != PyObj::Kind::kInt) return false;
        out->push_back(e->i);
    }
    return true;
}

PyObj* Unpickler::call(PyObj* callable, PyObj* args) {
    if (callable->kind != PyObj::Kind::kGlobal)
        fail("calls something that is not an allowed function; the file is corrupt or hostile.");
    if (args->kind != PyObj::Kind::kTuple) fail("passes non-tuple arguments; the file is corrupt.");
    const auto& a = args->items;
    switch (allowed_globals().at(callable->s)) {
        case Callable::kOrderedDict: {
            PyObj* d = make(PyObj::Kind::kDict);
            return d;
        }
        case Callable::kRebuildTensorV2:
        case Callable::kRebuildTensor: {
            if (a.size() < 4 || a[0]->kind != PyObj::Kind::kStorage || a[1]->kind != PyObj::Kind::kInt)
                fail("has a tensor record with the wrong arguments; the file is corrupt.");
            PyObj* t = make(PyObj::Kind::kTensor);
            t->storage = a[0];
            t->offset = a[1]->i;
            if (!int_list(a[2], &t->size) || !int_list(a[3], &t->stride) || t->size.size() != t->stride.size())
                fail("has a tensor with a malformed shape or stride; the file is corrupt.");
            return t;
        }
        case Callable::kRebuildParameter:
        case Callable::kRebuildParameterWithState:
            if (a.empty() || a[0]->kind != PyObj::Kind::kTensor)
                fail("has a parameter record without a tensor; the file is corrupt.");
            return a[0];
        case Callable::kSet: {
            PyObj* l = make(PyObj::Kind::kList);
            if (!a.empty() && (a[0]->kind == PyObj::Kind::kList || a[0]->kind == PyObj::Kind::kTuple))
                l->items = a[0]->items;
            return l;
        }
        case Callable::kCodecsEncode: {
            if (a.empty() || a[0]->kind != PyObj::Kind::kStr) fail("has a malformed byte string; the file is corrupt.");
            // Protocol-2 bytes are latin-1 text: map each code point back to one byte.
            PyObj* b = make(PyObj::Kind::kBytes);
            const std::string& s = a[0]->s;
            for (size_t i = 0; i < s.size(); ++i) {
                unsigned char c = static_cast<unsigned char>(s[i]);
                if (c < 0x80) b->s.push_back(static_cast<char>(c));
                else if ((c & 0xE0) == 0xC0 && i + 1 < s.size()) {
                    b->s.push_back(static_cast<char>(((c & 0x1F) << 6) | (s[i + 1] & 0x3F)));
                    ++i;
                }
            }
            return b;
        }
        case Callable::kOpaque:
            return make(PyObj::Kind::kOpaque);
        case Callable::kStorageType:
            fail("constructs a storage directly, which torch.save never does; the file is corrupt or hostile.");
    }
    fail("calls an unknown function.");
}

PyObj* Unpickler::load() {
    stack_.clear();
    marks_.clear();
    memo_.clear();
    for (;;) {
        const uint8_t op = *take(1);
        switch (op) {
            case 0x80: take(1); break;             // PROTO
            case 0x95: take(8); break;             // FRAME
            case '.':                              // STOP
                if (stack_.empty()) fail("its pickle data ends with nothing to return; the file is corrupt.");
                return stack_.back();
            case '(': marks_.push_back(stack_.size()); break;
            case ')': stack_.push_back(make(PyObj::Kind::kTuple)); break;
            case ']': stack_.push_back(make(PyObj::Kind::kList)); break;
            case '}': stack_.push_back(make(PyObj::Kind::kDict)); break;
            case 0x8f: stack_.push_back(make(PyObj::Kind::kList)); break;  // EMPTY_SET
            case 't': { PyObj* t = make(PyObj::Kind::kTuple); t->items = pop_to_mark(); stack_.push_back(t); break; }
            case 0x85: case 0x86: case 0x87: {     // TUPLE1..3
                const int n = op - 0x84;
                PyObj* t = make(PyObj::Kind::kTuple);
                t->items.resize(n);
                for (int i = n - 1; i >= 0; --i) t->items[i] = pop();
                stack_.push_back(t);
                break;
            }
            case 0x91: { PyObj* t = make(PyObj::Kind::kList); t->items = pop_to_mark(); stack_.push_back(t); break; }  // FROZENSET
            case 'l': { PyObj* t = make(PyObj::Kind::kList); t->items = pop_to_mark(); stack_.push_back(t); break; }
            case 'd': {
                auto items = pop_to_mark();
                if (items.size() % 2) fail("has an odd dictionary; the file is corrupt.");
                PyObj* d = make(PyObj::Kind::kDict);
                for (size_t i = 0; i < items.size(); i += 2) d->dict.emplace_back(items[i], items[i + 1]);
                stack_.push_back(d);
                break;
            }
            case 'a': {                            // APPEND
                PyObj* v = pop();
                PyObj* l = pop();
                if (l->kind != PyObj::Kind::kList) fail("appends to something that is not a list; the file is corrupt.");
                l->items.push_back(v);
                stack_.push_back(l);
                break;
            }
            case 'e': case 0x90: {                 // APPENDS, ADDITEMS
                auto items = pop_to_mark();
                PyObj* l = pop();
                if (l->kind != PyObj::Kind::kList) fail("appends to something that is not a list; the file is corrupt.");
                l->items.insert(l->items.end(), items.begin(), items.end());
                stack_.push_back(l);
                break;
            }
            case 's': {                            // SETITEM
                PyObj* v = pop();
                PyObj* k = pop();
                PyObj* d = pop();
                if (d->kind != PyObj::Kind::kDict) fail("sets an item on something that is not a dict; the file is corrupt.");
                d->dict.emplace_back(k, v);
                stack_.push_back(d);
                break;
            }
            case 'u': {                            // SETITEMS
                auto items = pop_to_mark();
                PyObj* d = pop();
                if (d->kind != PyObj::Kind::kDict || items.size() % 2)
                    fail("sets items on something that is not a dict; the file is corrupt.");
                for (size_t i = 0; i < items.size(); i += 2) d->dict.emplace_back(items[i], items[i + 1]);
                stack_.push_back(d);
                break;
            }
            case 'N': stack_.push_back(make(PyObj::Kind::kNone)); break;
            case 0x88: case 0x89: { PyObj* b = make(PyObj::Kind::kBool); b->i = op == 0x88; stack_.push_back(b); break; }
            case 'J': { PyObj* o = make(PyObj::Kind::kInt); o->i = static_cast<int32_t>(read_uint(4)); stack_.push_back(o); break; }
            case 'K': { PyObj* o = make(PyObj::Kind::kInt); o->i = static_cast<int64_t>(read_uint(1)); stack_.push_back(o); break; }
            case 'M': { PyObj* o = make(PyObj::Kind::kInt); o->i = static_cast<int64_t>(read_uint(2)); stack_.push_back(o); break; }
            case 0x8a: case 0x8b: {                // LONG1, LONG4
                const uint64_t n = read_uint(op == 0x8a ? 1 : 4);
                if (n > 4096) fail("holds an integer of " + std::to_string(n) + " bytes; the file is corrupt or hostile.");
                const uint8_t* p = take(n);
                PyObj* o;
                if (n <= 8) {
                    o = make(PyObj::Kind::kInt);
                    uint64_t v = 0;
                    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
                    if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
                    o->i = static_cast<int64_t>(v);
                } else {
                    o = make(PyObj::Kind::kBigInt);
                    o->s.assign(reinterpret_cast<const char*>(p), n);
                }
                stack_.push_back(o);
                break;
            }
            case 'I': case 'L': {                  // INT, LONG (text)
                std::string line = take_line();
                if (!line.empty() && line.back() == 'L') line.pop_back();
                PyObj* o;
                if (line == "00" || line == "01") { o = make(PyObj::Kind::kBool); o->i = line == "01"; }
                else {
                    o = make(PyObj::Kind::kInt);
                    char* end = nullptr;
                    errno = 0;
                    o->i = std::strtoll(line.c_str(), &end, 10);
                    if (errno || end == line.c_str() || *end) fail("holds a malformed integer; the file is corrupt.");
                }
                stack_.push_back(o);
                break;
            }
            case 'F': {
                std::string line = take_line();
                PyObj* o = make(PyObj::Kind::kFloat);
                char* end = nullptr;
                o->f = std::strtod(line.c_str(), &end);
                if (end == line.c_str()) fail("holds a malformed float; the file is corrupt.");
                stack_.push_back(o);
                break;
            }
            case 'G': {
                uint64_t bits = 0;
                const uint8_t* p = take(8);
                for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];  // big-endian
                PyObj* o = make(PyObj::Kind::kFloat);
                std::memcpy(&o->f, &bits, 8);
                stack_.push_back(o);
                break;
            }
            case 'X': case 0x8c: case 0x8d: case 'T': case 'U': case 'B': case 'C': case 0x8e: case 0x96: {
                int width = (op == 0x8c || op == 'U' || op == 'C') ? 1 : (op == 0x8d || op == 0x8e || op == 0x96) ? 8 : 4;
                const uint64_t n = read_uint(width);
                if (n > size_ - pos_) fail("its pickle data ends inside a string; the file is truncated.");
                const uint8_t* p = take(n);
                const bool text = op == 'X' || op == 0x8c || op == 0x8d || op == 'T' || op == 'U';
                PyObj* o = make(text ? PyObj::Kind::kStr : PyObj::Kind::kBytes);
                o->s.assign(reinterpret_cast<const char*>(p), n);
                stack_.push_back(o);
                break;
            }
            case 'S': case 'V': {                  // STRING, UNICODE (text protocol)
                std::string line = take_line();
                if (op == 'S' && line.size() >= 2 && (line[0] == '\'' || line[0] == '"')) line = line.substr(1, line.size() - 2);
                PyObj* o = make(PyObj::Kind::kStr);
                o->s = line;
                stack_.push_back(o);
                break;
            }
            case 'c': {                            // GLOBAL
                std::string module = take_line();
                std::string name = take_line();
                stack_.push_back(make_global(module, name));
                break;
            }
            case 0x93: {                           // STACK_GLOBAL
                PyObj* name = pop();
                PyObj* module = pop();
                if (name->kind != PyObj::Kind::kStr || module->kind != PyObj::Kind::kStr)
                    fail("names a global with non-strings; the file is corrupt.");
                stack_.push_back(make_global(module->s, name->s));
                break;
            }
            case 'R': {                            // REDUCE
                PyObj* args = pop();
                PyObj* fn = pop();
                stack_.push_back(call(fn, args));
                break;
            }
            case 0x81: {                           // NEWOBJ
                PyObj* args = pop();
                PyObj* cls = pop();
                stack_.push_back(call(cls, args));
                break;
            }
            case 0x92: {                           // NEWOBJ_EX
                pop();
                PyObj* args = pop();
                PyObj* cls = pop();
                stack_.push_back(call(cls, args));
                break;
            }
            case 'b': {                            // BUILD
                PyObj* state = pop();
                PyObj* obj = pop();
                if (obj->kind == PyObj::Kind::kDict && state->kind == PyObj::Kind::kDict)
                    obj->dict.insert(obj->dict.end(), state->dict.begin(), state->dict.end());
                else if (obj->kind != PyObj::Kind::kOpaque && obj->kind != PyObj::Kind::kTensor &&
                         obj->kind != PyObj::Kind::kDict)
                    fail("sets state on a value that takes none; the file is corrupt or hostile.");
                stack_.push_back(obj);
                break;
            }
            case 'Q': stack_.push_back(persistent_load(pop())); break;  // BINPERSID
            case 'q': memo_[read_uint(1)] = stack_.empty() ? (fail("memoizes an empty stack; the file is corrupt."), nullptr) : stack_.back(); break;
            case 'r': memo_[read_uint(4)] = stack_.empty() ? (fail("memoizes an empty stack; the file is corrupt."), nullptr) : stack_.back(); break;
            case 0x94:
                if (stack_.empty()) fail("memoizes an empty stack; the file is corrupt.");
                memo_[memo_.size()] = stack_.back();
                break;
            case 'p': {
                std::string line = take_line();
                if (stack_.empty()) fail("memoizes an empty stack; the file is corrupt.");
                memo_[std::strtoull(line.c_str(), nullptr, 10)] = stack_.back();
                break;
            }
            case 'h': case 'j': case 'g': {        // BINGET, LONG_BINGET, GET
                uint64_t idx = op == 'g' ? std::strtoull(take_line().c_str(), nullptr, 10) : read_uint(op == 'h' ? 1 : 4);
                auto it = memo_.find(idx);
                if (it == memo_.end()) fail("refers to a value it never stored; the file is corrupt.");
                stack_.push_back(it->second);
                break;
            }
            case '0': pop(); break;                // POP
            case '1': pop_to_mark(); break;        // POP_MARK
            case '2':                              // DUP
                if (stack_.empty()) fail("duplicates an empty stack; the file is corrupt.");
                stack_.push_back(stack_.back());
                break;
            default: {
                char hex[8];
                std::snprintf(hex, sizeof hex, "0x%02x", op);
                fail(std::string("uses pickle opcode ") + hex +
                     ", which model files never contain; the file is corrupt or hostile.");
            }
        }
    }
}

}  // namespace sdgimp::io
