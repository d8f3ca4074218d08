// SwinIR (Liang et al., the upscaler behind A1111's "SwinIR 4x" and the .pth files users keep in
// its SwinIR folder): a convolution, residual groups of shifted-window transformer blocks, and an
// upsampler ("nearest+conv", "pixelshuffle", "pixelshuffledirect", or none for denoising models).
// Every size comes from the tensor shapes, as spandrel reads them; the attention's relative
// position index and shifted-window mask are rebuilt here rather than read from the file.
#pragma once

#include <map>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace sdgimp::models {

// For a window of ws x ws tokens: index[i][j] into the relative position bias table for query i
// and key j (tokens row by row), as SwinIR's WindowAttention builds it.
torch::Tensor swin_relative_position_index(int ws);
// The shifted windows' attention mask of an H x W token map (nW, ws*ws, ws*ws): 0 where query and
// key come from the same region before the cyclic shift, -100 elsewhere.
torch::Tensor swin_attention_mask(int64_t h, int64_t w, int ws, int shift);

struct SwinBlock {
    torch::Tensor norm1_w, norm1_b, qkv_w, qkv_b, bias_table, proj_w, proj_b, norm2_w, norm2_b, fc1_w, fc1_b, fc2_w, fc2_b;
    int heads = 1, window = 8, shift = 0;
    // x: (B, H*W, C) tokens row by row. The block's own index/mask are made for the map's size.
    torch::Tensor forward(const torch::Tensor& x, int64_t h, int64_t w) const;
};

class SwinIR {
public:
    // Whether a file's keys are SwinIR's (conv_first and a first block's relative position table).
    static bool is_layout(const std::map<std::string, torch::Tensor>& tensors);
    // Throws sdgimp::Error naming the file and the key when it is not a SwinIR model it can run.
    static SwinIR load(const std::string& path);
    static SwinIR from_tensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& name);

    // x: (N, 3, H, W) in [0, 1] (any size: padded by reflection to whole windows inside); output
    // (N, 3, sH, sW), not clamped.
    torch::Tensor forward(const torch::Tensor& x) const;
    int scale() const { return scale_; }
    int window() const { return window_; }
    const std::string& upsampler() const { return upsampler_; }
    std::vector<int> depths() const;

private:
    struct Group {
        std::vector<SwinBlock> blocks;
        std::vector<std::pair<torch::Tensor, torch::Tensor>> convs;  // 1 (1conv) or 3 (3conv) convolutions
    };
    std::map<std::string, torch::Tensor> w_;
    std::vector<Group> groups_;
    int scale_ = 1, window_ = 8, embed_ = 0;
    std::string upsampler_;
    bool patch_norm_ = false;
    torch::Tensor conv(const std::string& name, const torch::Tensor& x, int padding) const;
    torch::Tensor features(const torch::Tensor& x) const;
};

}  // namespace sdgimp::models
