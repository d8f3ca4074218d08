#include "scunet.h"

#include <cmath>
#include <limits>

#include "../io/checkpoint_file.h"
#include "../status.h"

namespace sdgimp::models {
namespace {

namespace F = torch::nn::functional;
const std::string kNotScunet = "; the file is damaged or not a SCUNet model.";

}  // namespace

torch::Tensor scunet_attention_mask(int64_t hw, int64_t ww, int p) {
    const int s = p - p / 2;
    torch::Tensor m = torch::zeros({hw, ww, p, p, p, p}, torch::kBool);
    // Only the last row and column of windows hold pixels from both sides of the wrap.
    m.select(0, hw - 1).slice(1, 0, s).slice(3, s, p).fill_(true);
    m.select(0, hw - 1).slice(1, s, p).slice(3, 0, s).fill_(true);
    m.select(1, ww - 1).slice(2, 0, s).slice(4, s, p).fill_(true);
    m.select(1, ww - 1).slice(2, s, p).slice(4, 0, s).fill_(true);
    return m.reshape({hw * ww, p * p, p * p});
}

torch::Tensor ScunetAttention::forward(const torch::Tensor& input) const {
    const int p = window, half = window / 2;
    torch::Tensor x = shifted ? torch::roll(input, {-half, -half}, {1, 2}) : input;
    const int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3), hw = h / p, ww = w / p, n = static_cast<int64_t>(p) * p;
    const int64_t heads = c / head_dim;
    x = x.view({b, hw, p, ww, p, c}).permute({0, 1, 3, 2, 4, 5}).reshape({b, hw * ww, n, c});
    const torch::Tensor qkv = torch::linear(x, qkv_w, qkv_b).view({b, hw * ww, n, 3 * heads, head_dim}).permute({3, 0, 1, 2, 4});
    const torch::Tensor q = qkv.slice(0, 0, heads), k = qkv.slice(0, heads, 2 * heads), v = qkv.slice(0, 2 * heads, 3 * heads);
    torch::Tensor sim = torch::matmul(q, k.transpose(-2, -1)) * std::pow(static_cast<double>(head_dim), -0.5);  // (h, b, nW, n, n)
    // Relative embedding: rel[:, yi - yj + p - 1, xi - xj + p - 1].
    const torch::Tensor coords = torch::arange(n, torch::kLong), rows = torch::div(coords, p, "floor");
    const torch::Tensor dy = rows.unsqueeze(1) - rows.unsqueeze(0) + (p - 1);
    const torch::Tensor dx = (coords % p).unsqueeze(1) - (coords % p).unsqueeze(0) + (p - 1);
    const torch::Tensor emb = rel.index({torch::indexing::Slice(), dy, dx});  // (heads, n, n)
    sim = sim + emb.unsqueeze(1).unsqueeze(1);
    if (shifted) sim = sim.masked_fill(scunet_attention_mask(hw, ww, p), -std::numeric_limits<float>::infinity());
    torch::Tensor o = torch::matmul(torch::softmax(sim, -1), v);  // (h, b, nW, n, hd)
    o = o.permute({1, 2, 3, 0, 4}).reshape({b, hw * ww, n, c});
    o = torch::linear(o, out_w, out_b);
    o = o.view({b, hw, ww, p, p, -1}).permute({0, 1, 3, 2, 4, 5}).reshape({b, h, w, -1});
    return shifted ? torch::roll(o, {half, half}, {1, 2}) : o;
}

torch::Tensor SCUNet::Block::forward(const torch::Tensor& x) const {
    const auto parts = torch::conv2d(x, conv1_1_w, conv1_1_b).split_with_sizes({conv_dim, x.size(1) - conv_dim}, 1);
    torch::Tensor conv_x = parts[0], trans_x = parts[1].permute({0, 2, 3, 1});
    conv_x = torch::conv2d(torch::relu(torch::conv2d(conv_x, conv_a, {}, 1, 1)), conv_b, {}, 1, 1) + conv_x;
    const int64_t c = trans_x.size(3);
    trans_x = trans_x + attn.forward(F::layer_norm(trans_x, F::LayerNormFuncOptions({c}).weight(ln1_w).bias(ln1_b).eps(1e-5)));
    trans_x = trans_x + torch::linear(torch::gelu(torch::linear(F::layer_norm(trans_x, F::LayerNormFuncOptions({c}).weight(ln2_w).bias(ln2_b).eps(1e-5)),
                                                                 fc1_w, fc1_b)),
                                      fc2_w, fc2_b);
    return x + torch::conv2d(torch::cat({conv_x, trans_x.permute({0, 3, 1, 2})}, 1), conv1_2_w, conv1_2_b);
}

bool SCUNet::is_layout(const std::map<std::string, torch::Tensor>& t) {
    return t.count("m_head.0.weight") && t.count("m_tail.0.weight") && t.count("m_down1.0.trans_block.msa.relative_position_params");
}

SCUNet SCUNet::from_tensors(const std::map<std::string, torch::Tensor>& w, const std::string& path) {
    if (!is_layout(w)) throw_bad_file(path, "is not a SCUNet model (no m_head, m_tail and Swin-Conv blocks)");
    auto get = [&](const std::string& k) -> const torch::Tensor& {
        const auto it = w.find(k);
        if (it == w.end()) throw_bad_file(path, "has no " + k + kNotScunet);
        return it->second;
    };
    auto expect = [&](const std::string& k, std::vector<int64_t> shape) -> const torch::Tensor& {
        const torch::Tensor& t = get(k);
        if (t.sizes().vec() != shape)
            throw_bad_file(path, "has " + k + " of shape " + io::shape_text(t.sizes().vec()) + " where " + io::shape_text(shape) + " fits" + kNotScunet);
        return t;
    };
    SCUNet net;
    const torch::Tensor& head = get("m_head.0.weight");
    if (head.dim() != 4 || head.size(1) != 3) throw_bad_file(path, "does not take an RGB image in m_head" + kNotScunet);
    const int64_t dim = head.size(0);
    if (dim < 2 || dim % 2 || dim > 4096) throw_bad_file(path, "has " + std::to_string(dim) + " head channels, which no SCUNet has" + kNotScunet);
    net.head_ = expect("m_head.0.weight", {dim, 3, 3, 3});
    net.tail_ = expect("m_tail.0.weight", {3, dim, 3, 3});
    // Stage widths (the blocks' in/out channels) and where their blocks start in the Sequential.
    const char* names[7] = {"m_down1", "m_down2", "m_down3", "m_body", "m_up3", "m_up2", "m_up1"};
    const int64_t widths[7] = {dim, 2 * dim, 4 * dim, 8 * dim, 4 * dim, 2 * dim, dim};
    const int first[7] = {0, 0, 0, 0, 1, 1, 1};
    for (int st = 0; st < 7; ++st) {
        std::vector<Block> blocks;
        const int64_t cdim = widths[st];
        const int64_t half = cdim / 2;
        for (int i = first[st];; ++i) {
            const std::string p = std::string(names[st]) + "." + std::to_string(i) + ".";
            if (!w.count(p + "conv1_1.weight")) break;
            if (blocks.size() >= 64) throw_bad_file(path, "has more than 64 blocks in " + std::string(names[st]) + kNotScunet);
            Block b;
            b.conv_dim = half;
            b.conv1_1_w = expect(p + "conv1_1.weight", {cdim, cdim, 1, 1}), b.conv1_1_b = expect(p + "conv1_1.bias", {cdim});
            b.conv1_2_w = expect(p + "conv1_2.weight", {cdim, cdim, 1, 1}), b.conv1_2_b = expect(p + "conv1_2.bias", {cdim});
            b.conv_a = expect(p + "conv_block.0.weight", {half, half, 3, 3}), b.conv_b = expect(p + "conv_block.2.weight", {half, half, 3, 3});
            const std::string t = p + "trans_block.";
            b.ln1_w = expect(t + "ln1.weight", {half}), b.ln1_b = expect(t + "ln1.bias", {half});
            b.ln2_w = expect(t + "ln2.weight", {half}), b.ln2_b = expect(t + "ln2.bias", {half});
            b.fc1_w = expect(t + "mlp.0.weight", {4 * half, half}), b.fc1_b = expect(t + "mlp.0.bias", {4 * half});
            b.fc2_w = expect(t + "mlp.2.weight", {half, 4 * half}), b.fc2_b = expect(t + "mlp.2.bias", {half});
            b.attn.qkv_w = expect(t + "msa.embedding_layer.weight", {3 * half, half}), b.attn.qkv_b = expect(t + "msa.embedding_layer.bias", {3 * half});
            b.attn.out_w = expect(t + "msa.linear.weight", {half, half}), b.attn.out_b = expect(t + "msa.linear.bias", {half});
            if (half % 32) throw_bad_file(path, "has " + std::to_string(half) + "-channel transformers, not whole 32-channel heads" + kNotScunet);
            b.attn.rel = expect(t + "msa.relative_position_params", {half / 32, 15, 15});
            b.attn.window = 8;
            b.attn.head_dim = 32;
            b.attn.shifted = (i - first[st]) % 2 == 1;
            blocks.push_back(b);
        }
        net.stages_.push_back(std::move(blocks));
    }
    for (int k = 0; k < 3; ++k) {
        const int64_t in = dim << k;
        net.down_[k] = expect(std::string(names[k]) + "." + std::to_string(net.stages_[static_cast<size_t>(k)].size()) + ".weight", {2 * in, in, 2, 2});
        net.up_[k] = expect(std::string(names[4 + k]) + ".0.weight", {8 * dim >> k, 4 * dim >> k, 2, 2});
    }
    return net;
}

std::vector<int> SCUNet::config() const {
    std::vector<int> c;
    for (const auto& s : stages_) c.push_back(static_cast<int>(s.size()));
    return c;
}

torch::Tensor SCUNet::forward(const torch::Tensor& input) const {
    torch::NoGradGuard ng;
    const int64_t h = input.size(2), w = input.size(3);
    const int64_t pb = (h + 63) / 64 * 64 - h, pr = (w + 63) / 64 * 64 - w;
    const torch::Tensor x0 = F::pad(input, F::PadFuncOptions({0, pr, 0, pb}).mode(torch::kReplicate));
    auto run = [&](size_t stage, torch::Tensor x) {
        for (const Block& b : stages_[stage]) x = b.forward(x);
        return x;
    };
    const torch::Tensor x1 = torch::conv2d(x0, head_, {}, 1, 1);
    const torch::Tensor x2 = torch::conv2d(run(0, x1), down_[0], {}, 2);
    const torch::Tensor x3 = torch::conv2d(run(1, x2), down_[1], {}, 2);
    const torch::Tensor x4 = torch::conv2d(run(2, x3), down_[2], {}, 2);
    torch::Tensor x = run(3, x4);
    x = run(4, torch::conv_transpose2d(x + x4, up_[0], {}, 2));
    x = run(5, torch::conv_transpose2d(x + x3, up_[1], {}, 2));
    x = run(6, torch::conv_transpose2d(x + x2, up_[2], {}, 2));
    x = torch::conv2d(x + x1, tail_, {}, 1, 1);
    return x.slice(2, 0, h).slice(3, 0, w);
}

}  // namespace sdgimp::models
