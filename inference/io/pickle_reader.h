// A restricted unpickler for torch.save files. Pickles are untrusted: this VM never calls
// anything. It rebuilds only containers, plain values, storages (persistent ids) and tensors
// (_rebuild_tensor_v2 and friends); a short list of harmless metadata classes becomes an inert
// placeholder, and every other global is refused with a clear error.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "raw_tensor.h"

namespace sdgimp::io {

struct PyObj {
    enum class Kind { kNone, kBool, kInt, kBigInt, kFloat, kStr, kBytes, kTuple, kList, kDict,
                      kGlobal, kStorage, kTensor, kOpaque };
    Kind kind = Kind::kNone;
    int64_t i = 0;        // bool, int
    double f = 0;
    std::string s;        // str, bytes, big-int bytes (little-endian two's complement), global name
    std::vector<PyObj*> items;                          // tuple, list
    std::vector<std::pair<PyObj*, PyObj*>> dict;        // dict (insertion order)
    // storage (from a persistent id)
    DType dtype = DType::kF32;
    std::string storage_key;
    int64_t storage_numel = 0;
    int64_t view_offset = 0;  // legacy storage views: element offset into the root storage
    // tensor
    PyObj* storage = nullptr;
    int64_t offset = 0;
    std::vector<int64_t> size, stride;

    bool is_str(const char* v) const { return kind == Kind::kStr && s == v; }
    PyObj* get(const std::string& key) const;  // dict lookup by string key, or nullptr
};

class Unpickler {
public:
    // `file` names the source in error messages.
    Unpickler(const uint8_t* data, size_t size, std::string file);
    ~Unpickler();

    // Runs one pickle from the current position to its STOP; returns the object.
    PyObj* load();
    size_t position() const { return pos_; }

private:
    PyObj* make(PyObj::Kind k);
    [[noreturn]] void fail(const std::string& why) const;
    const uint8_t* take(size_t n);
    std::string take_line();
    uint64_t read_uint(int n);
    PyObj* pop();
    std::vector<PyObj*> pop_to_mark();
    PyObj* make_global(const std::string& module, const std::string& name);
    PyObj* call(PyObj* callable, PyObj* args);
    PyObj* persistent_load(PyObj* pid);

    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
    std::string file_;
    std::vector<std::unique_ptr<PyObj>> arena_;
    std::vector<PyObj*> stack_;
    std::vector<size_t> marks_;
    std::unordered_map<uint64_t, PyObj*> memo_;
};

}  // namespace sdgimp::io
