// The Brownian-motion noise that A1111's SDE samplers (DPM++ SDE, DPM++ 2M/3M SDE) draw: one
// torchsde 0.2.6 BrownianTree per image, seeded with the image's seed, so a batch's images do not
// depend on each other. Reproducing the values needs the same dyadic tree, the same decimal rounding
// of its nodes, numpy's SeedSequence for the node seeds and A1111's randn for the leaves.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <torch/torch.h>
#include <vector>

#include "noise.h"

namespace sdgimp::sampling {

// numpy.random.SeedSequence(entropy, spawn_key, pool_size).generate_state(n_words).
std::vector<uint32_t> seed_sequence_state(const std::vector<uint32_t>& entropy, const std::vector<uint32_t>& spawn_key,
                                          size_t pool_size, size_t n_words);
// numpy's split of a non-negative integer into 32-bit words, lowest first ([0] for 0).
std::vector<uint32_t> int_to_words(uint64_t n);

// torchsde's BrownianTree(t0, w0 = 0, t1, entropy, tol 1e-6, pool_size 24) over one image.
class BrownianTree {
public:
    BrownianTree(NoiseSource src, uint64_t entropy, double t0, double t1, std::vector<int64_t> shape);
    // W(tb) - W(ta) for ta <= tb (clamped to the tree's interval, as torchsde does).
    torch::Tensor increment(double ta, double tb);

private:
    struct Node {
        double start = 0, end = 0, mid = 0;
        int parent = -1, left = -1, right = -1;
        bool is_left = false, split = false;
        uint64_t spawn_key = 0, depth = 0;
        uint32_t w_seed = 0;
    };
    void split_halfway(int node, double target);
    void split_at_half(int node);
    void locate(int node, double ta, double tb, std::vector<int>& out);
    torch::Tensor node_increment(int node);
    torch::Tensor randn(uint32_t seed) const;

    NoiseSource src_;
    uint64_t entropy_;
    std::vector<int64_t> shape_;
    std::vector<Node> nodes_;
    torch::Tensor top_w_;
    std::map<int, torch::Tensor> cache_;  // recent node increments; values never change, so any policy is exact
    std::list<int> cache_order_;
};

// k-diffusion's BrownianTreeNoiseSampler over a batch: noise(sigma, sigma_next) =
// (W(sigma_next) - W(sigma)) / sqrt(|sigma_next - sigma|), one tree per image seed.
class BrownianNoise {
public:
    BrownianNoise(NoiseSource src, const std::vector<uint64_t>& seeds, const torch::Tensor& sigma_min,
                  const torch::Tensor& sigma_max, std::vector<int64_t> image_shape);
    torch::Tensor operator()(const torch::Tensor& sigma, const torch::Tensor& sigma_next);

private:
    std::vector<BrownianTree> trees_;
};

}  // namespace sdgimp::sampling
