#include "swinir.h"

#include <cmath>

#include "../io/checkpoint_file.h"
#include "../status.h"
#include "state_loader.h"

namespace sdgimp::models {
namespace {

namespace F = torch::nn::functional;
const std::string kNotSwinIR = "; the file is damaged or not a SwinIR model.";

// (B, H, W, C) -> (B * nW, ws * ws, C), windows row by row.
torch::Tensor window_partition(const torch::Tensor& x, int ws) {
    const int64_t b = x.size(0), h = x.size(1), w = x.size(2), c = x.size(3);
    return x.view({b, h / ws, ws, w / ws, ws, c}).permute({0, 1, 3, 2, 4, 5}).reshape({-1, static_cast<int64_t>(ws) * ws, c});
}

torch::Tensor window_reverse(const torch::Tensor& windows, int ws, int64_t h, int64_t w) {
    const int64_t b = windows.size(0) / ((h / ws) * (w / ws));
    return windows.view({b, h / ws, w / ws, ws, ws, -1}).permute({0, 1, 3, 2, 4, 5}).reshape({b, h, w, -1});
}

torch::Tensor lrelu(const torch::Tensor& x, double slope) { return F::leaky_relu(x, F::LeakyReLUFuncOptions().negative_slope(slope)); }

}  // namespace

torch::Tensor swin_relative_position_index(int ws) {
    const int64_t n = static_cast<int64_t>(ws) * ws;
    torch::Tensor index = torch::empty({n, n}, torch::kLong);
    auto a = index.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < n; ++j) {
            const int64_t dy = i / ws - j / ws + ws - 1, dx = i % ws - j % ws + ws - 1;
            a[i][j] = dy * (2 * ws - 1) + dx;
        }
    return index;
}

torch::Tensor swin_attention_mask(int64_t h, int64_t w, int ws, int shift) {
    // Regions of the map before the shift: 3 x 3 bands (all but the last window, the last window
    // less the shift, the shift), numbered row by row.
    torch::Tensor labels = torch::zeros({1, h, w, 1});
    auto band = [&](int64_t v, int64_t size) { return v < size - ws ? 0 : (v < size - shift ? 1 : 2); };
    auto a = labels.accessor<float, 4>();
    for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) a[0][y][x][0] = static_cast<float>(band(y, h) * 3 + band(x, w));
    const torch::Tensor windows = window_partition(labels, ws).squeeze(2);  // (nW, N)
    const torch::Tensor diff = windows.unsqueeze(1) - windows.unsqueeze(2);
    return torch::where(diff != 0, torch::full_like(diff, -100.0f), torch::zeros_like(diff));
}

torch::Tensor SwinBlock::forward(const torch::Tensor& x, int64_t h, int64_t w) const {
    const int64_t b = x.size(0), c = x.size(2), n = static_cast<int64_t>(window) * window;
    torch::Tensor t = F::layer_norm(x, F::LayerNormFuncOptions({c}).weight(norm1_w).bias(norm1_b).eps(1e-5)).view({b, h, w, c});
    if (shift > 0) t = torch::roll(t, {-shift, -shift}, {1, 2});
    torch::Tensor win = window_partition(t, window);  // (B*nW, N, C)
    const int64_t bw = win.size(0), hd = c / heads;
    const torch::Tensor qkv = torch::linear(win, qkv_w, qkv_b).reshape({bw, n, 3, heads, hd}).permute({2, 0, 3, 1, 4});
    const torch::Tensor q = qkv[0] * std::pow(static_cast<double>(hd), -0.5), k = qkv[1], v = qkv[2];
    torch::Tensor attn = torch::matmul(q, k.transpose(-2, -1));
    const torch::Tensor bias = bias_table.index_select(0, swin_relative_position_index(window).view(-1)).view({n, n, heads}).permute({2, 0, 1});
    attn = attn + bias.unsqueeze(0);
    if (shift > 0) {
        const torch::Tensor mask = swin_attention_mask(h, w, window, shift).to(attn.dtype());
        const int64_t nw = mask.size(0);
        attn = (attn.view({bw / nw, nw, heads, n, n}) + mask.unsqueeze(1).unsqueeze(0)).view({-1, heads, n, n});
    }
    attn = torch::softmax(attn, -1);
    torch::Tensor o = torch::matmul(attn, v).transpose(1, 2).reshape({bw, n, c});
    o = torch::linear(o, proj_w, proj_b).view({-1, window, window, c});
    torch::Tensor back = window_reverse(o, window, h, w);
    if (shift > 0) back = torch::roll(back, {shift, shift}, {1, 2});
    torch::Tensor y = x + back.reshape({b, h * w, c});
    const torch::Tensor m = torch::linear(
        torch::gelu(torch::linear(F::layer_norm(y, F::LayerNormFuncOptions({c}).weight(norm2_w).bias(norm2_b).eps(1e-5)), fc1_w, fc1_b)), fc2_w,
        fc2_b);
    return y + m;
}

bool SwinIR::is_layout(const std::map<std::string, torch::Tensor>& t) {
    return t.count("conv_first.weight") && t.count("layers.0.residual_group.blocks.0.attn.relative_position_bias_table");
}

SwinIR SwinIR::load(const std::string& path) {
    io::CheckpointFile ck = io::open_checkpoint(path);
    std::map<std::string, torch::Tensor> w;
    for (const auto& [k, t] : ck.tensors) w[k] = to_torch(t).to(torch::kFloat);
    return from_tensors(w, path);
}

SwinIR SwinIR::from_tensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path) {
    if (!is_layout(tensors)) throw_bad_file(path, "is not a SwinIR model (no conv_first and transformer layers)");
    SwinIR net;
    net.w_ = tensors;
    auto& w = net.w_;
    auto get = [&](const std::string& k) -> const torch::Tensor& {
        const auto it = w.find(k);
        if (it == w.end()) throw_bad_file(path, "has no " + k + kNotSwinIR);
        return it->second;
    };
    auto expect = [&](const std::string& k, std::vector<int64_t> shape) {
        const torch::Tensor& t = get(k);
        if (t.sizes().vec() != shape)
            throw_bad_file(path, "has " + k + " of shape " + io::shape_text(t.sizes().vec()) + " where " + io::shape_text(shape) + " fits" + kNotSwinIR);
    };
    const torch::Tensor& first = get("conv_first.weight");
    if (first.dim() != 4 || first.size(1) != 3) throw_bad_file(path, "does not take an RGB image in conv_first" + kNotSwinIR);
    const int64_t c = first.size(0);
    net.embed_ = static_cast<int>(c);
    expect("conv_first.bias", {c});
    const torch::Tensor& table = get("layers.0.residual_group.blocks.0.attn.relative_position_bias_table");
    const int64_t side = std::lround(std::sqrt(static_cast<double>(table.size(0))));
    if (table.dim() != 2 || side * side != table.size(0) || side % 2 == 0)
        throw_bad_file(path, "has a relative position table of shape " + io::shape_text(table.sizes().vec()) + ", which no window fits" + kNotSwinIR);
    net.window_ = static_cast<int>((side + 1) / 2);
    if (net.window_ > 64) throw_bad_file(path, "has a window of " + std::to_string(net.window_) + " pixels, more than any SwinIR model uses" + kNotSwinIR);
    if (w.count("absolute_pos_embed"))
        throw_bad_file(path, "uses an absolute position embedding, which ties it to the size it was trained at; use a SwinIR model without one");
    net.patch_norm_ = w.count("patch_embed.norm.weight") > 0;
    if (net.patch_norm_) expect("patch_embed.norm.weight", {c}), expect("patch_embed.norm.bias", {c});
    expect("norm.weight", {c});
    expect("norm.bias", {c});
    for (int g = 0; w.count("layers." + std::to_string(g) + ".residual_group.blocks.0.norm1.weight"); ++g) {
        if (g >= 64) throw_bad_file(path, "has more than 64 residual groups" + kNotSwinIR);
        Group group;
        const std::string gp = "layers." + std::to_string(g);
        for (int i = 0; w.count(gp + ".residual_group.blocks." + std::to_string(i) + ".norm1.weight"); ++i) {
            if (i >= 64) throw_bad_file(path, "has more than 64 blocks in " + gp + kNotSwinIR);
            const std::string p = gp + ".residual_group.blocks." + std::to_string(i) + ".";
            SwinBlock b;
            b.bias_table = get(p + "attn.relative_position_bias_table");
            b.heads = static_cast<int>(b.bias_table.size(1));
            if (b.heads < 1 || c % b.heads != 0 || b.bias_table.size(0) != side * side)
                throw_bad_file(path, "has " + p + "attn.relative_position_bias_table of shape " + io::shape_text(b.bias_table.sizes().vec()) +
                                         ", which does not fit " + std::to_string(c) + " channels" + kNotSwinIR);
            b.window = net.window_;
            b.shift = i % 2 == 0 ? 0 : net.window_ / 2;
            const int64_t hidden = get(p + "mlp.fc1.weight").size(0);
            expect(p + "norm1.weight", {c}), expect(p + "norm1.bias", {c}), expect(p + "norm2.weight", {c}), expect(p + "norm2.bias", {c});
            expect(p + "attn.qkv.weight", {3 * c, c}), expect(p + "attn.qkv.bias", {3 * c});
            expect(p + "attn.proj.weight", {c, c}), expect(p + "attn.proj.bias", {c});
            expect(p + "mlp.fc1.weight", {hidden, c}), expect(p + "mlp.fc1.bias", {hidden});
            expect(p + "mlp.fc2.weight", {c, hidden}), expect(p + "mlp.fc2.bias", {c});
            b.norm1_w = get(p + "norm1.weight"), b.norm1_b = get(p + "norm1.bias");
            b.norm2_w = get(p + "norm2.weight"), b.norm2_b = get(p + "norm2.bias");
            b.qkv_w = get(p + "attn.qkv.weight"), b.qkv_b = get(p + "attn.qkv.bias");
            b.proj_w = get(p + "attn.proj.weight"), b.proj_b = get(p + "attn.proj.bias");
            b.fc1_w = get(p + "mlp.fc1.weight"), b.fc1_b = get(p + "mlp.fc1.bias");
            b.fc2_w = get(p + "mlp.fc2.weight"), b.fc2_b = get(p + "mlp.fc2.bias");
            group.blocks.push_back(b);
        }
        // The group's closing convolution: "1conv" or "3conv" (dim/4 wide, LeakyReLU 0.2 between).
        if (w.count(gp + ".conv.weight")) {
            expect(gp + ".conv.weight", {c, c, 3, 3}), expect(gp + ".conv.bias", {c});
            group.convs.push_back({get(gp + ".conv.weight"), get(gp + ".conv.bias")});
        } else {
            const int64_t q = c / 4;
            expect(gp + ".conv.0.weight", {q, c, 3, 3}), expect(gp + ".conv.0.bias", {q});
            expect(gp + ".conv.2.weight", {q, q, 1, 1}), expect(gp + ".conv.2.bias", {q});
            expect(gp + ".conv.4.weight", {c, q, 3, 3}), expect(gp + ".conv.4.bias", {c});
            for (const char* k : {".conv.0", ".conv.2", ".conv.4"}) group.convs.push_back({get(gp + k + ".weight"), get(gp + k + ".bias")});
        }
        net.groups_.push_back(std::move(group));
    }
    if (net.groups_.empty()) throw_bad_file(path, "has no transformer layers" + kNotSwinIR);
    // conv_after_body: 1conv or 3conv, as the groups.
    if (!w.count("conv_after_body.weight") && !w.count("conv_after_body.0.weight"))
        throw_bad_file(path, "has no conv_after_body" + kNotSwinIR);
    // The upsampler, by the keys present (as spandrel tells them apart).
    if (w.count("conv_up1.weight")) {
        net.upsampler_ = "nearest+conv";
        net.scale_ = w.count("conv_up2.weight") ? 4 : 2;
        const int64_t f = get("conv_before_upsample.0.weight").size(0);
        expect("conv_before_upsample.0.weight", {f, c, 3, 3});
        expect("conv_up1.weight", {f, f, 3, 3});
        if (net.scale_ == 4) expect("conv_up2.weight", {f, f, 3, 3});
        expect("conv_hr.weight", {f, f, 3, 3});
        expect("conv_last.weight", {3, f, 3, 3});
    } else if (w.count("conv_before_upsample.0.weight")) {
        net.upsampler_ = "pixelshuffle";
        const int64_t f = get("conv_before_upsample.0.weight").size(0);
        int s = 1, convs = 0;
        for (int i = 0; w.count("upsample." + std::to_string(i) + ".weight"); i += 2, ++convs) {
            const int64_t out = get("upsample." + std::to_string(i) + ".weight").size(0);
            if (out == 4 * f) s *= 2;
            else if (out == 9 * f && convs == 0) s *= 3;
            else throw_bad_file(path, "has an upsample layer of " + std::to_string(out) + " channels, which no pixel shuffle takes" + kNotSwinIR);
        }
        if (convs == 0) throw_bad_file(path, "has no upsample layers" + kNotSwinIR);
        net.scale_ = s;
        expect("conv_last.weight", {3, f, 3, 3});
    } else if (w.count("upsample.0.weight")) {
        net.upsampler_ = "pixelshuffledirect";
        const int64_t out = get("upsample.0.weight").size(0);
        const int s = static_cast<int>(std::lround(std::sqrt(static_cast<double>(out) / 3)));
        if (s < 1 || 3 * s * s != out) throw_bad_file(path, "ends in " + std::to_string(out) + " channels, which no pixel shuffle of RGB takes" + kNotSwinIR);
        net.scale_ = s;
    } else {
        net.upsampler_ = "";  // denoising / JPEG models: same size out
        net.scale_ = 1;
        expect("conv_last.weight", {3, c, 3, 3});
    }
    return net;
}

std::vector<int> SwinIR::depths() const {
    std::vector<int> d;
    for (const auto& g : groups_) d.push_back(static_cast<int>(g.blocks.size()));
    return d;
}

torch::Tensor SwinIR::conv(const std::string& name, const torch::Tensor& x, int padding) const {
    const auto b = w_.find(name + ".bias");
    return torch::conv2d(x, w_.at(name + ".weight"), b == w_.end() ? torch::Tensor() : b->second, 1, padding);
}

torch::Tensor SwinIR::features(const torch::Tensor& x) const {
    const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    auto to_tokens = [&](const torch::Tensor& m) { return m.flatten(2).transpose(1, 2); };  // (B, HW, C)
    auto to_map = [&](const torch::Tensor& t) { return t.transpose(1, 2).reshape({b, c, h, w}); };
    torch::Tensor t = to_tokens(x);
    if (patch_norm_) t = F::layer_norm(t, F::LayerNormFuncOptions({c}).weight(w_.at("patch_embed.norm.weight")).bias(w_.at("patch_embed.norm.bias")).eps(1e-5));
    for (const Group& g : groups_) {
        torch::Tensor r = t;
        for (const SwinBlock& blk : g.blocks) r = blk.forward(r, h, w);
        torch::Tensor m = to_map(r);
        if (g.convs.size() == 1) {
            m = torch::conv2d(m, g.convs[0].first, g.convs[0].second, 1, 1);
        } else {
            m = lrelu(torch::conv2d(m, g.convs[0].first, g.convs[0].second, 1, 1), 0.2);
            m = lrelu(torch::conv2d(m, g.convs[1].first, g.convs[1].second, 1, torch::IntArrayRef({0, 0})), 0.2);
            m = torch::conv2d(m, g.convs[2].first, g.convs[2].second, 1, 1);
        }
        t = to_tokens(m) + t;
    }
    t = F::layer_norm(t, F::LayerNormFuncOptions({c}).weight(w_.at("norm.weight")).bias(w_.at("norm.bias")).eps(1e-5));
    return to_map(t);
}

torch::Tensor SwinIR::forward(const torch::Tensor& input) const {
    torch::NoGradGuard ng;
    const int64_t h = input.size(2), w = input.size(3);
    // Whole windows: reflection padding on the right and bottom, cut off at the end.
    const int64_t ph = (window_ - h % window_) % window_, pw = (window_ - w % window_) % window_;
    // Reflection needs more pixels than it adds (as in PyTorch, where A1111 would fail too).
    if (ph >= h || pw >= w)
        throw Error(ErrorCode::kInvalidRequest, "The image (" + std::to_string(w) + "x" + std::to_string(h) + ") is too small for this SwinIR model's " +
                                                    std::to_string(window_) + "-pixel windows; upscale a larger image or use another upscaler.");
    torch::Tensor x = input;
    if (ph || pw) x = F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReflect));
    const torch::Tensor mean = torch::tensor({0.4488f, 0.4371f, 0.4040f}).view({1, 3, 1, 1}).to(x.dtype());
    x = x - mean;  // img_range 1
    auto after_body = [&](const torch::Tensor& f) {
        const torch::Tensor body = features(f);
        if (w_.count("conv_after_body.weight")) return conv("conv_after_body", body, 1);
        torch::Tensor m = lrelu(conv("conv_after_body.0", body, 1), 0.2);
        m = lrelu(conv("conv_after_body.2", m, 0), 0.2);
        return conv("conv_after_body.4", m, 1);
    };
    auto up2 = [](const torch::Tensor& t) {
        return F::interpolate(t, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
    };
    torch::Tensor y;
    const torch::Tensor first = conv("conv_first", x, 1);
    if (upsampler_ == "nearest+conv") {
        torch::Tensor f = after_body(first) + first;
        f = lrelu(conv("conv_before_upsample.0", f, 1), 0.01);  // nn.LeakyReLU's default slope
        f = lrelu(conv("conv_up1", up2(f), 1), 0.2);
        if (scale_ == 4) f = lrelu(conv("conv_up2", up2(f), 1), 0.2);
        y = conv("conv_last", lrelu(conv("conv_hr", f, 1), 0.2), 1);
    } else if (upsampler_ == "pixelshuffle") {
        torch::Tensor f = after_body(first) + first;
        f = lrelu(conv("conv_before_upsample.0", f, 1), 0.01);
        for (int i = 0; w_.count("upsample." + std::to_string(i) + ".weight"); i += 2) {
            f = conv("upsample." + std::to_string(i), f, 1);
            f = torch::pixel_shuffle(f, w_.at("upsample." + std::to_string(i) + ".weight").size(0) / w_.at("upsample." + std::to_string(i) + ".weight").size(1) == 9 ? 3 : 2);
        }
        y = conv("conv_last", f, 1);
    } else if (upsampler_ == "pixelshuffledirect") {
        y = torch::pixel_shuffle(conv("upsample.0", after_body(first) + first, 1), scale_);
    } else {
        y = x + conv("conv_last", after_body(first) + first, 1);
    }
    y = y + mean;
    return y.slice(2, 0, h * scale_).slice(3, 0, w * scale_);
}

}  // namespace sdgimp::models
