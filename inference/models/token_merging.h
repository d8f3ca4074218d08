// A1111's "Token merging ratio": tomesd 0.1.3 as A1111 1.10 patches the UNet (merging for the
// self-attention only, a 2x2 grid of destination tokens at their top-left corners, no randomness,
// only in the transformer blocks that run at the latent's own resolution). Before attn1 the
// ratio's share of tokens is averaged into the destination token it is most similar to (cosine
// similarity of the block's input); after it every token takes its group's output back.
#pragma once

#include <torch/torch.h>

namespace sdgimp::models {

// What one UNet call merges with: its ratio and the latent size of the UNet's input.
struct TokenMerging {
    double ratio = 0;
    int64_t height = 0, width = 0;
};

// The merge of one block's tokens, planned from its input x (B, N, C).
class TokenMerge {
public:
    // Inactive (merge and unmerge return their input) when the setting merges nothing here.
    TokenMerge(const torch::Tensor& x, const TokenMerging& setting);

    bool active() const { return r_ > 0; }
    // (B, N, C) -> (B, N - r, C): the unmerged sources, then every destination averaged with the
    // sources merged into it.
    torch::Tensor merge(const torch::Tensor& x) const;
    // (B, N - r, C) -> (B, N, C): each token takes its own output or its destination's.
    torch::Tensor unmerge(const torch::Tensor& y) const;

    int64_t removed() const { return r_; }

private:
    int64_t n_ = 0, r_ = 0;
    torch::Tensor src_pos_, dst_pos_;  // (Ns) and (Nd) token positions, raster order
    torch::Tensor unm_idx_, src_idx_, dst_idx_;  // (B, Ns - r), (B, r), (B, r): indices into sources / destinations
    torch::Tensor unm_pos_, moved_pos_;          // the positions of the unmerged and merged sources
    torch::Tensor count_;                        // (B, Nd): tokens each destination averages
};

}  // namespace sdgimp::models
