#include "unet.h"

#include "fused_ops.h"

#include <algorithm>
#include <cmath>

namespace sdgimp::models {

namespace F = torch::nn::functional;

torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim) {
    const int64_t half = dim / 2;
    // Made on t's device: a host-to-device copy here could not be captured into a CUDA graph.
    auto freqs = torch::exp(-std::log(10000.0) * torch::arange(0, half, torch::TensorOptions().dtype(torch::kFloat).device(t.device())) / half);
    auto args = t.to(torch::kFloat).unsqueeze(1) * freqs.unsqueeze(0);
    auto emb = torch::cat({torch::cos(args), torch::sin(args)}, -1);
    if (dim % 2) emb = torch::cat({emb, torch::zeros_like(emb.slice(1, 0, 1))}, -1);
    return emb;
}

UNetImpl::UNetImpl(const UNetConfig& c) : cfg(c) {
    const int64_t mc = c.model_channels, ted = mc * 4;
    time_embed = register_module("time_embed", Slots());
    time_lin1 = time_embed->add(0, linear(mc, ted));
    time_lin2 = time_embed->add(2, linear(ted, ted));
    auto has_attn = [&](int ds) {
        return std::find(c.attention_resolutions.begin(), c.attention_resolutions.end(), ds) != c.attention_resolutions.end();
    };
    auto transformer = [&](int64_t ch) -> std::shared_ptr<torch::nn::Module> {
        int64_t heads, dim_head;
        if (c.num_head_channels > 0) { dim_head = c.num_head_channels; heads = ch / dim_head; }
        else { heads = c.num_heads > 0 ? c.num_heads : 8; dim_head = ch / heads; }
        if (c.self_attention_blocks) return AttentionBlock(ch, heads).ptr();
        SpatialTransformer st(ch, heads, dim_head, c.transformer_depth, c.context_dim, c.use_linear_in_transformer,
                              c.upcast_attention);
        st->attention_call = attention_call;
        return st.ptr();
    };
    input_blocks = register_module("input_blocks", torch::nn::ModuleList());
    output_blocks = register_module("output_blocks", torch::nn::ModuleList());
    std::vector<int64_t> skip_ch{mc};
    {
        TimestepBlock b;
        b->add(conv2d(c.in_channels, mc, 3, 1, 1).ptr());
        input_blocks->push_back(b);
    }
    int64_t ch = mc;
    int ds = 1;
    const int levels = static_cast<int>(c.channel_mult.size());
    for (int level = 0; level < levels; ++level) {
        for (int r = 0; r < c.num_res_blocks; ++r) {
            TimestepBlock b;
            const int64_t out_ch = mc * c.channel_mult[level];
            b->add(ResBlock(ch, ted, out_ch).ptr());
            ch = out_ch;
            if (has_attn(ds)) b->add(transformer(ch));
            input_blocks->push_back(b);
            skip_ch.push_back(ch);
        }
        if (level != levels - 1) {
            TimestepBlock b;
            b->add(Downsample(ch).ptr());
            input_blocks->push_back(b);
            skip_ch.push_back(ch);
            ds *= 2;
        }
    }
    middle_block = register_module("middle_block", TimestepBlock());
    middle_block->add(ResBlock(ch, ted, ch).ptr());
    middle_block->add(transformer(ch));
    middle_block->add(ResBlock(ch, ted, ch).ptr());
    for (int level = levels - 1; level >= 0; --level) {
        for (int r = 0; r <= c.num_res_blocks; ++r) {
            TimestepBlock b;
            const int64_t skip = skip_ch.back();
            skip_ch.pop_back();
            const int64_t out_ch = mc * c.channel_mult[level];
            b->add(ResBlock(ch + skip, ted, out_ch).ptr());
            ch = out_ch;
            if (has_attn(ds)) b->add(transformer(ch));
            if (level > 0 && r == c.num_res_blocks) {
                b->add(Upsample(ch).ptr());
                ds /= 2;
            }
            output_blocks->push_back(b);
        }
    }
    // Hypertile's layers by their checkpoint names (A1111's DEPTH_LAYERS for SD 1.x and 2.x): the
    // first transformer block of these input, middle and output blocks, at these depths.
    auto tag = [](const std::shared_ptr<torch::nn::Module>& block, int depth) {
        const auto* tb = block->as<TimestepBlockImpl>();
        if (tb && tb->layers.size() > 1)
            if (auto* st = tb->layers[1]->as<SpatialTransformerImpl>()) st->hypertile_depth = depth;
    };
    for (const auto& [index, depth] : {std::pair{1, 0}, {2, 0}, {4, 1}, {5, 1}, {7, 2}, {8, 2}})
        if (index < static_cast<int>(input_blocks->size())) tag((*input_blocks)[index], depth);
    tag(middle_block.ptr(), 3);
    for (const auto& [index, depth] : {std::pair{3, 2}, {4, 2}, {5, 2}, {6, 1}, {7, 1}, {8, 1}, {9, 0}, {10, 0}, {11, 0}})
        if (index < static_cast<int>(output_blocks->size())) tag((*output_blocks)[index], depth);
    out = register_module("out", Slots());
    out_norm = out->add(0, group_norm(ch, 1e-5));
    out_conv = out->add(2, conv2d(mc, c.out_channels, 3, 1, 1));
}

torch::Tensor UNetImpl::forward(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& context,
                                double token_merging_ratio) {
    attention_call->merging = TokenMerging{token_merging_ratio, x.size(2), x.size(3)};
    auto emb = timestep_embedding(t, cfg.model_channels).to(x.scalar_type());
    emb = time_lin2->forward(F::silu(time_lin1->forward(emb)));
    std::vector<torch::Tensor> hs;
    auto h = x;
    for (const auto& m : *input_blocks) {
        h = m->as<TimestepBlock>()->forward(h, emb, context);
        hs.push_back(h);
    }
    h = middle_block->forward(h, emb, context);
    for (const auto& m : *output_blocks) {
        // Sizes that are multiples of 8 but not of 64 give odd latents; as A1111's UNet hijack does,
        // bring the upsampled path to the skip connection's size before joining them.
        if (h.sizes().slice(2) != hs.back().sizes().slice(2))
            h = torch::nn::functional::interpolate(
                h, torch::nn::functional::InterpolateFuncOptions()
                       .size(std::vector<int64_t>{hs.back().size(2), hs.back().size(3)})
                       .mode(torch::kNearest));
        h = torch::cat({h, hs.back()}, 1);
        hs.pop_back();
        h = m->as<TimestepBlock>()->forward(h, emb, context);
    }
    return out_conv->forward(group_norm_act_(h, out_norm));
}

}  // namespace sdgimp::models
