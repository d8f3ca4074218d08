// The building blocks of ldm's openaimodel.UNetModel; member names are the checkpoint keys.
#pragma once

#include <torch/torch.h>

#include "hypernetwork.h"
#include "module_slots.h"
#include "attention_call.h"

namespace sdgimp::models {

struct ResBlockImpl : torch::nn::Module {
    ResBlockImpl(int64_t channels, int64_t emb_channels, int64_t out_channels);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb);
    Slots in_layers, emb_layers, out_layers;
    torch::nn::GroupNorm in_norm{nullptr}, out_norm{nullptr};
    Conv2d in_conv{nullptr}, out_conv{nullptr}, skip_connection{nullptr};
    Linear emb_proj{nullptr};
};
TORCH_MODULE(ResBlock);

struct CrossAttentionImpl : torch::nn::Module {
    CrossAttentionImpl(int64_t query_dim, int64_t context_dim, int64_t heads, int64_t dim_head, bool upcast);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);
    Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
    Slots to_out;
    Linear out_proj{nullptr};
    int64_t heads;
    bool upcast;
    // The prompt's hypernetworks rewrite the context before to_k and to_v (nullptr: none).
    std::shared_ptr<const HypernetworkSet> hypernetworks;
};
TORCH_MODULE(CrossAttention);

struct GEGLUImpl : torch::nn::Module {
    GEGLUImpl(int64_t dim_in, int64_t dim_out);
    torch::Tensor forward(const torch::Tensor& x);
    Linear proj{nullptr};
};
TORCH_MODULE(GEGLU);

struct FeedForwardImpl : torch::nn::Module {
    explicit FeedForwardImpl(int64_t dim);
    torch::Tensor forward(const torch::Tensor& x);
    Slots net;
    GEGLU geglu{nullptr};
    Linear out{nullptr};
};
TORCH_MODULE(FeedForward);

struct BasicTransformerBlockImpl : torch::nn::Module {
    BasicTransformerBlockImpl(int64_t dim, int64_t heads, int64_t dim_head, int64_t context_dim, bool upcast);
    // With a token merging setting the self-attention runs on the merged tokens; with Hypertile
    // (hypertile_depth >= 0: this block is one it tiles, at that depth) over tiles of them.
    torch::Tensor forward(torch::Tensor x, const torch::Tensor& context, const AttentionCall* call = nullptr,
                          int hypertile_depth = -1);
    CrossAttention attn1{nullptr}, attn2{nullptr};
    FeedForward ff{nullptr};
    torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
};
TORCH_MODULE(BasicTransformerBlock);

struct SpatialTransformerImpl : torch::nn::Module {
    SpatialTransformerImpl(int64_t channels, int64_t heads, int64_t dim_head, int64_t depth, int64_t context_dim,
                           bool use_linear, bool upcast);
    torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context);
    torch::nn::GroupNorm norm{nullptr};
    torch::nn::AnyModule proj_in, proj_out;  // Conv2d 1x1 (SD 1.x) or Linear (SD 2.x)
    torch::nn::ModuleList transformer_blocks;
    bool use_linear;
    // The UNet's per-call attention changes (nullptr: none), and the depth at which Hypertile
    // tiles this transformer's first block (-1: it does not).
    std::shared_ptr<const AttentionCall> attention_call;
    int hypertile_depth = -1;
};
TORCH_MODULE(SpatialTransformer);

// ldm's openaimodel.AttentionBlock (the "legacy" order): self-attention over the pixels for UNets
// without cross-attention (LDSR's). qkv is a 1x1 Conv1d whose 3*C outputs hold, head by head, that
// head's queries, keys and values; norm is a 32-group GroupNorm.
struct AttentionBlockImpl : torch::nn::Module {
    AttentionBlockImpl(int64_t channels, int64_t heads);
    torch::Tensor forward(const torch::Tensor& x);
    torch::nn::GroupNorm norm{nullptr};
    torch::nn::Conv1d qkv{nullptr}, proj_out{nullptr};
    int64_t heads;
};
TORCH_MODULE(AttentionBlock);

struct DownsampleImpl : torch::nn::Module {
    explicit DownsampleImpl(int64_t channels);
    torch::Tensor forward(const torch::Tensor& x) { return op(x); }
    Conv2d op{nullptr};
};
TORCH_MODULE(Downsample);

struct UpsampleImpl : torch::nn::Module {
    explicit UpsampleImpl(int64_t channels);
    torch::Tensor forward(const torch::Tensor& x);
    Conv2d conv{nullptr};
};
TORCH_MODULE(Upsample);

// ldm's TimestepEmbedSequential: numbered layers, each fed what it needs.
struct TimestepBlockImpl : torch::nn::Module {
    void add(std::shared_ptr<torch::nn::Module> m);
    torch::Tensor forward(torch::Tensor x, const torch::Tensor& emb, const torch::Tensor& context);
    std::vector<std::shared_ptr<torch::nn::Module>> layers;
};
TORCH_MODULE(TimestepBlock);

}  // namespace sdgimp::models
