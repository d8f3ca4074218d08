#include "state_loader.h"

#include <set>
#include <sstream>

#include "../io/checkpoint_keys.h"

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
        auto src = to_torch(raw);
        const auto target = dst.is_floating_point() ? dtype : dst.scalar_type();
        dst.set_data(src.to(target));
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

}  // namespace sdgimp::models
