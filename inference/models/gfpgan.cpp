#include "gfpgan.h"

#include <cmath>

#include "tensor_lookup.h"

namespace sdgimp::models {
namespace {

namespace F = torch::nn::functional;
const std::string kNotGfpgan = "; the file is damaged or not a GFPGAN v1.2-1.4 model (GFPGANv1.4.pth).";

// F.interpolate(..., mode='bilinear', align_corners=False) to a square size.
torch::Tensor bilinear_to(const torch::Tensor& x, int64_t size) {
    return F::interpolate(x, F::InterpolateFuncOptions().size(std::vector<int64_t>{size, size}).mode(torch::kBilinear).align_corners(false));
}

}  // namespace

torch::Tensor modulated_conv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& style, bool demodulate) {
    torch::Tensor w = weight * style.view({1, 1, -1, 1, 1});
    if (demodulate) w = w * torch::rsqrt(w.pow(2).sum({2, 3, 4}) + 1e-8).view({1, -1, 1, 1, 1});
    w = w.squeeze(0);
    return torch::conv2d(x, w, {}, 1, w.size(2) / 2);
}

torch::Tensor GFPGAN::ResBlock::forward(const torch::Tensor& x, int64_t size) const {
    torch::Tensor out = torch::leaky_relu(torch::conv2d(x, c1_w, c1_b, 1, 1), 0.2);
    out = torch::leaky_relu(torch::conv2d(bilinear_to(out, size), c2_w, c2_b, 1, 1), 0.2);
    return out + torch::conv2d(bilinear_to(x, size), skip_w);
}

torch::Tensor GFPGAN::StyleConv::forward(const torch::Tensor& x, const torch::Tensor& latent, torch::Generator& noise) const {
    const torch::Tensor in = upsample ? bilinear_to(x, x.size(2) * 2) : x;
    torch::Tensor out = modulated_conv(in, weight, torch::linear(latent, mod_w, mod_b), true) * std::sqrt(2.0);
    out = out + noise_strength * torch::randn({out.size(0), 1, out.size(2), out.size(3)}, noise, out.options());
    return torch::leaky_relu(out + bias, 0.2);
}

torch::Tensor GFPGAN::ToRgb::forward(const torch::Tensor& x, const torch::Tensor& latent, const torch::Tensor& skip) const {
    torch::Tensor out = modulated_conv(x, weight, torch::linear(latent, mod_w, mod_b), false) + bias;
    if (skip.defined()) out = out + bilinear_to(skip, skip.size(2) * 2);
    return out;
}

bool GFPGAN::is_layout(const std::map<std::string, torch::Tensor>& t) {
    return t.count("conv_body_first.weight") && t.count("final_linear.weight") && t.count("condition_scale.0.0.weight") &&
           t.count("stylegan_decoder.constant_input.weight");
}

GFPGAN GFPGAN::from_tensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path) {
    if (!is_layout(tensors)) throw_bad_file(path, "is not a GFPGAN model (no conv_body_first, final_linear, conditions and StyleGAN decoder)" + kNotGfpgan);
    const TensorLookup t(tensors, path, "", kNotGfpgan);
    GFPGAN net;
    const int64_t c_first = t.conv_out("conv_body_first.weight", 3, 1);
    net.first_w_ = t.expect("conv_body_first.weight", {c_first, 3, 1, 1});
    net.first_b_ = t.expect("conv_body_first.bias", {c_first});
    size_t n_levels = 0;
    while (t.has("conv_body_down." + std::to_string(n_levels) + ".conv1.weight")) {
        if (++n_levels > 10) t.fail("has more than 10 encoder levels");
    }
    if (n_levels == 0) t.fail("has no conv_body_down blocks");
    auto res_block = [&](const std::string& p, int64_t in) {
        ResBlock b;
        b.c1_w = t.expect(p + "conv1.weight", {in, in, 3, 3}), b.c1_b = t.expect(p + "conv1.bias", {in});
        const int64_t out = t.conv_out(p + "conv2.weight", in, 3);
        b.c2_w = t.expect(p + "conv2.weight", {out, in, 3, 3}), b.c2_b = t.expect(p + "conv2.bias", {out});
        b.skip_w = t.expect(p + "skip.weight", {out, in, 1, 1});
        return b;
    };
    net.levels_.resize(n_levels);
    std::vector<int64_t> down_out;
    int64_t ch = c_first;
    for (size_t i = 0; i < n_levels; ++i) {
        net.levels_[i].down = res_block("conv_body_down." + std::to_string(i) + ".", ch);
        ch = net.levels_[i].down.c2_w.size(0);
        down_out.push_back(ch);
    }
    const int64_t c4 = t.conv_out("final_conv.weight", ch, 3);
    net.final_w_ = t.expect("final_conv.weight", {c4, ch, 3, 3}), net.final_b_ = t.expect("final_conv.bias", {c4});

    const std::string d = "stylegan_decoder.";
    const torch::Tensor& constant = t.get(d + "constant_input.weight");
    if (constant.dim() != 4 || constant.size(0) != 1 || constant.size(2) != 4 || constant.size(3) != 4) t.fail("has a constant input that is not 4x4");
    const int64_t d4 = constant.size(1);
    net.constant_ = t.expect(d + "constant_input.weight", {1, d4, 4, 4});
    const torch::Tensor& mod1 = t.get(d + "style_conv1.modulated_conv.modulation.weight");
    if (mod1.dim() != 2 || mod1.size(0) != d4) t.fail("has a first style convolution that does not fit the constant input");
    net.style_dim_ = mod1.size(1);
    const int64_t s = net.style_dim_;
    const int64_t n_latent = 2 * static_cast<int64_t>(n_levels) + 2;
    const torch::Tensor& lin = t.get("final_linear.weight");
    if (lin.dim() != 2 || lin.size(1) != c4 * 16 || (lin.size(0) != s && lin.size(0) != s * n_latent))
        t.fail("has final_linear of shape " + io::shape_text(lin.sizes().vec()) + " where one style latent or one per layer fits");
    net.per_layer_latent_ = lin.size(0) == s * n_latent;
    net.linear_w_ = t.expect("final_linear.weight", lin.sizes().vec()), net.linear_b_ = t.expect("final_linear.bias", {lin.size(0)});

    auto style_conv = [&](const std::string& p, int64_t in, int64_t out, bool upsample) {
        StyleConv c;
        c.weight = t.expect(p + "modulated_conv.weight", {1, out, in, 3, 3});
        c.mod_w = t.expect(p + "modulated_conv.modulation.weight", {in, s}), c.mod_b = t.expect(p + "modulated_conv.modulation.bias", {in});
        c.noise_strength = t.expect(p + "weight", {1}), c.bias = t.expect(p + "bias", {1, out, 1, 1});
        c.upsample = upsample;
        return c;
    };
    auto to_rgb = [&](const std::string& p, int64_t in) {
        ToRgb r;
        r.weight = t.expect(p + "modulated_conv.weight", {1, 3, in, 1, 1});
        r.mod_w = t.expect(p + "modulated_conv.modulation.weight", {in, s}), r.mod_b = t.expect(p + "modulated_conv.modulation.bias", {in});
        r.bias = t.expect(p + "bias", {1, 3, 1, 1});
        return r;
    };
    net.conv1_ = style_conv(d + "style_conv1.", d4, d4, false);
    net.to_rgb1_ = to_rgb(d + "to_rgb1.", d4);

    ch = c4;
    int64_t dec = d4;
    for (size_t i = 0; i < n_levels; ++i) {
        Level& lv = net.levels_[i];
        const std::string n = std::to_string(i);
        if (down_out[n_levels - 1 - i] != ch) t.fail("has conv_body_up." + n + " whose input does not match its encoder skip");
        lv.up = res_block("conv_body_up." + n + ".", ch);
        ch = lv.up.c2_w.size(0);
        const torch::Tensor& conv = t.get(d + "style_convs." + std::to_string(2 * i) + ".modulated_conv.weight");
        if (conv.dim() != 5 || conv.size(0) != 1 || conv.size(2) != dec) t.fail("has style_convs." + std::to_string(2 * i) + " that does not follow the layer before");
        const int64_t di = conv.size(1);
        lv.conv1 = style_conv(d + "style_convs." + std::to_string(2 * i) + ".", dec, di, true);
        lv.conv2 = style_conv(d + "style_convs." + std::to_string(2 * i + 1) + ".", di, di, false);
        lv.to_rgb = to_rgb(d + "to_rgbs." + n + ".", di);
        dec = di;
        const int64_t sft = t.conv_out("condition_scale." + n + ".2.weight", ch, 3);
        if (i == 0) net.sft_half_ = sft * 2 == di && sft != di;
        if (sft != (net.sft_half_ ? di / 2 : di) || (net.sft_half_ && di % 2))
            t.fail("has conditions of " + std::to_string(sft) + " channels for a " + std::to_string(di) + "-channel generator level");
        for (int k = 0; k < 2; ++k) {
            const std::string idx = k == 0 ? ".0." : ".2.";
            const int64_t out = k == 0 ? ch : sft;
            lv.scale_w[k] = t.expect("condition_scale." + n + idx + "weight", {out, ch, 3, 3});
            lv.scale_b[k] = t.expect("condition_scale." + n + idx + "bias", {out});
            lv.shift_w[k] = t.expect("condition_shift." + n + idx + "weight", {out, ch, 3, 3});
            lv.shift_b[k] = t.expect("condition_shift." + n + idx + "bias", {out});
        }
    }
    return net;
}

torch::Tensor GFPGAN::forward(const torch::Tensor& x, torch::Generator noise) const {
    torch::NoGradGuard ng;
    const int64_t size = out_size();
    if (x.dim() != 4 || x.size(0) != 1 || x.size(1) != 3 || x.size(2) != size || x.size(3) != size)
        throw Error(ErrorCode::kInternal, "GFPGAN takes one " + std::to_string(size) + "x" + std::to_string(size) + " RGB face.");
    torch::Tensor feat = torch::leaky_relu(torch::conv2d(x, first_w_, first_b_), 0.2);
    std::vector<torch::Tensor> skips;
    int64_t side = size;
    for (const Level& lv : levels_) {
        side /= 2;
        feat = lv.down.forward(feat, side);
        skips.insert(skips.begin(), feat);
    }
    feat = torch::leaky_relu(torch::conv2d(feat, final_w_, final_b_, 1, 1), 0.2);
    const torch::Tensor code = torch::linear(feat.reshape({1, -1}), linear_w_, linear_b_);
    const int64_t n_latent = 2 * static_cast<int64_t>(levels_.size()) + 2;
    // One latent per generator layer, or the one repeated for every layer.
    const torch::Tensor latent = per_layer_latent_ ? code.view({1, n_latent, style_dim_}) : code.view({1, 1, style_dim_}).expand({1, n_latent, style_dim_});

    std::vector<std::pair<torch::Tensor, torch::Tensor>> conditions;
    for (size_t i = 0; i < levels_.size(); ++i) {
        const Level& lv = levels_[i];
        feat = lv.up.forward(feat + skips[i], side * 2);
        side *= 2;
        auto branch = [&](const torch::Tensor* w, const torch::Tensor* b) {
            return torch::conv2d(torch::leaky_relu(torch::conv2d(feat, w[0], b[0], 1, 1), 0.2), w[1], b[1], 1, 1);
        };
        conditions.emplace_back(branch(lv.scale_w, lv.scale_b), branch(lv.shift_w, lv.shift_b));
    }

    torch::Tensor out = conv1_.forward(constant_, latent.select(1, 0), noise);
    torch::Tensor skip = to_rgb1_.forward(out, latent.select(1, 1), {});
    int64_t li = 1;
    for (size_t i = 0; i < levels_.size(); ++i) {
        const Level& lv = levels_[i];
        out = lv.conv1.forward(out, latent.select(1, li), noise);
        const auto& [scale, shift] = conditions[i];
        if (sft_half_) {
            const int64_t half = out.size(1) / 2;
            out = torch::cat({out.slice(1, 0, half), out.slice(1, half) * scale + shift}, 1);
        } else {
            out = out * scale + shift;
        }
        out = lv.conv2.forward(out, latent.select(1, li + 1), noise);
        skip = lv.to_rgb.forward(out, latent.select(1, li + 2), skip);
        li += 2;
    }
    return skip;
}

}  // namespace sdgimp::models
