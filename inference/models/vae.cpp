#include "vae.h"

#include "attention.h"
#include "fused_ops.h"

namespace sdgimp::models {

namespace F = torch::nn::functional;
constexpr double kVaeEps = 1e-6;

VaeResnetBlockImpl::VaeResnetBlockImpl(int64_t in, int64_t out) {
    norm1 = register_module("norm1", group_norm(in, kVaeEps));
    conv1 = register_module("conv1", conv2d(in, out, 3, 1, 1));
    norm2 = register_module("norm2", group_norm(out, kVaeEps));
    conv2 = register_module("conv2", conv2d(out, out, 3, 1, 1));
    if (in != out) nin_shortcut = register_module("nin_shortcut", conv2d(in, out, 1));
}

torch::Tensor VaeResnetBlockImpl::forward(torch::Tensor x) {
    if (nin_shortcut) {
        // The shortcut first: x is then normalised in place when nothing else holds it, so the
        // decoder's largest block (256 -> 128 channels at full size) holds three full-size
        // tensors at once instead of four.
        auto skip = nin_shortcut->forward(x);
        const bool owned = x.use_count() == 1 && x.storage().use_count() == 1;
        auto h = conv1->forward(owned ? group_norm_act_(x, norm1) : group_norm_act(x, norm1));
        x = torch::Tensor();
        h = conv2->forward(group_norm_act_(h, norm2));
        return h.add_(skip);
    }
    auto h = conv1->forward(group_norm_act(x, norm1));
    h = conv2->forward(group_norm_act_(h, norm2));
    return h.add_(x);
}

VaeAttnBlockImpl::VaeAttnBlockImpl(int64_t ch) {
    norm = register_module("norm", group_norm(ch, kVaeEps));
    q = register_module("q", conv2d(ch, ch, 1));
    k = register_module("k", conv2d(ch, ch, 1));
    v = register_module("v", conv2d(ch, ch, 1));
    proj_out = register_module("proj_out", conv2d(ch, ch, 1));
}

torch::Tensor VaeAttnBlockImpl::forward(const torch::Tensor& x) {
    if (hypertile) return hypertile->vae_attention(x, [this](const torch::Tensor& t) { return forward_whole(t); });
    return forward_whole(x);
}

torch::Tensor VaeAttnBlockImpl::forward_whole(const torch::Tensor& x) {
    const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
    auto n = group_norm_act(x, norm, false);
    // Single head over all pixels: (B, 1, HW, C)
    auto to_seq = [&](const torch::Tensor& t) { return t.reshape({b, c, h * w}).transpose(1, 2).unsqueeze(1); };
    auto o = attention(to_seq(q->forward(n)), to_seq(k->forward(n)), to_seq(v->forward(n)));
    o = o.squeeze(1).transpose(1, 2).reshape({b, c, h, w});
    return proj_out->forward(o).add_(x);
}

VaeMidImpl::VaeMidImpl(int64_t ch) {
    block_1 = register_module("block_1", VaeResnetBlock(ch, ch));
    attn_1 = register_module("attn_1", VaeAttnBlock(ch));
    block_2 = register_module("block_2", VaeResnetBlock(ch, ch));
}

torch::Tensor VaeMidImpl::forward(torch::Tensor x) { return block_2->forward(attn_1->forward(block_1->forward(x))); }

namespace {

thread_local bool upsample_bands = true;

torch::Tensor upsample2x(const torch::Tensor& x) {
    return F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
}

}  // namespace

UpsampleBandsGuard::UpsampleBandsGuard(bool enabled) : saved_(upsample_bands) { upsample_bands = enabled; }
UpsampleBandsGuard::~UpsampleBandsGuard() { upsample_bands = saved_; }

int64_t upsample2x_band_rows(const torch::Tensor& x, const Conv2d& conv) {
    const int64_t upsampled_bytes = 4 * x.numel() * static_cast<int64_t>(x.element_size());
    if (!upsample_bands || upsampled_bytes < (int64_t{32} << 20) || torch::GradMode::is_enabled() || conv->pad != 1 ||
        conv->stride != 1 || conv->weight.size(2) != 3)
        return 0;
    return std::max<int64_t>(16, (x.size(2) / 4 + 1) & ~int64_t{1});  // about eight bands, an even number of rows each
}

torch::Tensor upsample2x_conv(const torch::Tensor& x, Conv2d& conv) {
    const int64_t h2 = 2 * x.size(2), w2 = 2 * x.size(3);
    const int64_t rows = upsample2x_band_rows(x, conv);
    if (rows == 0) return conv->forward(upsample2x(x));
    // Each band is convolved with one row more on either side (zero padding only at the image's own
    // edges), and its first and last rows, which saw the padding, are dropped: every kept row sees
    // exactly the rows the whole convolution gives it.
    torch::Tensor y;
    for (int64_t r0 = 0; r0 < h2; r0 += rows) {
        const int64_t r1 = std::min(h2, r0 + rows);
        const int64_t a = std::max<int64_t>(0, r0 - 1), b = std::min(h2, r1 + 1);  // upsampled rows with the halo
        const int64_t s0 = a / 2, s1 = (b - 1) / 2 + 1;                               // the input rows they repeat
        const auto band = upsample2x(x.narrow(2, s0, s1 - s0)).narrow(2, a - 2 * s0, b - a);
        const auto out = conv->forward(band).narrow(2, r0 - a, r1 - r0);
        if (!y.defined())
            y = torch::empty({x.size(0), out.size(1), h2, w2}, out.options().memory_format(out.suggest_memory_format()));
        y.narrow(2, r0, r1 - r0).copy_(out);
    }
    return y;
}

torch::Tensor VaeLevelImpl::forward(torch::Tensor x) {
    for (const auto& b : *block) x = b->as<VaeResnetBlock>()->forward(std::move(x));
    if (resample) {
        if (down) x = resample->forward(F::pad(x, F::PadFuncOptions({0, 1, 0, 1})));  // right/bottom, then stride 2
        else x = upsample2x_conv(x, resample);
    }
    return x;
}

VaeEncoderImpl::VaeEncoderImpl(const VAEConfig& c) {
    conv_in = register_module("conv_in", conv2d(3, c.ch, 3, 1, 1));
    down = register_module("down", torch::nn::ModuleList());
    int64_t ch = c.ch;
    const size_t levels = c.ch_mult.size();
    for (size_t l = 0; l < levels; ++l) {
        VaeLevel lv;
        lv->down = true;
        lv->block = lv->register_module("block", torch::nn::ModuleList());
        const int64_t out = c.ch * c.ch_mult[l];
        for (int r = 0; r < c.num_res_blocks; ++r) { lv->block->push_back(VaeResnetBlock(ch, out)); ch = out; }
        if (l != levels - 1) {
            auto ds = lv->register_module("downsample", std::make_shared<torch::nn::Module>());
            lv->resample = ds->register_module("conv", conv2d(ch, ch, 3, 2, 0));
        }
        down->push_back(lv);
    }
    mid = register_module("mid", VaeMid(ch));
    norm_out = register_module("norm_out", group_norm(ch, kVaeEps));
    conv_out = register_module("conv_out", conv2d(ch, 2 * c.z_channels, 3, 1, 1));
}

torch::Tensor VaeEncoderImpl::forward(const torch::Tensor& x) {
    auto h = conv_in->forward(x);
    for (const auto& l : *down) h = l->as<VaeLevel>()->forward(std::move(h));
    h = mid->forward(h);
    return conv_out->forward(group_norm_act_(h, norm_out));
}

VaeDecoderImpl::VaeDecoderImpl(const VAEConfig& c) {
    const size_t levels = c.ch_mult.size();
    int64_t ch = c.ch * c.ch_mult.back();
    conv_in = register_module("conv_in", conv2d(c.z_channels, ch, 3, 1, 1));
    mid = register_module("mid", VaeMid(ch));
    // Stored as up.0 (full resolution) .. up.L-1 (lowest), run from the lowest.
    std::vector<VaeLevel> built(levels);
    for (size_t i = levels; i-- > 0;) {
        VaeLevel lv;
        lv->block = lv->register_module("block", torch::nn::ModuleList());
        const int64_t out = c.ch * c.ch_mult[i];
        for (int r = 0; r <= c.num_res_blocks; ++r) { lv->block->push_back(VaeResnetBlock(ch, out)); ch = out; }
        if (i != 0) {
            auto us = lv->register_module("upsample", std::make_shared<torch::nn::Module>());
            lv->resample = us->register_module("conv", conv2d(ch, ch, 3, 1, 1));
        }
        built[i] = lv;
    }
    up = register_module("up", torch::nn::ModuleList());
    for (auto& lv : built) up->push_back(lv);
    norm_out = register_module("norm_out", group_norm(ch, kVaeEps));
    conv_out = register_module("conv_out", conv2d(ch, 3, 3, 1, 1));
}

torch::Tensor VaeDecoderImpl::forward(const torch::Tensor& z) {
    auto h = mid->forward(conv_in->forward(z));
    // Moved in, so that the level's first block owns its input and normalises it in place.
    for (size_t i = up->size(); i-- > 0;) h = up[i]->as<VaeLevel>()->forward(std::move(h));
    return conv_out->forward(group_norm_act_(h, norm_out));
}

AutoencoderKLImpl::AutoencoderKLImpl(const VAEConfig& c) : cfg(c) {
    encoder = register_module("encoder", VaeEncoder(c));
    decoder = register_module("decoder", VaeDecoder(c));
    quant_conv = register_module("quant_conv", conv2d(2 * c.z_channels, 2 * c.embed_dim, 1));
    post_quant_conv = register_module("post_quant_conv", conv2d(c.embed_dim, c.z_channels, 1));
}

torch::Tensor AutoencoderKLImpl::encode_moments(const torch::Tensor& image) {
    return quant_conv->forward(encoder->forward(image));
}

torch::Tensor AutoencoderKLImpl::decode(const torch::Tensor& z) { return decoder->forward(post_quant_conv->forward(z)); }

}  // namespace sdgimp::models
