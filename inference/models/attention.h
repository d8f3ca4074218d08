// Multi-head attention core shared by the UNet, the VAE and the text encoders: fused
// scaled_dot_product_attention on CUDA; on the CPU an AVX-512 kernel over blocks of query rows, else
// blocks of rows through the GEMM.
#pragma once

#include <torch/torch.h>

namespace sdgimp::models {

// q, k, v: (B, heads, N, d). mask: optional additive (N, M). Returns (B, heads, N, d).
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const torch::Tensor& mask = {});

// Whether attention(q, ...) runs a fused kernel that keeps the scores and the softmax in float32
// whatever q's type (scaled_dot_product_attention on CUDA): half-precision inputs then cannot
// overflow in the score matrix, so SD 2.1 needs no float32 upcast around it.
bool attention_scores_in_float32(const torch::Tensor& q);

// Blocks of query rows through oneDNN's sgemm (float32) or LibTorch's products: what attention()
// runs with a mask, on a CPU without AVX-512 or with $GIMP_DIFFUSION_ATTN_KERNEL=0; the
// benchmark's second baseline.
torch::Tensor attention_blocked_gemm(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     const torch::Tensor& mask = {});

// The textbook version (whole score matrix at once): the benchmark's baseline.
torch::Tensor attention_unblocked(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v);

// Floats per block of attention scores ($GIMP_DIFFUSION_ATTN_BLOCK overrides, for tuning).
int64_t attention_block_elems();

// (B, N, heads*d) <-> (B, heads, N, d)
torch::Tensor split_heads(const torch::Tensor& x, int64_t heads);
torch::Tensor merge_heads(const torch::Tensor& x);

}  // namespace sdgimp::models
