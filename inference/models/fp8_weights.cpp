#include "fp8_weights.h"

#include <cmath>
#include <limits>

#include <ATen/Parallel.h>

#include "../status.h"
#include "module_slots.h"

namespace sdgimp::models {

float e4m3fn_round(float f) {
    const float a = std::fabs(f);
    // 464 is the midpoint between the largest value, 448, and 480, whose code is NaN in this format:
    // a tie goes to 448 (even mantissa), anything above it to NaN.
    if (!(a <= 464.0f)) return std::numeric_limits<float>::quiet_NaN();
    int e = 0;
    std::frexp(a, &e);                          // a = m * 2^e with m in [0.5, 1)
    const int exponent = std::max(e - 1, -6);  // below 2^-6 the subnormals share 2^-6's step
    const float step = std::ldexp(1.0f, exponent - 3);
    // a / step is exact (a power of two apart) and below 2^5: nearbyint's default mode rounds ties to even.
    return std::copysign(std::nearbyint(a / step) * step, f);
}

torch::Tensor e4m3fn_rounded(const torch::Tensor& t) {
    torch::NoGradGuard ng;
    if (!t.is_cpu()) return e4m3fn_rounded(t.to(torch::kCPU)).to(t.device());
    torch::Tensor f = t.to(torch::kFloat).contiguous();
    if (f.data_ptr() == t.data_ptr()) f = f.clone();  // never round the caller's (mapped, read-only) tensor
    float* p = f.data_ptr<float>();
    at::parallel_for(0, f.numel(), 1 << 16, [p](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) p[i] = e4m3fn_round(p[i]);
    });
    // Every rounded value is exact in float16 and bfloat16 too, so converting back loses nothing.
    return f.to(t.scalar_type()).view(t.sizes()).contiguous(t.suggest_memory_format());
}

void Fp8Weights::apply(LatentDiffusion& net) {
    restore();
    torch::NoGradGuard ng;
    std::vector<std::pair<torch::Tensor, torch::Tensor>> rounded;  // parameter, rounded data
    auto take = [&](const std::string& name, torch::Tensor& param) {
        if (!param.defined()) return;
        torch::Tensor r = e4m3fn_rounded(param.detach());
        if (!torch::isfinite(r).all().item<bool>())
            throw Error(ErrorCode::kInvalidRequest, "FP8 weight cannot hold the layer " + name +
                                                        " (its values reach beyond 464); turn FP8 weight off for this checkpoint.");
        rounded.emplace_back(param, std::move(r));
    };
    for (const auto& item : net->named_modules()) {
        if (item.key().rfind("first_stage_model", 0) == 0) continue;  // A1111 leaves the VAE as it is
        if (auto* c = item.value()->as<Conv2dImpl>()) {
            take(item.key() + ".weight", c->weight);
            take(item.key() + ".bias", c->bias);
        } else if (auto* l = item.value()->as<LinearImpl>()) {
            take(item.key() + ".weight", l->weight);
            take(item.key() + ".bias", l->bias);
        }
    }
    // Kept on the host: on a GPU the rounded copies take the originals' place rather than doubling them.
    for (auto& [param, r] : rounded) {
        index_[param.unsafeGetTensorImpl()] = saved_.size();
        saved_.emplace_back(param, param.detach().to(torch::kCPU));
        param.set_data(r);
    }
}

void Fp8Weights::restore() {
    torch::NoGradGuard ng;
    for (auto& [param, original] : saved_) param.set_data(original.to(param.device()));
    saved_.clear();
    index_.clear();
}

const torch::Tensor* Fp8Weights::original_of(const torch::Tensor& param) const {
    auto it = index_.find(param.unsafeGetTensorImpl());
    return it == index_.end() ? nullptr : &saved_[it->second].second;
}

}  // namespace sdgimp::models
