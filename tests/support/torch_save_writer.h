// Writes small torch.save zip archives for loader tests: a Python value tree (dicts with string or
// integer keys, OrderedDict state dicts carrying _metadata as torch writes them, lists, tuples,
// numbers, strings, None, bools and float32 tensors) pickled with protocol 2.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "zip_writer.h"

namespace sdgimp::test {

struct Py {
    enum class Kind { kNone, kBool, kInt, kFloat, kStr, kList, kTuple, kDict, kStateDict, kTensor };
    Kind kind = Kind::kNone;
    int64_t i = 0;
    double f = 0;
    std::string s;
    std::vector<Py> items;
    std::vector<std::pair<Py, Py>> dict;
    torch::Tensor tensor;

    static Py none() { return {}; }
    static Py boolean(bool b) { Py p; p.kind = Kind::kBool; p.i = b; return p; }
    static Py integer(int64_t v) { Py p; p.kind = Kind::kInt; p.i = v; return p; }
    static Py number(double v) { Py p; p.kind = Kind::kFloat; p.f = v; return p; }
    static Py str(std::string v) { Py p; p.kind = Kind::kStr; p.s = std::move(v); return p; }
    static Py list(std::vector<Py> v) { Py p; p.kind = Kind::kList; p.items = std::move(v); return p; }
    static Py tuple(std::vector<Py> v) { Py p; p.kind = Kind::kTuple; p.items = std::move(v); return p; }
    static Py dict_of(std::vector<std::pair<Py, Py>> v) { Py p; p.kind = Kind::kDict; p.dict = std::move(v); return p; }
    static Py state_dict(std::vector<std::pair<std::string, torch::Tensor>> v) {
        Py p;
        p.kind = Kind::kStateDict;
        for (auto& [k, t] : v) p.dict.emplace_back(str(k), tensor_of(t));
        return p;
    }
    static Py tensor_of(torch::Tensor t) { Py p; p.kind = Kind::kTensor; p.tensor = t.to(torch::kFloat).contiguous(); return p; }
};

class TorchSaveWriter {
public:
    std::string archive(const Py& root) {
        out_ = "\x80\x02";
        put(root);
        out_ += '.';
        std::vector<ZipInput> entries = {{"archive/data.pkl", out_}, {"archive/byteorder", "little"}};
        for (size_t k = 0; k < storages_.size(); ++k) entries.push_back({"archive/data/" + std::to_string(k), storages_[k]});
        entries.push_back({"archive/version", "3\n"});
        return make_zip(entries);
    }

private:
    void put_str(const std::string& v) {
        out_ += 'X';
        put_le(out_, v.size(), 4);
        out_ += v;
    }
    void put_int(int64_t v) {
        out_ += 'J';
        put_le(out_, static_cast<uint32_t>(static_cast<int32_t>(v)), 4);
    }
    void put_tuple_of_ints(const std::vector<int64_t>& v) {
        out_ += '(';
        for (int64_t x : v) put_int(x);
        out_ += 't';
    }
    void put(const Py& p) {
        switch (p.kind) {
            case Py::Kind::kNone: out_ += 'N'; break;
            case Py::Kind::kBool: out_ += p.i ? '\x88' : '\x89'; break;
            case Py::Kind::kInt: put_int(p.i); break;
            case Py::Kind::kFloat: {
                out_ += 'G';
                uint64_t bits;
                std::memcpy(&bits, &p.f, 8);
                for (int b = 7; b >= 0; --b) out_.push_back(static_cast<char>((bits >> (8 * b)) & 0xff));
                break;
            }
            case Py::Kind::kStr: put_str(p.s); break;
            case Py::Kind::kList:
                out_ += ']';
                if (!p.items.empty()) {
                    out_ += '(';
                    for (const auto& x : p.items) put(x);
                    out_ += 'e';
                }
                break;
            case Py::Kind::kTuple:
                out_ += '(';
                for (const auto& x : p.items) put(x);
                out_ += 't';
                break;
            case Py::Kind::kDict:
            case Py::Kind::kStateDict:
                if (p.kind == Py::Kind::kStateDict) out_ += "ccollections\nOrderedDict\n)R";
                else out_ += '}';
                if (!p.dict.empty()) {
                    out_ += '(';
                    for (const auto& [k, v] : p.dict) {
                        put(k);
                        put(v);
                    }
                    out_ += 'u';
                }
                // Module.state_dict() carries its version table as the OrderedDict's state.
                if (p.kind == Py::Kind::kStateDict) {
                    out_ += "}(";
                    put_str("_metadata");
                    out_ += "ccollections\nOrderedDict\n)R(";
                    put_str("");
                    out_ += "}(";
                    put_str("version");
                    put_int(1);
                    out_ += "uuub";
                }
                break;
            case Py::Kind::kTensor: {
                const auto& t = p.tensor;
                const std::string key = std::to_string(storages_.size());
                storages_.emplace_back(reinterpret_cast<const char*>(t.data_ptr<float>()), t.numel() * 4);
                out_ += "ctorch._utils\n_rebuild_tensor_v2\n((";
                put_str("storage");
                out_ += "ctorch\nFloatStorage\n";
                put_str(key);
                put_str("cpu");
                put_int(t.numel());
                out_ += "tQ";
                put_int(0);
                put_tuple_of_ints(t.sizes().vec());
                put_tuple_of_ints(t.strides().vec());
                out_ += "\x89" "ccollections\nOrderedDict\n)Rt" "R";
                break;
            }
        }
    }
    std::string out_;
    std::vector<std::string> storages_;
};

inline std::string torch_save_zip(const Py& root) { return TorchSaveWriter().archive(root); }

}  // namespace sdgimp::test
