// DAT (Chen et al., "Dual Aggregation Transformer", the network behind A1111's "DAT x2/x3/x4" and
// the .pth files users keep in its DAT folder): residual groups whose blocks alternate a spatial
// window attention (the channels split between H_sp x W_sp and W_sp x H_sp windows, shifted in
// some blocks, with a learned dynamic position bias) and a channel attention, each paired with a
// depthwise convolution branch through its "adaptive interaction" gates, and a spatial-gate
// feed-forward network. Every size comes from the tensor shapes, as spandrel reads them.
#pragma once

#include <map>
#include <string>
#include <torch/torch.h>
#include <utility>
#include <vector>

namespace sdgimp::models {

// DAT's shifted-window masks for an H x W map (both whole windows): for the branch with h_sp x w_sp
// windows shifted by (sh, sw), (nW, h_sp*w_sp, h_sp*w_sp) of 0 where query and key come from the
// same region before the shift and -100 elsewhere. The regions are Python's slices (0, -size),
// (-size, -shift), (-shift, None) along each side, as DAT's calculate_mask lays them.
torch::Tensor dat_attention_mask(int64_t h, int64_t w, int h_sp, int w_sp, int sh, int sw);
// For an h_sp x w_sp window: index[i][j] of query token i and key token j (row by row) into the
// dynamic bias table, whose rows are the offsets (dy, dx) from (1 - h_sp, 1 - w_sp) row by row.
torch::Tensor dat_relative_position_index(int h_sp, int w_sp);
torch::Tensor dat_rpe_biases(int h_sp, int w_sp);

class DAT {
public:
    // Whether a file's keys are DAT's (spandrel's test: before_RG, the first block's spatial-gate
    // network and dynamic position bias).
    static bool is_layout(const std::map<std::string, torch::Tensor>& tensors);
    // Throws sdgimp::Error naming the file and the key when it is not a DAT model it can run.
    static DAT from_tensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path);

    // x: (N, 3, H, W), A1111's BGR floats in [0, 1]; output (N, 3, sH, sW), not clamped.
    torch::Tensor forward(const torch::Tensor& x) const;
    // The pieces, for tests: one block's attention (spatial for even blocks, channel for odd) and
    // feed-forward network on tokens (B, H*W, C).
    torch::Tensor attention(int group, int block, const torch::Tensor& tokens, int64_t h, int64_t w) const;
    torch::Tensor feed_forward(int group, int block, const torch::Tensor& tokens, int64_t h, int64_t w) const;
    static bool shifted(int group, int block);  // DAT's rule for which spatial blocks shift

    int scale() const { return scale_; }
    std::pair<int, int> split() const { return {split_[0], split_[1]}; }
    std::vector<int> depths() const { return depths_; }
    std::vector<int> heads() const { return heads_; }
    int embed_dim() const { return embed_; }
    int hidden() const { return hidden_; }
    const std::string& upsampler() const { return upsampler_; }

private:
    std::map<std::string, torch::Tensor> w_;
    std::vector<int> depths_, heads_;
    int split_[2] = {2, 4};
    int scale_ = 1, embed_ = 0, hidden_ = 0;
    bool three_conv_ = false;
    std::string upsampler_;
    const torch::Tensor& at(const std::string& key) const { return w_.at(key); }
    torch::Tensor linear(const std::string& name, const torch::Tensor& x) const;
    torch::Tensor conv(const std::string& name, const torch::Tensor& x, int padding, int64_t groups = 1) const;
    torch::Tensor batch_norm(const std::string& name, const torch::Tensor& x) const;
    torch::Tensor layer_norm(const std::string& name, const torch::Tensor& x) const;
    torch::Tensor residual_convs(const std::string& prefix, const torch::Tensor& x) const;
    torch::Tensor window_branch(const std::string& prefix, int idx, int heads, const torch::Tensor& qkv, int64_t h, int64_t w,
                                const torch::Tensor& mask) const;
};

}  // namespace sdgimp::models
