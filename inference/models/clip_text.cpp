#include "clip_text.h"

#include <cmath>

#include "attention.h"

namespace sdgimp::models {

namespace F = torch::nn::functional;

torch::Tensor causal_mask(int64_t n, const torch::TensorOptions& opts) {
    return torch::full({n, n}, -std::numeric_limits<float>::infinity(), opts).triu(1);
}

OpenClipAttentionImpl::OpenClipAttentionImpl(int64_t width, int64_t heads_) : heads(heads_) {
    in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * width, width}));
    in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * width}));
    out_proj = register_module("out_proj", linear(width, width));
}

torch::Tensor OpenClipAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
    auto qkv = linear_forward(x, in_proj_weight, in_proj_bias).chunk(3, -1);  // oneDNN sgemm where present, as every Linear
    auto o = attention(split_heads(qkv[0], heads), split_heads(qkv[1], heads), split_heads(qkv[2], heads), mask);
    return out_proj->forward(merge_heads(o));
}

OpenClipBlockImpl::OpenClipBlockImpl(int64_t width, int64_t heads, int64_t mlp) {
    ln_1 = register_module("ln_1", layer_norm(width));
    attn = register_module("attn", OpenClipAttention(width, heads));
    ln_2 = register_module("ln_2", layer_norm(width));
    auto m = register_module("mlp", std::make_shared<torch::nn::Module>());
    c_fc = m->register_module("c_fc", linear(width, mlp));
    c_proj = m->register_module("c_proj", linear(mlp, width));
}

torch::Tensor OpenClipBlockImpl::forward(torch::Tensor x, const torch::Tensor& mask) {
    x = x + attn->forward(ln_1->forward(x), mask);
    return x + c_proj->forward(F::gelu(c_fc->forward(ln_2->forward(x))));
}

OpenClipTextImpl::OpenClipTextImpl(const TextConfig& c) : cfg(c) {
    token_embedding = register_module("token_embedding", Embedding(c.vocab, c.width));
    positional_embedding = register_parameter("positional_embedding", torch::zeros({c.context_length, c.width}));
    auto tr = register_module("transformer", std::make_shared<torch::nn::Module>());
    resblocks = tr->register_module("resblocks", torch::nn::ModuleList());
    for (int i = 0; i < c.layers; ++i) resblocks->push_back(OpenClipBlock(c.width, c.heads, c.mlp));
    ln_final = register_module("ln_final", layer_norm(c.width));
    // Stored in the checkpoints but unused for conditioning.
    text_projection = register_parameter("text_projection", torch::zeros({c.width, c.width}), false);
    logit_scale = register_parameter("logit_scale", torch::zeros({}), false);
}

torch::Tensor token_vectors(Embedding& table, const torch::Tensor& ids, const std::vector<TokenFix>& fixes,
                            const torch::Tensor& like) {
    // The token table may stay in host memory while the rest runs on a GPU (keep_on_host).
    torch::Tensor x = table->forward(ids.to(table->weight.device())).to(like.device(), like.scalar_type());
    for (const TokenFix& f : fixes) {
        const int64_t n = std::min<int64_t>(f.vectors.size(0), x.size(1) - f.offset);
        if (n > 0) x[f.row].narrow(0, f.offset, n).copy_(f.vectors.narrow(0, 0, n));
    }
    return x;
}

torch::Tensor OpenClipTextImpl::forward(const torch::Tensor& ids, int64_t layers_to_run, const std::vector<TokenFix>& fixes) {
    const int64_t n = ids.size(1);
    auto x = token_vectors(token_embedding, ids, fixes, positional_embedding) + positional_embedding.slice(0, 0, n);
    auto mask = causal_mask(n, x.options());
    for (int64_t i = 0; i < layers_to_run; ++i) x = resblocks[i]->as<OpenClipBlock>()->forward(x, mask);
    return ln_final->forward(x);
}

HfClipAttentionImpl::HfClipAttentionImpl(int64_t width, int64_t heads_) : heads(heads_) {
    k_proj = register_module("k_proj", linear(width, width));
    v_proj = register_module("v_proj", linear(width, width));
    q_proj = register_module("q_proj", linear(width, width));
    out_proj = register_module("out_proj", linear(width, width));
}

torch::Tensor HfClipAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
    auto o = attention(split_heads(q_proj->forward(x), heads), split_heads(k_proj->forward(x), heads),
                       split_heads(v_proj->forward(x), heads), mask);
    return out_proj->forward(merge_heads(o));
}

HfClipLayerImpl::HfClipLayerImpl(int64_t width, int64_t heads, int64_t mlp) {
    self_attn = register_module("self_attn", HfClipAttention(width, heads));
    layer_norm1 = register_module("layer_norm1", layer_norm(width));
    auto m = register_module("mlp", std::make_shared<torch::nn::Module>());
    fc1 = m->register_module("fc1", linear(width, mlp));
    fc2 = m->register_module("fc2", linear(mlp, width));
    layer_norm2 = register_module("layer_norm2", layer_norm(width));
}

torch::Tensor HfClipLayerImpl::forward(torch::Tensor x, const torch::Tensor& mask) {
    x = x + self_attn->forward(layer_norm1->forward(x), mask);
    auto h = fc1->forward(layer_norm2->forward(x));
    h = h * torch::sigmoid(1.702 * h);  // quick_gelu
    return x + fc2->forward(h);
}

HfClipTextImpl::HfClipTextImpl(const TextConfig& c) : cfg(c) {
    auto emb = register_module("embeddings", std::make_shared<torch::nn::Module>());
    token_embedding = emb->register_module("token_embedding", Embedding(c.vocab, c.width));
    position_embedding = emb->register_module("position_embedding", Embedding(c.context_length, c.width));
    position_ids = emb->register_buffer("position_ids", torch::arange(c.context_length, torch::kLong).unsqueeze(0));
    auto enc = register_module("encoder", std::make_shared<torch::nn::Module>());
    layers = enc->register_module("layers", torch::nn::ModuleList());
    for (int i = 0; i < c.layers; ++i) layers->push_back(HfClipLayer(c.width, c.heads, c.mlp));
    final_layer_norm = register_module("final_layer_norm", layer_norm(c.width));
}

torch::Tensor HfClipTextImpl::forward(const torch::Tensor& ids, int64_t layers_to_run, const std::vector<TokenFix>& fixes) {
    const int64_t n = ids.size(1);
    const auto& pos = position_embedding->weight;
    auto x = token_vectors(token_embedding, ids, fixes, pos) +
             position_embedding->forward(torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(pos.device())));
    auto mask = causal_mask(n, x.options());
    for (int64_t i = 0; i < layers_to_run; ++i) x = layers[i]->as<HfClipLayer>()->forward(x, mask);
    return final_layer_norm->forward(x);
}

TextEncoderImpl::TextEncoderImpl(const TextConfig& c) : cfg(c) {
    if (c.kind == TextEncoderKind::kOpenCLIP) {
        open_clip = register_module("model", OpenClipText(c));
    } else {
        auto tr = register_module("transformer", std::make_shared<torch::nn::Module>());
        hf = tr->register_module("text_model", HfClipText(c));
    }
}

void TextEncoderImpl::keep_on_host() {
    if (open_clip) {
        open_clip->token_embedding->to(torch::kCPU);
        // SD 2.x conditions on the penultimate block's output, so the last block never runs.
        if (cfg.penultimate && cfg.layers > 1) open_clip->resblocks[cfg.layers - 1]->to(torch::kCPU);
    } else {
        hf->token_embedding->to(torch::kCPU);
    }
}

torch::Tensor TextEncoderImpl::forward(const torch::Tensor& ids, int clip_skip, const std::vector<TokenFix>& fixes) {
    const int64_t skip = std::max(1, clip_skip) - 1;
    if (open_clip) {
        const int64_t base = cfg.penultimate ? cfg.layers - 1 : cfg.layers;
        return open_clip->forward(ids, std::max<int64_t>(1, base - skip), fixes);
    }
    return hf->forward(ids, std::max<int64_t>(1, cfg.layers - skip), fixes);
}

}  // namespace sdgimp::models
