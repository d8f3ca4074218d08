#include "state_loader.h"

#include <cmath>
#include <set>
#include <sstream>

#include "../io/checkpoint_keys.h"
#include "module_slots.h"

namespace sdgimp::models {
namespace {

torch::Dtype torch_dtype(io::DType d) {
    switch (d) {
        case io::DType::kF64: return torch::kDouble;
        case io::DType::kF32: return torch::kFloat;
        case io::DType::kF16: return torch::kHalf;
        case io::DType::kBF16: return torch::kBFloat16;
        case io::DType::kI64: return torch::kLong;
        case io::DType::kI32: return torch::kInt;
        case io::DType::kI16: return torch::kShort;
        case io::DType::kI8: return torch::kChar;
        case io::DType::kU8: return torch::kByte;
        case io::DType::kBool: return torch::kBool;
    }
    return torch::kFloat;
}

std::string shape_str(c10::IntArrayRef s) {
    std::ostringstream o;
    o << "[";
    for (size_t i = 0; i < s.size(); ++i) o << (i ? "," : "") << s[i];
    o << "]";
    return o.str();
}

}  // namespace

torch::Tensor to_torch(const io::RawTensor& t) {
    // from_blob never writes; the clone detaches the result from the file mapping.
    auto view = torch::from_blob(const_cast<uint8_t*>(t.data), t.shape, t.strides, [](void*) {},
                                 torch::TensorOptions().dtype(torch_dtype(t.dtype)))
                    .as_strided(t.shape, t.strides, t.storage_offset);
    return view.clone(torch::MemoryFormat::Contiguous);
}

torch::Tensor file_backed(const io::RawTensor& t, torch::Dtype dtype) {
    const auto own = torch_dtype(t.dtype);
    const size_t elem = c10::elementSize(own);
    const uint8_t* first = t.data + t.storage_offset * static_cast<int64_t>(elem);
    const bool aligned = reinterpret_cast<uintptr_t>(first) % elem == 0;
    if (!t.owner || own != dtype || !t.is_contiguous() || !aligned) return to_torch(t).to(dtype);
    // The tensor reads the mapped file directly (pages come in from the page cache on first use);
    // its deleter holds the mapping open for as long as the tensor lives. The mapping is private
    // and writable, so a write would touch a private copy of the page, never the file.
    auto owner = t.owner;
    return torch::from_blob(const_cast<uint8_t*>(first), t.shape, [owner](void*) {}, torch::TensorOptions().dtype(own));
}

torch::Tensor file_backed(const io::RawTensor& t) { return file_backed(t, torch_dtype(t.dtype)); }

LoadReport load_state(torch::nn::Module& m, const io::TensorMap& tensors, const std::string& prefix, torch::Dtype dtype) {
    LoadReport r;
    torch::NoGradGuard no_grad;
    std::set<std::string> used;
    auto copy_into = [&](const std::string& name, torch::Tensor& dst) {
        const std::string key = prefix + name;
        auto it = tensors.find(key);
        if (it == tensors.end()) {
            if (!io::is_optional_module_key(key)) r.missing.push_back(key);
            return;
        }
        used.insert(key);
        const io::RawTensor& raw = it->second;
        if (c10::IntArrayRef(raw.shape) != dst.sizes()) {
            r.mismatched.push_back(key + ": file " + shape_str(raw.shape) + " vs model " + shape_str(dst.sizes()));
            return;
        }
        const auto target = dst.is_floating_point() ? dtype : dst.scalar_type();
        dst.set_data(file_backed(raw, target));
        ++r.loaded;
    };
    for (auto& p : m.named_parameters(true)) copy_into(p.key(), p.value());
    for (auto& b : m.named_buffers(true)) copy_into(b.key(), b.value());
    for (const auto& kv : tensors) {
        if (kv.first.compare(0, prefix.size(), prefix) != 0 || used.count(kv.first)) continue;
        if (!io::is_known_non_module_key(kv.first)) r.unexpected.push_back(kv.first);
    }
    return r;
}

void init_random_weights(torch::nn::Module& m) {
    torch::NoGradGuard ng;
    auto params = m.named_parameters(true);
    for (auto& kv : params) {
        const std::string& name = kv.key();
        torch::Tensor& w = kv.value();
        if (w.dim() < 2 || name.size() < 7 || name.compare(name.size() - 7, 7, ".weight") != 0) continue;
        const double bound = 1.0 / std::sqrt(static_cast<double>(w.numel() / w.size(0)));
        w.uniform_(-bound, bound);
        const std::string bias = name.substr(0, name.size() - 7) + ".bias";
        if (params.contains(bias)) params[bias].uniform_(-bound, bound);
    }
}

void clear_conv_weight_forms(torch::nn::Module& m) {
    for (const auto& child : m.modules(/*include_self=*/true))
        if (auto* conv = dynamic_cast<Conv2dImpl*>(child.get())) conv->cache.clear();
}

void set_circular_padding(torch::nn::Module& m, bool on) {
    for (const auto& child : m.modules(/*include_self=*/true))
        if (auto* conv = dynamic_cast<Conv2dImpl*>(child.get())) conv->circular = on;
}

torch::Tensor circular_pad(const torch::Tensor& x, int64_t p) {
    namespace F = torch::nn::functional;
    const torch::Tensor y = F::pad(x, F::PadFuncOptions({p, p, p, p}).mode(torch::kCircular));
    return x.is_contiguous(torch::MemoryFormat::ChannelsLast) && !x.is_contiguous() ? y.contiguous(torch::MemoryFormat::ChannelsLast) : y;
}

void channels_last_weights(torch::nn::Module& m) {
    for (auto& p : m.parameters())
        if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
}

}  // namespace sdgimp::models
