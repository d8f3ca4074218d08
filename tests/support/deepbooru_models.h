// Narrow DeepDanbooru taggers in the release file's layout (n_Conv_0 ... n_Conv_178, "tags" beside
// them), written as torch.save does, and A1111's forward pass transcribed op by op as the reference.
// The block numbering here is read off A1111's deepbooru_model.py, independently of the engine's.
#pragma once

#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "io/torch_checkpoint_writer.h"

namespace sdgimp::test {

struct DanbooruBlock {
    int shortcut;  // -1: identity
    int first;     // its 1x1 reduce; the 3x3 and the 1x1 expand follow
    int stride;
};

// Every bottleneck block of resnet_custom_v3 in forward order.
inline std::vector<DanbooruBlock> danbooru_blocks() {
    std::vector<DanbooruBlock> b;
    auto identities = [&](int from, int count) {
        for (int i = 0; i < count; ++i) b.push_back({-1, from + 3 * i, 1});
    };
    b.push_back({1, 2, 1});
    identities(5, 2);
    b.push_back({11, 12, 2});
    identities(15, 7);
    b.push_back({36, 37, 2});
    identities(40, 19);
    b.push_back({100, 97, 2});  // the release numbers this shortcut after its block's convolutions
    identities(101, 19);
    b.push_back({158, 159, 2});
    identities(162, 2);
    b.push_back({168, 169, 2});
    identities(172, 2);
    return b;
}

inline std::string dconv(int i) { return "n_Conv_" + std::to_string(i); }

// Random weights: stem `stem` channels, per-stage (reduce, expand) widths; `tags` scores.
inline std::map<std::string, torch::Tensor> small_danbooru(int64_t tags, int64_t stem = 4) {
    std::map<std::string, torch::Tensor> m;
    auto conv = [&](int i, int64_t out, int64_t in, int64_t k) {
        m[dconv(i) + ".weight"] = torch::randn({out, in, k, k}) * (1.2 / std::sqrt(static_cast<double>(in * k * k)));
        m[dconv(i) + ".bias"] = torch::randn({out}) * 0.1;
    };
    conv(0, stem, 3, 7);
    const int64_t reduce[6] = {2, 3, 4, 4, 5, 6}, expand[6] = {8, 8, 12, 12, 16, 20};
    int64_t width = stem, stage = -1;
    for (const auto& blk : danbooru_blocks()) {
        if (blk.shortcut >= 0) ++stage;
        conv(blk.first, reduce[stage], width, 1);
        conv(blk.first + 1, reduce[stage], reduce[stage], 3);
        conv(blk.first + 2, expand[stage], reduce[stage], 1);
        if (blk.shortcut >= 0) conv(blk.shortcut, expand[stage], width, 1);
        // Residual sums grow with depth; damp each block's own contribution.
        m[dconv(blk.first + 2) + ".weight"] *= 0.3;
        width = expand[stage];
    }
    m[dconv(178) + ".weight"] = torch::randn({tags, width, 1, 1}) * 0.5;
    return m;
}

// A1111's DeepDanbooruModel.forward, op by op: x (1, H, W, 3) in [0, 1]; the probabilities.
inline torch::Tensor danbooru_reference(const std::map<std::string, torch::Tensor>& m, const torch::Tensor& x,
                                        std::vector<int64_t>* head_size = nullptr) {
    auto conv = [&](int i, const torch::Tensor& v, int stride) {
        const auto b = m.find(dconv(i) + ".bias");
        return torch::conv2d(v, m.at(dconv(i) + ".weight"), b == m.end() ? torch::Tensor() : b->second, stride);
    };
    torch::Tensor t = x.permute({0, 3, 1, 2});
    t = torch::relu(conv(0, torch::constant_pad_nd(t, {2, 3, 2, 3}, 0), 2));
    t = torch::max_pool2d(torch::constant_pad_nd(t, {0, 1, 0, 1}, -std::numeric_limits<double>::infinity()), {3, 3}, {2, 2});
    for (const auto& blk : danbooru_blocks()) {
        const torch::Tensor skip = blk.shortcut >= 0 ? conv(blk.shortcut, t, blk.stride) : t;
        torch::Tensor y = torch::relu(conv(blk.first, t, 1));
        y = torch::constant_pad_nd(y, blk.stride == 2 ? std::vector<int64_t>{0, 1, 0, 1} : std::vector<int64_t>{1, 1, 1, 1}, 0);
        y = torch::relu(conv(blk.first + 1, y, blk.stride));
        t = torch::relu(conv(blk.first + 2, y, 1) + skip);
    }
    t = conv(178, t, 1);
    if (head_size) *head_size = t.sizes().vec();
    t = torch::avg_pool2d(t, {t.size(2), t.size(3)});
    return torch::sigmoid(t.squeeze(3).squeeze(2))[0];
}

// A tagger whose every weight is zero but the last block's expand bias (1) and the head, set so
// that tag t scores exactly `probabilities[t]` whatever the picture.
inline std::map<std::string, torch::Tensor> fixed_danbooru(const std::vector<float>& probabilities) {
    auto m = small_danbooru(static_cast<int64_t>(probabilities.size()));
    for (auto& [k, t] : m) t.zero_();
    const torch::Tensor last_bias = m.at(dconv(177) + ".bias");
    last_bias.fill_(1);
    const int64_t width = last_bias.size(0);
    torch::Tensor head = m.at(dconv(178) + ".weight");
    for (size_t t = 0; t < probabilities.size(); ++t) {
        const double p = probabilities[t];
        head[static_cast<int64_t>(t)].fill_(std::log(p / (1 - p)) / static_cast<double>(width));
    }
    return m;
}

// Writes `m` and `tags` as torch.save({...tensors, "tags": [...]}) at `path`.
inline void write_danbooru(const std::string& path, const std::map<std::string, torch::Tensor>& m, const std::vector<std::string>& tags) {
    std::vector<torch::Tensor> keep;
    std::vector<io::RawBytesTensor> raw;
    for (const auto& [k, t] : m) {
        keep.push_back(t.to(torch::kFloat).contiguous());
        const auto& c = keep.back();
        raw.push_back({k, "F32", c.sizes().vec(), static_cast<const uint8_t*>(c.data_ptr()), static_cast<size_t>(c.numel()) * 4});
    }
    io::write_torch_checkpoint(path, raw, false, {{"tags", tags}});
}

}  // namespace sdgimp::test
