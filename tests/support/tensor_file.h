// Reference tensors from the oracle's .safetensors files as torch tensors.
#pragma once

#include <map>
#include <string>
#include <torch/torch.h>

#include "io/safetensors_reader.h"
#include "models/state_loader.h"

namespace sdgimp::test {

struct TensorFile {
    std::map<std::string, torch::Tensor> t;
    std::map<std::string, std::string> meta;
    bool has(const std::string& k) const { return t.count(k) > 0; }
    const torch::Tensor& operator[](const std::string& k) const {
        auto it = t.find(k);
        if (it == t.end()) throw std::runtime_error("reference tensor missing: " + k);
        return it->second;
    }
};

inline TensorFile load_tensor_file(const std::string& path) {
    auto st = io::read_safetensors(io::MappedFile::open(path));
    TensorFile f;
    for (const auto& kv : st.tensors) f.t[kv.first] = models::to_torch(kv.second);
    f.meta = st.metadata;
    return f;
}

inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
    return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

// |a - b| <= atol + rtol * |b| everywhere
inline bool all_close(const torch::Tensor& a, const torch::Tensor& b, double atol, double rtol) {
    if (a.sizes() != b.sizes()) return false;
    auto ad = a.to(torch::kDouble), bd = b.to(torch::kDouble);
    return ((ad - bd).abs() <= atol + rtol * bd.abs()).all().item<bool>();
}

}  // namespace sdgimp::test
