#include "brownian_tree.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "../status.h"

namespace sdgimp::sampling {

namespace {

constexpr uint32_t kInitA = 0x43b0d7e5u, kMultA = 0x931e8875u, kInitB = 0x8b51f9ddu, kMultB = 0x58f38dedu;
constexpr uint32_t kMixL = 0xca01f9ddu, kMixR = 0x4973f715u;
constexpr size_t kPoolSize = 24;  // torchsde's BrownianTree default
constexpr size_t kCacheSize = 64;

uint32_t hashmix(uint32_t value, uint32_t& hash_const) {
    value ^= hash_const;
    hash_const *= kMultA;
    value *= hash_const;
    value ^= value >> 16;
    return value;
}

uint32_t mix(uint32_t x, uint32_t y) {
    uint32_t r = kMixL * x - kMixR * y;
    r ^= r >> 16;
    return r;
}

// Python's round(x, 6): the nearest 6-decimal value of the exact binary x, read back as a double.
double round6(double x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6f", x);
    return std::strtod(buf, nullptr);
}

}  // namespace

std::vector<uint32_t> int_to_words(uint64_t n) {
    std::vector<uint32_t> w;
    if (n == 0) w.push_back(0);
    while (n > 0) {
        w.push_back(static_cast<uint32_t>(n & 0xffffffffu));
        n >>= 32;
    }
    return w;
}

std::vector<uint32_t> seed_sequence_state(const std::vector<uint32_t>& entropy, const std::vector<uint32_t>& spawn_key,
                                          size_t pool_size, size_t n_words) {
    std::vector<uint32_t> assembled = entropy;
    // numpy >= 1.19 pads the run entropy to the pool size when a spawn key follows it.
    if (!spawn_key.empty() && assembled.size() < pool_size) assembled.resize(pool_size, 0);
    assembled.insert(assembled.end(), spawn_key.begin(), spawn_key.end());

    std::vector<uint32_t> pool(pool_size);
    uint32_t hc = kInitA;
    for (size_t i = 0; i < pool_size; ++i) pool[i] = hashmix(i < assembled.size() ? assembled[i] : 0, hc);
    for (size_t s = 0; s < pool_size; ++s)
        for (size_t d = 0; d < pool_size; ++d)
            if (s != d) pool[d] = mix(pool[d], hashmix(pool[s], hc));
    for (size_t s = pool_size; s < assembled.size(); ++s)
        for (size_t d = 0; d < pool_size; ++d) pool[d] = mix(pool[d], hashmix(assembled[s], hc));

    std::vector<uint32_t> out(n_words);
    uint32_t hb = kInitB;
    for (size_t i = 0; i < n_words; ++i) {
        uint32_t v = pool[i % pool_size];
        v ^= hb;
        hb *= kMultB;
        v *= hb;
        v ^= v >> 16;
        out[i] = v;
    }
    return out;
}

BrownianTree::BrownianTree(NoiseSource src, uint64_t entropy, double t0, double t1, std::vector<int64_t> shape)
    : src_(src), entropy_(entropy), shape_(std::move(shape)) {
    if (!(t0 <= t1)) throw Error(ErrorCode::kInternal, "Brownian tree needs t0 <= t1.");
    Node top;
    top.start = round6(t0);
    top.end = round6(t1);
    nodes_.push_back(top);
    const auto seeds = seed_sequence_state(int_to_words(entropy), {}, kPoolSize, 3);
    top_w_ = randn(seeds[0]) * std::sqrt(t1 - t0);
}

torch::Tensor BrownianTree::randn(uint32_t seed) const {
    return SeededGenerator(src_, seed).randn(shape_);
}

void BrownianTree::split_at_half(int idx) {
    // torchsde's _split_exact at the (rounded) midpoint: node seeds come from the node's place in the tree.
    Node& n = nodes_[static_cast<size_t>(idx)];
    n.mid = round6(0.5 * (n.end + n.start));
    if (n.parent >= 0) {
        const Node& p = nodes_[static_cast<size_t>(n.parent)];
        n.spawn_key = 2 * p.spawn_key + (n.is_left ? 0 : 1);
        n.depth = p.depth + 1;
    }
    std::vector<uint32_t> key = int_to_words(n.spawn_key);
    for (uint32_t w : int_to_words(n.depth)) key.push_back(w);
    n.w_seed = seed_sequence_state(int_to_words(entropy_), key, kPoolSize, 4)[0];
    n.split = true;
    Node left, right;
    left.start = n.start;
    left.end = n.mid;
    left.parent = idx;
    left.is_left = true;
    right.start = n.mid;
    right.end = n.end;
    right.parent = idx;
    const int li = static_cast<int>(nodes_.size());
    nodes_[static_cast<size_t>(idx)].left = li;
    nodes_[static_cast<size_t>(idx)].right = li + 1;
    nodes_.push_back(left);
    nodes_.push_back(right);
}

void BrownianTree::split_halfway(int idx, double target) {
    for (;;) {
        split_at_half(idx);
        const Node& n = nodes_[static_cast<size_t>(idx)];
        if (target > n.mid) idx = n.right;
        else if (target < n.mid) idx = n.left;
        else return;
    }
}

void BrownianTree::locate(int idx, double ta, double tb, std::vector<int>& out) {
    for (;;) {
        const Node& n = nodes_[static_cast<size_t>(idx)];
        if (ta == n.start && tb == n.end) {
            out.push_back(idx);
            return;
        }
        if (!n.split) {
            split_halfway(idx, ta == n.start ? tb : ta);
            continue;  // the node now has children; decide again
        }
        const Node& s = nodes_[static_cast<size_t>(idx)];
        if (tb <= s.mid) {
            idx = s.left;
        } else if (ta >= s.mid) {
            idx = s.right;
        } else {
            const int right = s.right;
            const double mid = s.mid;
            locate(s.left, ta, mid, out);
            idx = right;
            ta = mid;
        }
    }
}

torch::Tensor BrownianTree::node_increment(int idx) {
    if (idx == 0) return top_w_;
    auto hit = cache_.find(idx);
    if (hit != cache_.end()) return hit->second;
    const Node n = nodes_[static_cast<size_t>(idx)];
    const Node p = nodes_[static_cast<size_t>(n.parent)];
    const torch::Tensor w = node_increment(n.parent);
    // The Brownian bridge: the left part of the parent's increment given its total.
    const double h_recip = 1 / (p.end - p.start);
    const double left_diff = p.mid - p.start, right_diff = p.end - p.mid;
    const torch::Tensor mean = w * left_diff * h_recip;
    const double var = left_diff * right_diff * h_recip;
    const torch::Tensor left_w = mean + randn(p.w_seed) * std::sqrt(var);
    torch::Tensor out = n.is_left ? left_w : w - left_w;
    cache_[idx] = out;
    cache_order_.push_back(idx);
    if (cache_order_.size() > kCacheSize) {
        cache_.erase(cache_order_.front());
        cache_order_.pop_front();
    }
    return out;
}

torch::Tensor BrownianTree::increment(double ta, double tb) {
    const Node& top = nodes_[0];
    ta = std::min(std::max(ta, top.start), top.end);
    tb = std::min(std::max(tb, top.start), top.end);
    if (ta > tb) throw Error(ErrorCode::kInternal, "Brownian tree queried backwards.");
    if (ta == tb) return torch::zeros(shape_, torch::kFloat);
    ta = round6(ta);
    tb = round6(tb);
    if (ta == tb) return torch::zeros(shape_, torch::kFloat);
    std::vector<int> parts;
    locate(0, ta, tb, parts);
    torch::Tensor w = node_increment(parts[0]);
    for (size_t i = 1; i < parts.size(); ++i) w = w + node_increment(parts[i]);
    return w;
}

BrownianNoise::BrownianNoise(NoiseSource src, const std::vector<uint64_t>& seeds, const torch::Tensor& sigma_min,
                             const torch::Tensor& sigma_max, std::vector<int64_t> image_shape) {
    const double a = sigma_min.item<float>(), b = sigma_max.item<float>();
    for (uint64_t s : seeds) trees_.emplace_back(src, s, std::min(a, b), std::max(a, b), image_shape);
}

torch::Tensor BrownianNoise::operator()(const torch::Tensor& sigma, const torch::Tensor& sigma_next) {
    const double a = sigma.item<float>(), b = sigma_next.item<float>();
    const bool forward = a < b;
    std::vector<torch::Tensor> ws;
    for (auto& t : trees_) ws.push_back(forward ? t.increment(a, b) : t.increment(b, a));
    torch::Tensor w = torch::stack(ws);
    if (!forward) w = -w;
    return w / (sigma_next - sigma).abs().sqrt();
}

}  // namespace sdgimp::sampling
