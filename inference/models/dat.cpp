#include "dat.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "../io/checkpoint_file.h"
#include "../status.h"
#include "state_loader.h"

namespace sdgimp::models {
namespace {

namespace F = torch::nn::functional;
const std::string kNotDAT = "; the file is damaged or not a DAT model.";

// Python's slice(start, stop) over n items, as [begin, end).
std::pair<int64_t, int64_t> py_slice(std::optional<int64_t> start, std::optional<int64_t> stop, int64_t n) {
    auto norm = [n](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + n : v, 0, n); };
    const int64_t b = start ? norm(*start) : 0, e = stop ? norm(*stop) : n;
    return {b, std::max(b, e)};
}

torch::Tensor lrelu(const torch::Tensor& x, double slope) { return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(slope)); }

std::string key(int group, int block, const std::string& rest) {
    return "layers." + std::to_string(group) + ".blocks." + std::to_string(block) + "." + rest;
}

}  // namespace

torch::Tensor dat_attention_mask(int64_t h, int64_t w, int h_sp, int w_sp, int sh, int sw) {
    // Three regions per side, numbered row by row; a later slice overwrites an earlier one, as the
    // assignments in DAT's loop do.
    torch::Tensor labels = torch::zeros({h, w});
    auto a = labels.accessor<float, 2>();
    auto slices = [](int size, int shift, int64_t n) {
        return std::vector<std::pair<int64_t, int64_t>>{py_slice(0, -size, n), py_slice(-size, -shift, n), py_slice(-shift, std::nullopt, n)};
    };
    float count = 0;
    for (const auto& [y0, y1] : slices(h_sp, sh, h))
        for (const auto& [x0, x1] : slices(w_sp, sw, w)) {
            for (int64_t y = y0; y < y1; ++y)
                for (int64_t x = x0; x < x1; ++x) a[y][x] = count;
            count += 1;
        }
    const torch::Tensor windows = labels.view({h / h_sp, h_sp, w / w_sp, w_sp}).permute({0, 2, 1, 3}).reshape({-1, static_cast<int64_t>(h_sp) * w_sp});
    const torch::Tensor diff = windows.unsqueeze(1) - windows.unsqueeze(2);
    return torch::where(diff != 0, torch::full_like(diff, -100.0f), torch::zeros_like(diff));
}

torch::Tensor dat_relative_position_index(int h_sp, int w_sp) {
    const int64_t n = static_cast<int64_t>(h_sp) * w_sp;
    torch::Tensor index = torch::empty({n, n}, torch::kLong);
    auto a = index.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            const int64_t dy = i / w_sp - j / w_sp + h_sp - 1, dx = i % w_sp - j % w_sp + w_sp - 1;
            a[i][j] = dy * (2 * w_sp - 1) + dx;
        }
    return index;
}

torch::Tensor dat_rpe_biases(int h_sp, int w_sp) {
    torch::Tensor b = torch::empty({static_cast<int64_t>(2 * h_sp - 1) * (2 * w_sp - 1), 2});
    auto a = b.accessor<float, 2>();
    int64_t r = 0;
    for (int dy = 1 - h_sp; dy < h_sp; ++dy)
        for (int dx = 1 - w_sp; dx < w_sp; ++dx, ++r) {
            a[r][0] = static_cast<float>(dy);
            a[r][1] = static_cast<float>(dx);
        }
    return b;
}

bool DAT::is_layout(const std::map<std::string, torch::Tensor>& t) {
    return t.count("conv_first.weight") && t.count("before_RG.1.weight") && t.count("layers.0.blocks.0.ffn.sg.norm.weight") &&
           t.count("layers.0.blocks.0.attn.attns.0.rpe_biases");
}

bool DAT::shifted(int g, int b) { return (g % 2 == 0 && b > 0 && (b - 2) % 4 == 0) || (g % 2 != 0 && b % 4 == 0); }

DAT DAT::from_tensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path) {
    if (!is_layout(tensors)) throw_bad_file(path, "is not a DAT model (no conv_first, before_RG and dual-aggregation blocks)");
    DAT net;
    for (const auto& [k, t] : tensors) net.w_[k] = t.to(torch::kFloat);
    auto& w = net.w_;
    auto get = [&](const std::string& k) -> const torch::Tensor& {
        const auto it = w.find(k);
        if (it == w.end()) throw_bad_file(path, "has no " + k + kNotDAT);
        return it->second;
    };
    auto expect = [&](const std::string& k, std::vector<int64_t> shape) {
        const torch::Tensor& t = get(k);
        if (t.sizes().vec() != shape)
            throw_bad_file(path, "has " + k + " of shape " + io::shape_text(t.sizes().vec()) + " where " + io::shape_text(shape) + " fits" + kNotDAT);
    };
    auto expect_linear = [&](const std::string& k, int64_t out, int64_t in) { expect(k + ".weight", {out, in}), expect(k + ".bias", {out}); };
    auto expect_norm = [&](const std::string& k, int64_t c) { expect(k + ".weight", {c}), expect(k + ".bias", {c}); };
    auto expect_bn = [&](const std::string& k, int64_t c) {
        for (const char* part : {".weight", ".bias", ".running_mean", ".running_var"}) expect(k + part, {c});
    };
    auto expect_conv = [&](const std::string& k, int64_t out, int64_t in, int64_t ks) { expect(k + ".weight", {out, in, ks, ks}), expect(k + ".bias", {out}); };

    const torch::Tensor& first = get("conv_first.weight");
    if (first.dim() != 4 || first.size(1) != 3 || first.size(2) != 3) throw_bad_file(path, "does not take an RGB image in conv_first" + kNotDAT);
    const int64_t c = first.size(0);
    if (c < 32 || c % 2) throw_bad_file(path, "has " + std::to_string(c) + " feature channels, fewer than a DAT model's attention splits" + kNotDAT);
    net.embed_ = static_cast<int>(c);
    expect("conv_first.bias", {c});
    expect_norm("before_RG.1", c);
    expect_norm("norm", c);

    // The window from the first dynamic bias's offsets: its last row is (h_sp - 1, w_sp - 1).
    const torch::Tensor& rpe = get("layers.0.blocks.0.attn.attns.0.rpe_biases");
    if (rpe.dim() != 2 || rpe.size(1) != 2 || rpe.size(0) < 1) throw_bad_file(path, "has a position bias table of shape " + io::shape_text(rpe.sizes().vec()) + kNotDAT);
    const float s0 = rpe[-1][0].item<float>() + 1, s1 = rpe[-1][1].item<float>() + 1;
    if (!(s0 >= 1 && s0 <= 64 && s1 >= 1 && s1 <= 64) || s0 != std::floor(s0) || s1 != std::floor(s1))
        throw_bad_file(path, "has a window of " + std::to_string(s0) + " x " + std::to_string(s1) + " pixels, which no DAT model uses" + kNotDAT);
    net.split_[0] = static_cast<int>(s0);
    net.split_[1] = static_cast<int>(s1);

    const int64_t hidden = get("layers.0.blocks.0.ffn.fc1.weight").size(0);
    if (hidden < 2 || hidden % 2) throw_bad_file(path, "has a feed-forward width of " + std::to_string(hidden) + ", which its spatial gate cannot halve" + kNotDAT);
    net.hidden_ = static_cast<int>(hidden);
    const bool qkv_bias = w.count("layers.0.blocks.0.attn.qkv.bias") > 0;
    const int64_t pd = c / 2 / 4 / 4;  // DynamicPosBias(dim // 4) of the half-width branch, pos_dim = dim // 4
    if (pd < 1) throw_bad_file(path, "has too few channels for DAT's position bias" + kNotDAT);

    for (int g = 0; w.count(key(g, 0, "norm1.weight")); ++g) {
        if (g >= 64) throw_bad_file(path, "has more than 64 residual groups" + kNotDAT);
        int depth = 0;
        while (w.count(key(g, depth, "norm1.weight"))) {
            if (++depth > 64) throw_bad_file(path, "has more than 64 blocks in layers." + std::to_string(g) + kNotDAT);
        }
        const int64_t heads = depth >= 2 ? get(key(g, 1, "attn.temperature")).size(0) : get(key(g, 0, "attn.attns.0.pos.pos3.2.weight")).size(0) * 2;
        if (heads < 2 || c % heads || (c / 2) % (heads / 2))
            throw_bad_file(path, "has " + std::to_string(heads) + " heads in layers." + std::to_string(g) + ", which do not divide its " + std::to_string(c) + " channels" + kNotDAT);
        net.depths_.push_back(depth);
        net.heads_.push_back(static_cast<int>(heads));
        for (int b = 0; b < depth; ++b) {
            auto k = [&](const std::string& rest) { return key(g, b, rest); };
            expect_norm(k("norm1"), c);
            expect_norm(k("norm2"), c);
            expect(k("attn.qkv.weight"), {3 * c, c});
            if (qkv_bias) expect(k("attn.qkv.bias"), {3 * c});
            else if (w.count(k("attn.qkv.bias"))) throw_bad_file(path, "has a bias on " + k("attn.qkv") + " but not on the first block's" + kNotDAT);
            expect_linear(k("attn.proj"), c, c);
            expect_conv(k("attn.dwconv.0"), c, 1, 3);
            expect_bn(k("attn.dwconv.1"), c);
            expect_conv(k("attn.channel_interaction.1"), c / 8, c, 1);
            expect_bn(k("attn.channel_interaction.2"), c / 8);
            expect_conv(k("attn.channel_interaction.4"), c, c / 8, 1);
            expect_conv(k("attn.spatial_interaction.0"), c / 16, c, 1);
            expect_bn(k("attn.spatial_interaction.1"), c / 16);
            expect_conv(k("attn.spatial_interaction.3"), 1, c / 16, 1);
            expect_linear(k("ffn.fc1"), hidden, c);
            expect_norm(k("ffn.sg.norm"), hidden / 2);
            expect_conv(k("ffn.sg.conv"), hidden / 2, 1, 3);
            expect_linear(k("ffn.fc2"), c, hidden / 2);
            if (b % 2) {
                expect(k("attn.temperature"), {heads, 1, 1});
                continue;
            }
            for (int i = 0; i < 2; ++i) {
                const std::string p = "attn.attns." + std::to_string(i) + ".";
                const int h_sp = i == 0 ? net.split_[0] : net.split_[1], w_sp = i == 0 ? net.split_[1] : net.split_[0];
                expect_linear(k(p + "pos.pos_proj"), pd, 2);
                expect_norm(k(p + "pos.pos1.0"), pd);
                expect_linear(k(p + "pos.pos1.2"), pd, pd);
                expect_norm(k(p + "pos.pos2.0"), pd);
                expect_linear(k(p + "pos.pos2.2"), pd, pd);
                expect_norm(k(p + "pos.pos3.0"), pd);
                expect_linear(k(p + "pos.pos3.2"), heads / 2, pd);
                // The buffers the file carries must be the window's own (PyTorch would use the file's).
                const torch::Tensor& biases = get(k(p + "rpe_biases"));
                const torch::Tensor& index = get(k(p + "relative_position_index"));
                if (!biases.sizes().equals({static_cast<int64_t>(2 * h_sp - 1) * (2 * w_sp - 1), 2}) || !torch::equal(biases, dat_rpe_biases(h_sp, w_sp)))
                    throw_bad_file(path, "has " + k(p + "rpe_biases") + " that are not the offsets of its " + std::to_string(h_sp) + " x " +
                                             std::to_string(w_sp) + " window" + kNotDAT);
                if (!index.sizes().equals({static_cast<int64_t>(h_sp) * w_sp, static_cast<int64_t>(h_sp) * w_sp}) ||
                    !torch::equal(index.to(torch::kLong), dat_relative_position_index(h_sp, w_sp)))
                    throw_bad_file(path, "has " + k(p + "relative_position_index") + " that is not its window's" + kNotDAT);
            }
        }
        const std::string gc = "layers." + std::to_string(g) + ".conv";
        if (w.count(gc + ".weight")) {
            expect_conv(gc, c, c, 3);
        } else {
            expect_conv(gc + ".0", c / 4, c, 3), expect_conv(gc + ".2", c / 4, c / 4, 1), expect_conv(gc + ".4", c, c / 4, 3);
        }
    }
    if (net.depths_.empty()) throw_bad_file(path, "has no transformer layers" + kNotDAT);
    net.three_conv_ = !w.count("conv_after_body.weight");
    if (net.three_conv_) expect_conv("conv_after_body.0", c / 4, c, 3), expect_conv("conv_after_body.2", c / 4, c / 4, 1), expect_conv("conv_after_body.4", c, c / 4, 3);
    else expect_conv("conv_after_body", c, c, 3);
    if (w.count("conv_last.weight")) {
        net.upsampler_ = "pixelshuffle";
        const int64_t f = get("conv_before_upsample.0.weight").size(0);
        expect_conv("conv_before_upsample.0", f, c, 3);
        int s = 1, convs = 0;
        for (int i = 0; w.count("upsample." + std::to_string(i) + ".weight"); i += 2, ++convs) {
            const int64_t out = get("upsample." + std::to_string(i) + ".weight").size(0);
            if (out == 4 * f && s % 3) s *= 2;
            else if (out == 9 * f && convs == 0) s *= 3;
            else throw_bad_file(path, "has an upsample layer of " + std::to_string(out) + " channels, which no pixel shuffle takes" + kNotDAT);
            expect_conv("upsample." + std::to_string(i), out, f, 3);
        }
        if (convs == 0 || s > 16) throw_bad_file(path, "has no usable upsample layers" + kNotDAT);
        net.scale_ = s;
        expect_conv("conv_last", 3, f, 3);
    } else if (w.count("upsample.0.weight")) {
        net.upsampler_ = "pixelshuffledirect";
        const int64_t out = get("upsample.0.weight").size(0);
        const int s = static_cast<int>(std::lround(std::sqrt(static_cast<double>(out) / 3)));
        if (s < 1 || s > 16 || 3 * s * s != out) throw_bad_file(path, "ends in " + std::to_string(out) + " channels, which no pixel shuffle of RGB takes" + kNotDAT);
        expect_conv("upsample.0", out, c, 3);
        net.scale_ = s;
    } else {
        throw_bad_file(path, "has neither conv_last nor an upsample layer" + kNotDAT);
    }
    return net;
}

torch::Tensor DAT::linear(const std::string& name, const torch::Tensor& x) const {
    const auto b = w_.find(name + ".bias");
    return torch::linear(x, at(name + ".weight"), b == w_.end() ? torch::Tensor() : b->second);
}

torch::Tensor DAT::conv(const std::string& name, const torch::Tensor& x, int padding, int64_t groups) const {
    return torch::conv2d(x, at(name + ".weight"), at(name + ".bias"), 1, padding, 1, groups);
}

torch::Tensor DAT::batch_norm(const std::string& name, const torch::Tensor& x) const {
    return torch::batch_norm(x, at(name + ".weight"), at(name + ".bias"), at(name + ".running_mean"), at(name + ".running_var"), false, 0.1, 1e-5,
                             false);
}

torch::Tensor DAT::layer_norm(const std::string& name, const torch::Tensor& x) const {
    return F::layer_norm(x, F::LayerNormFuncOptions({x.size(-1)}).weight(at(name + ".weight")).bias(at(name + ".bias")).eps(1e-5));
}

torch::Tensor DAT::residual_convs(const std::string& prefix, const torch::Tensor& x) const {
    if (w_.count(prefix + ".weight")) return conv(prefix, x, 1);
    torch::Tensor m = lrelu(conv(prefix + ".0", x, 1), 0.2);
    m = lrelu(conv(prefix + ".2", m, 0), 0.2);
    return conv(prefix + ".4", m, 1);
}

torch::Tensor DAT::window_branch(const std::string& p, int idx, int heads, const torch::Tensor& qkv, int64_t h, int64_t w,
                                 const torch::Tensor& mask) const {
    const int64_t h_sp = idx == 0 ? split_[0] : split_[1], w_sp = idx == 0 ? split_[1] : split_[0], n = h_sp * w_sp;
    const int64_t b = qkv.size(1), c = qkv.size(3), hd = c / heads;
    auto im2win = [&](const torch::Tensor& t) {  // (B, L, C) -> (B*nW, heads, N, hd)
        const torch::Tensor m = t.transpose(-2, -1).reshape({b, c, h, w});
        const torch::Tensor win = m.view({b, c, h / h_sp, h_sp, w / w_sp, w_sp}).permute({0, 2, 4, 3, 5, 1}).reshape({-1, n, c});
        return win.reshape({-1, n, heads, hd}).permute({0, 2, 1, 3});
    };
    const torch::Tensor q = im2win(qkv[0]) * std::pow(static_cast<double>(hd), -0.5), k = im2win(qkv[1]), v = im2win(qkv[2]);
    torch::Tensor attn = torch::matmul(q, k.transpose(-2, -1));
    // The dynamic position bias: a small MLP over the window's offsets, one value per head.
    torch::Tensor pos = linear(p + ".pos.pos_proj", dat_rpe_biases(static_cast<int>(h_sp), static_cast<int>(w_sp)));
    for (const char* stage : {".pos.pos1", ".pos.pos2", ".pos.pos3"})
        pos = linear(p + stage + ".2", torch::relu(layer_norm(p + stage + ".0", pos)));
    const torch::Tensor bias =
        pos.index_select(0, dat_relative_position_index(static_cast<int>(h_sp), static_cast<int>(w_sp)).view(-1)).view({n, n, -1}).permute({2, 0, 1});
    attn = attn + bias.unsqueeze(0);
    if (mask.defined()) {
        const int64_t nw = mask.size(0);
        attn = (attn.view({b, nw, heads, n, n}) + mask.unsqueeze(1).unsqueeze(0)).view({-1, heads, n, n});
    }
    attn = torch::softmax(attn, -1);
    const torch::Tensor x = torch::matmul(attn, v).transpose(1, 2).reshape({-1, n, c});
    return x.view({b, h / h_sp, w / w_sp, h_sp, w_sp, -1}).permute({0, 1, 3, 2, 4, 5}).reshape({b, h, w, -1});
}

torch::Tensor DAT::attention(int g, int blk, const torch::Tensor& x, int64_t h, int64_t w) const {
    const std::string p = key(g, blk, "attn.");
    const int64_t b = x.size(0), l = x.size(1), c = x.size(2);
    auto channel_map = [&](const torch::Tensor& m) {  // (B, C, 1, 1)
        torch::Tensor t = conv(p + "channel_interaction.1", m.mean({2, 3}, true), 0);
        return conv(p + "channel_interaction.4", torch::gelu(batch_norm(p + "channel_interaction.2", t)), 0);
    };
    auto spatial_map = [&](const torch::Tensor& m) {  // (B, 1, H, W)
        torch::Tensor t = conv(p + "spatial_interaction.0", m, 0);
        return conv(p + "spatial_interaction.3", torch::gelu(batch_norm(p + "spatial_interaction.1", t)), 0);
    };
    auto dwconv = [&](const torch::Tensor& m) { return torch::gelu(batch_norm(p + "dwconv.1", conv(p + "dwconv.0", m, 1, c))); };
    if (blk % 2) {
        // Channel attention: heads of channels attend over each other (L2-normalised over the
        // pixels, scaled by a learned temperature).
        const int64_t heads = heads_[static_cast<size_t>(g)], hd = c / heads;
        const torch::Tensor qkv = linear(p + "qkv", x).reshape({b, l, 3, heads, hd}).permute({2, 0, 3, 1, 4});
        const torch::Tensor q = F::normalize(qkv[0].transpose(-2, -1), F::NormalizeFuncOptions().dim(-1));
        const torch::Tensor k = F::normalize(qkv[1].transpose(-2, -1), F::NormalizeFuncOptions().dim(-1));
        const torch::Tensor v = qkv[2].transpose(-2, -1);  // (B, heads, hd, L)
        const torch::Tensor attn = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) * at(p + "temperature"), -1);
        torch::Tensor attended = torch::matmul(attn, v).permute({0, 3, 1, 2}).reshape({b, l, c});
        torch::Tensor conv_x = dwconv(v.reshape({b, c, h, w}));
        const torch::Tensor cm = channel_map(attended.transpose(-2, -1).reshape({b, c, h, w}));
        const torch::Tensor sm = spatial_map(conv_x).permute({0, 2, 3, 1}).reshape({b, l, 1});
        attended = attended * torch::sigmoid(sm);
        conv_x = (conv_x * torch::sigmoid(cm)).permute({0, 2, 3, 1}).reshape({b, l, c});
        return linear(p + "proj", attended + conv_x);
    }
    // Spatial window attention: half the channels in h_sp x w_sp windows, half in w_sp x h_sp,
    // the map padded with zeros (after the projection) to whole windows of the larger side.
    const torch::Tensor qkv = linear(p + "qkv", x).reshape({b, l, 3, c}).permute({2, 0, 1, 3});  // (3, B, L, C)
    const torch::Tensor v = qkv[2].transpose(-2, -1).reshape({b, c, h, w});
    const int64_t ms = std::max(split_[0], split_[1]);
    const int64_t pad_r = (ms - w % ms) % ms, pad_b = (ms - h % ms) % ms, ph = h + pad_b, pw = w + pad_r;
    const torch::Tensor padded =
        F::pad(qkv.reshape({3 * b, h, w, c}).permute({0, 3, 1, 2}), F::PadFuncOptions({0, pad_r, 0, pad_b})).reshape({3, b, c, -1}).transpose(-2, -1);
    const int heads = heads_[static_cast<size_t>(g)] / 2;
    torch::Tensor x1, x2;
    if (shifted(g, blk)) {
        const int64_t sh0 = split_[0] / 2, sh1 = split_[1] / 2;
        const torch::Tensor q5 = padded.reshape({3, b, ph, pw, c});
        const torch::Tensor qkv0 = torch::roll(q5.slice(4, 0, c / 2), {-sh0, -sh1}, {2, 3}).reshape({3, b, ph * pw, c / 2});
        const torch::Tensor qkv1 = torch::roll(q5.slice(4, c / 2, c), {-sh1, -sh0}, {2, 3}).reshape({3, b, ph * pw, c / 2});
        const torch::Tensor m0 = dat_attention_mask(ph, pw, split_[0], split_[1], static_cast<int>(sh0), static_cast<int>(sh1)).to(x.dtype());
        const torch::Tensor m1 = dat_attention_mask(ph, pw, split_[1], split_[0], static_cast<int>(sh1), static_cast<int>(sh0)).to(x.dtype());
        x1 = torch::roll(window_branch(p + "attns.0", 0, heads, qkv0, ph, pw, m0), {sh0, sh1}, {1, 2});
        x2 = torch::roll(window_branch(p + "attns.1", 1, heads, qkv1, ph, pw, m1), {sh1, sh0}, {1, 2});
    } else {
        x1 = window_branch(p + "attns.0", 0, heads, padded.slice(3, 0, c / 2), ph, pw, {});
        x2 = window_branch(p + "attns.1", 1, heads, padded.slice(3, c / 2, c), ph, pw, {});
    }
    x1 = x1.slice(1, 0, h).slice(2, 0, w).reshape({b, l, c / 2});
    x2 = x2.slice(1, 0, h).slice(2, 0, w).reshape({b, l, c / 2});
    torch::Tensor attended = torch::cat({x1, x2}, 2);
    torch::Tensor conv_x = dwconv(v);
    const torch::Tensor cm = channel_map(conv_x).permute({0, 2, 3, 1}).reshape({b, 1, c});
    const torch::Tensor sm = spatial_map(attended.transpose(-2, -1).reshape({b, c, h, w}));
    attended = attended * torch::sigmoid(cm);
    conv_x = (torch::sigmoid(sm) * conv_x).permute({0, 2, 3, 1}).reshape({b, l, c});
    return linear(p + "proj", attended + conv_x);
}

torch::Tensor DAT::feed_forward(int g, int blk, const torch::Tensor& x, int64_t h, int64_t w) const {
    const std::string p = key(g, blk, "ffn.");
    const torch::Tensor y = torch::gelu(linear(p + "fc1", x));
    const int64_t half = y.size(2) / 2, b = x.size(0);
    // The spatial gate: the second half, normalised and through a depthwise 3x3, gates the first.
    torch::Tensor gate = layer_norm(p + "sg.norm", y.slice(2, half, 2 * half)).transpose(1, 2).reshape({b, half, h, w});
    gate = conv(p + "sg.conv", gate, 1, half).flatten(2).transpose(-1, -2);
    return linear(p + "fc2", y.slice(2, 0, half) * gate);
}

torch::Tensor DAT::forward(const torch::Tensor& input) const {
    torch::NoGradGuard ng;
    const int64_t b = input.size(0), h = input.size(2), w = input.size(3);
    const torch::Tensor mean = torch::tensor({0.4488f, 0.4371f, 0.4040f}).view({1, 3, 1, 1}).to(input.dtype());
    const torch::Tensor first = conv("conv_first", input - mean, 1);
    const int64_t c = first.size(1);
    auto to_tokens = [](const torch::Tensor& m) { return m.flatten(2).transpose(1, 2); };
    auto to_map = [&](const torch::Tensor& t) { return t.transpose(1, 2).reshape({b, c, h, w}); };
    torch::Tensor t = layer_norm("before_RG.1", to_tokens(first));
    for (size_t g = 0; g < depths_.size(); ++g) {
        const torch::Tensor res = t;
        for (int blk = 0; blk < depths_[g]; ++blk) {
            t = t + attention(static_cast<int>(g), blk, layer_norm(key(static_cast<int>(g), blk, "norm1"), t), h, w);
            t = t + feed_forward(static_cast<int>(g), blk, layer_norm(key(static_cast<int>(g), blk, "norm2"), t), h, w);
        }
        t = res + to_tokens(residual_convs("layers." + std::to_string(g) + ".conv", to_map(t)));
    }
    const torch::Tensor body = residual_convs("conv_after_body", to_map(layer_norm("norm", t))) + first;
    torch::Tensor y;
    if (upsampler_ == "pixelshuffle") {
        torch::Tensor f = lrelu(conv("conv_before_upsample.0", body, 1), 0.01);  // nn.LeakyReLU's default slope
        for (int i = 0; w_.count("upsample." + std::to_string(i) + ".weight"); i += 2) {
            const torch::Tensor& k = at("upsample." + std::to_string(i) + ".weight");
            f = torch::pixel_shuffle(conv("upsample." + std::to_string(i), f, 1), k.size(0) == 9 * k.size(1) ? 3 : 2);
        }
        y = conv("conv_last", f, 1);
    } else {
        y = torch::pixel_shuffle(conv("upsample.0", body, 1), scale_);
    }
    return y + mean;
}

}  // namespace sdgimp::models
