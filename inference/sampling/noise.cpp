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

ImageRNG::ImageRNG(NoiseSource src, std::vector<uint64_t> seeds, std::vector<int64_t> shape, int64_t ensd)
    : src_(src), seeds_(std::move(seeds)), shape_(std::move(shape)), ensd_(ensd) {
    for (uint64_t s : seeds_) gens_.emplace_back(src_, s);
}

torch::Tensor ImageRNG::first() {
    std::vector<torch::Tensor> xs;
    for (auto& g : gens_) xs.push_back(g.randn(shape_));
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
