#include "unet_blocks.h"

#include "attention.h"
#include "fused_ops.h"

namespace sdgimp::models {

namespace F = torch::nn::functional;

ResBlockImpl::ResBlockImpl(int64_t channels, int64_t emb_channels, int64_t out_channels) {
    in_layers = register_module("in_layers", Slots());
    in_norm = in_layers->add(0, group_norm(channels, 1e-5));
    in_conv = in_layers->add(2, conv2d(channels, out_channels, 3, 1, 1));
    emb_layers = register_module("emb_layers", Slots());
    emb_proj = emb_layers->add(1, linear(emb_channels, out_channels));
    out_layers = register_module("out_layers", Slots());
    out_norm = out_layers->add(0, group_norm(out_channels, 1e-5));
    out_conv = out_layers->add(3, conv2d(out_channels, out_channels, 3, 1, 1));
    if (channels != out_channels) skip_connection = register_module("skip_connection", conv2d(channels, out_channels, 1));
}

torch::Tensor ResBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& emb) {
    // h is this block's own temporary: the adds and the second norm write over it.
    auto h = in_conv->forward(group_norm_act(x, in_norm));
    auto e = emb_proj->forward(F::silu(emb));
    h.add_(e.unsqueeze(-1).unsqueeze(-1));
    h = out_conv->forward(group_norm_act_(h, out_norm));
    return h.add_(skip_connection ? skip_connection->forward(x) : x);
}

CrossAttentionImpl::CrossAttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads_, int64_t dim_head, bool upcast_)
    : heads(heads_), upcast(upcast_) {
    const int64_t inner = heads * dim_head;
    to_q = register_module("to_q", linear(query_dim, inner, false));
    to_k = register_module("to_k", linear(context_dim, inner, false));
    to_v = register_module("to_v", linear(context_dim, inner, false));
    to_out = register_module("to_out", Slots());
    out_proj = to_out->add(0, linear(inner, query_dim));
}

torch::Tensor CrossAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
    const auto& ctx = context.defined() ? context : x;
    auto q = split_heads(to_q->forward(x), heads);
    torch::Tensor k, v;
    if (hypernetworks) {
        const auto [ctx_k, ctx_v] = hypernetworks->apply(ctx);
        k = split_heads(to_k->forward(ctx_k), heads);
        v = split_heads(to_v->forward(ctx_v), heads);
    } else {
        k = split_heads(to_k->forward(ctx), heads);
        v = split_heads(to_v->forward(ctx), heads);
    }
    torch::Tensor o;
    if (upcast && q.scalar_type() == torch::kHalf && !attention_scores_in_float32(q)) {
        // SD 2.1 overflows in half precision inside the softmax; the original upcasts here. bfloat16
        // has float32's range, and the fused CUDA kernel keeps scores in float32: neither needs it.
        o = attention(q.to(torch::kFloat), k.to(torch::kFloat), v.to(torch::kFloat)).to(q.scalar_type());
    } else {
        o = attention(q, k, v);
    }
    return out_proj->forward(merge_heads(o));
}

GEGLUImpl::GEGLUImpl(int64_t dim_in, int64_t dim_out) { proj = register_module("proj", linear(dim_in, dim_out * 2)); }

torch::Tensor GEGLUImpl::forward(const torch::Tensor& x) {
    return geglu(proj->forward(x));
}

FeedForwardImpl::FeedForwardImpl(int64_t dim) {
    const int64_t inner = dim * 4;
    net = register_module("net", Slots());
    geglu = net->add(0, GEGLU(dim, inner));
    out = net->add(2, linear(inner, dim));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) { return out->forward(geglu->forward(x)); }

BasicTransformerBlockImpl::BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t dim_head, int64_t context_dim, bool upcast) {
    attn1 = register_module("attn1", CrossAttention(dim, dim, heads, dim_head, upcast));
    ff = register_module("ff", FeedForward(dim));
    attn2 = register_module("attn2", CrossAttention(dim, context_dim, heads, dim_head, upcast));
    norm1 = register_module("norm1", layer_norm(dim));
    norm2 = register_module("norm2", layer_norm(dim));
    norm3 = register_module("norm3", layer_norm(dim));
}

torch::Tensor BasicTransformerBlockImpl::forward(torch::Tensor x, const torch::Tensor& context, const AttentionCall* call,
                                                int hypertile_depth) {
    auto self_attention = [&](const torch::Tensor& h) {
        if (call && call->hypertile && hypertile_depth >= 0)
            return call->hypertile->unet_attention(h, hypertile_depth, [&](const torch::Tensor& t) { return attn1->forward(t, {}); });
        return attn1->forward(h, {});
    };
    if (call && call->merging.ratio > 0) {
        // tomesd plans the merge from the block's input, before norm1.
        const TokenMerge m(x, call->merging);
        x = m.unmerge(self_attention(m.merge(layer_norm(x, norm1)))).add_(x);
    } else {
        x = self_attention(layer_norm(x, norm1)).add_(x);
    }
    x = attn2->forward(layer_norm(x, norm2), context).add_(x);
    return ff->forward(layer_norm(x, norm3)).add_(x);
}

SpatialTransformerImpl::SpatialTransformerImpl(int64_t channels, int64_t heads, int64_t dim_head, int64_t depth,
                                               int64_t context_dim, bool use_linear_, bool upcast)
    : use_linear(use_linear_) {
    const int64_t inner = heads * dim_head;
    norm = register_module("norm", group_norm(channels, 1e-6));
    if (use_linear) {
        proj_in = torch::nn::AnyModule(linear(channels, inner));
    } else {
        proj_in = torch::nn::AnyModule(conv2d(channels, inner, 1));
    }
    register_module("proj_in", proj_in.ptr());
    transformer_blocks = register_module("transformer_blocks", torch::nn::ModuleList());
    for (int64_t d = 0; d < depth; ++d)
        transformer_blocks->push_back(BasicTransformerBlock(inner, heads, dim_head, context_dim, upcast));
    if (use_linear) proj_out = torch::nn::AnyModule(linear(inner, channels));
    else proj_out = torch::nn::AnyModule(conv2d(inner, channels, 1));
    register_module("proj_out", proj_out.ptr());
}

torch::Tensor SpatialTransformerImpl::forward(const torch::Tensor& x, const torch::Tensor& context) {
    const int64_t b = x.size(0), h = x.size(2), w = x.size(3);
    auto t = group_norm_act(x, norm, false);
    if (!use_linear) t = proj_in.forward(t);
    t = t.flatten(2).transpose(1, 2);  // (B, HW, C)
    if (use_linear) t = proj_in.forward(t);
    for (size_t i = 0; i < transformer_blocks->size(); ++i)
        t = (*transformer_blocks)[i]->as<BasicTransformerBlock>()->forward(t, context, attention_call.get(), i == 0 ? hypertile_depth : -1);
    if (use_linear) t = proj_out.forward(t);
    t = t.transpose(1, 2).reshape({b, -1, h, w});
    if (!use_linear) t = proj_out.forward(t);
    return t + x;
}

DownsampleImpl::DownsampleImpl(int64_t channels) { op = register_module("op", conv2d(channels, channels, 3, 2, 1)); }

UpsampleImpl::UpsampleImpl(int64_t channels) { conv = register_module("conv", conv2d(channels, channels, 3, 1, 1)); }

torch::Tensor UpsampleImpl::forward(const torch::Tensor& x) {
    auto up = F::interpolate(x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
    return conv->forward(up);
}

void TimestepBlockImpl::add(std::shared_ptr<torch::nn::Module> m) {
    register_module(std::to_string(layers.size()), m);
    layers.push_back(std::move(m));
}

AttentionBlockImpl::AttentionBlockImpl(int64_t channels, int64_t heads_) : heads(heads_) {
    norm = register_module("norm", group_norm(channels, 1e-5));
    qkv = register_module("qkv", torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, 3 * channels, 1)));
    proj_out = register_module("proj_out", torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, channels, 1)));
}

torch::Tensor AttentionBlockImpl::forward(const torch::Tensor& x) {
    const int64_t b = x.size(0), c = x.size(1), n = x.numel() / (b * c), d = c / heads;
    auto flat = x.reshape({b, c, n});
    auto normed = group_norm_act(x.contiguous(), norm, false).reshape({b, c, n});
    // (B, heads, 3d, N): each head's q, k and v rows lie together (QKVAttentionLegacy's split).
    auto parts = qkv->forward(normed).reshape({b, heads, 3 * d, n}).split(d, 2);
    auto seq = [](const torch::Tensor& t) { return t.transpose(2, 3); };  // (B, heads, N, d)
    auto o = attention(seq(parts[0]), seq(parts[1]), seq(parts[2]));
    return flat.add(proj_out->forward(o.transpose(2, 3).reshape({b, c, n}))).reshape(x.sizes());
}

torch::Tensor TimestepBlockImpl::forward(torch::Tensor x, const torch::Tensor& emb, const torch::Tensor& context) {
    for (const auto& m : layers) {
        if (auto* r = m->as<ResBlockImpl>()) x = r->forward(x, emb);
        else if (auto* s = m->as<SpatialTransformerImpl>()) x = s->forward(x, context);
        else if (auto* a = m->as<AttentionBlockImpl>()) x = a->forward(x);
        else if (auto* d = m->as<DownsampleImpl>()) x = d->forward(x);
        else if (auto* u = m->as<UpsampleImpl>()) x = u->forward(x);
        else if (auto* c = m->as<Conv2dImpl>()) x = c->forward(x);
        else throw std::logic_error("a TimestepBlock holds a layer it cannot run");
    }
    return x;
}

}  // namespace sdgimp::models
