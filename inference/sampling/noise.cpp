#include "noise.h"

#include <ATen/CPUGeneratorImpl.h>
#include <cmath>

namespace sdgimp::sampling {

namespace {

inline void philox_round(uint32_t c[4], const uint32_t k[2]) {
    const uint64_t p0 = uint64_t(c[0]) * 0xD2511F53u, p1 = uint64_t(c[2]) * 0xCD9E8D57u;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c[1] ^ k[0], n1 = uint32_t(p1);
    const uint32_t n2 = uint32_t(p0 >> 32) ^ c[3] ^ k[1], n3 = uint32_t(p0);
    c[0] = n0; c[1] = n1; c[2] = n2; c[3] = n3;
}

}  // namespace

torch::Tensor nv_randn(uint64_t seed, uint64_t offset, int64_t n) {
    auto out = torch::empty({n}, torch::kFloat);
    float* o = out.data_ptr<float>();
    const float a = 2.3283064e-10f, b = 2.3283064e-10f * 6.2831855f;
    const double ha = static_cast<double>(a / 2.0f), hb = static_cast<double>(b / 2.0f);
    for (int64_t i = 0; i < n; ++i) {
        uint32_t c[4] = {uint32_t(offset), 0, uint32_t(i), 0};
        uint32_t k[2] = {uint32_t(seed & 0xffffffffu), uint32_t(seed >> 32)};
        for (int r = 0; r < 10; ++r) {
            philox_round(c, k);
            if (r < 9) { k[0] += 0x9E3779B9u; k[1] += 0xBB67AE85u; }
        }
        const double u = double(c[0]) * double(a) + ha, v = double(c[1]) * double(b) + hb;
        o[i] = static_cast<float>(std::sqrt(-2.0 * std::log(u)) * std::sin(v));
    }
    return out;
}

SeededGenerator::SeededGenerator(NoiseSource src, uint64_t seed) : src_(src), seed_(seed) {
    if (src == NoiseSource::kCPU) cpu_ = at::detail::createCPUGenerator(seed);
}

torch::Tensor SeededGenerator::randn(c10::IntArrayRef shape) {
    if (src_ == NoiseSource::kCPU) {
        return torch::randn(shape, cpu_, torch::kFloat);
    }
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return nv_randn(seed_, offset_++, n).view(shape);
}

std::vector<uint64_t> batch_seeds(uint64_t seed, int count, double variation_strength) {
    std::vector<uint64_t> out;
    for (int i = 0; i < count; ++i) out.push_back(variation_strength != 0 ? seed : seed + static_cast<uint64_t>(i));
    return out;
}

torch::Tensor slerp(double val, const torch::Tensor& low, const torch::Tensor& high) {
    auto low_n = low / torch::norm(low, 2, {1}, true);
    auto high_n = high / torch::norm(high, 2, {1}, true);
    auto dot = (low_n * high_n).sum(1);
    // Nearly parallel: a linear mix, with the weights as A1111 writes them (swapped).
    if (dot.mean().item<float>() > 0.9995f) return low * val + high * (1 - val);
    auto omega = torch::acos(dot);
    auto so = torch::sin(omega);
    return (torch::sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (torch::sin(val * omega) / so).unsqueeze(1) * high;
}

ImageRNG::ImageRNG(NoiseSource src, std::vector<uint64_t> seeds, std::vector<int64_t> shape, int64_t ensd,
                   Variation variation)
    : src_(src), seeds_(std::move(seeds)), shape_(std::move(shape)), ensd_(ensd), var_(std::move(variation)) {
    for (uint64_t s : seeds_) gens_.emplace_back(src_, s);
}

torch::Tensor ImageRNG::first() {
    std::vector<int64_t> noise_shape = shape_;
    const bool resized = var_.resize_from_w > 0 && var_.resize_from_h > 0;
    if (resized) noise_shape = {shape_[0], var_.resize_from_h / 8, var_.resize_from_w / 8};
    const bool same_shape = noise_shape == shape_;
    std::vector<torch::Tensor> xs;
    for (size_t i = 0; i < gens_.size(); ++i) {
        torch::Tensor subnoise;
        if (var_.strength != 0) {
            const uint64_t sub = i < var_.subseeds.size() ? var_.subseeds[i] : 0;
            subnoise = SeededGenerator(src_, sub).randn(noise_shape);
        }
        torch::Tensor noise = same_shape ? gens_[i].randn(shape_) : SeededGenerator(src_, seeds_[i]).randn(noise_shape);
        if (subnoise.defined()) noise = slerp(var_.strength, noise, subnoise);
        if (!same_shape) {
            auto x = gens_[i].randn(shape_);
            int64_t dx = (shape_[2] - noise_shape[2]);
            int64_t dy = (shape_[1] - noise_shape[1]);
            dx = dx >= 0 ? dx / 2 : -((-dx + 1) / 2);  // Python's floor division
            dy = dy >= 0 ? dy / 2 : -((-dy + 1) / 2);
            const int64_t w = dx >= 0 ? noise_shape[2] : noise_shape[2] + 2 * dx;
            const int64_t h = dy >= 0 ? noise_shape[1] : noise_shape[1] + 2 * dy;
            const int64_t tx = std::max<int64_t>(dx, 0), ty = std::max<int64_t>(dy, 0);
            const int64_t sx = std::max<int64_t>(-dx, 0), sy = std::max<int64_t>(-dy, 0);
            if (w > 0 && h > 0)
                x.slice(1, ty, ty + h).slice(2, tx, tx + w).copy_(noise.slice(1, sy, sy + h).slice(2, sx, sx + w));
            noise = x;
        }
        xs.push_back(noise);
    }
    if (ensd_ != 0) {
        gens_.clear();
        for (uint64_t s : seeds_) gens_.emplace_back(src_, s + static_cast<uint64_t>(ensd_));
    }
    return torch::stack(xs);
}

torch::Tensor ImageRNG::next() {
    std::vector<torch::Tensor> xs;
    for (auto& g : gens_) xs.push_back(g.randn(shape_));
    return torch::stack(xs);
}

}  // namespace sdgimp::sampling
