// SCUNet (Zhang et al., A1111's "ScuNET GAN" / "ScuNET PSNR" denoisers, same size out): a UNet
// of Swin-Conv blocks, each splitting its channels between a residual convolution pair and a
// window-attention transformer (shifted in every other block) and joining them again. Sizes come
// from the tensor shapes (heads of 32 channels, 8-pixel windows, as the releases have them).
#pragma once

#include <map>
#include <string>
#include <torch/torch.h>
#include <vector>

namespace sdgimp::models {

// The window attention of SCUNet's blocks ("W", or "SW" when shifted by half a window): its
// relative embedding is a (heads, 2ws-1, 2ws-1) table, masked pairs get -inf.
struct ScunetAttention {
    torch::Tensor qkv_w, qkv_b, rel, out_w, out_b;  // embedding_layer, relative_position_params, linear
    int window = 8, head_dim = 32;
    bool shifted = false;
    // x: (B, H, W, C) with H and W whole windows.
    torch::Tensor forward(const torch::Tensor& x) const;
};
// SCUNet's mask for shifted windows: (nW, ws*ws, ws*ws), true where a query may not see a key.
torch::Tensor scunet_attention_mask(int64_t h_windows, int64_t w_windows, int ws);

class SCUNet {
public:
    static bool is_layout(const std::map<std::string, torch::Tensor>& tensors);
    static SCUNet from_tensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path);
    // x: (N, 3, H, W) in [0, 1]; padded by replication to multiples of 64 inside, cut back.
    torch::Tensor forward(const torch::Tensor& x) const;
    std::vector<int> config() const;

private:
    struct Block {
        torch::Tensor conv1_1_w, conv1_1_b, conv1_2_w, conv1_2_b, conv_a, conv_b;  // 1x1 in/out, the 3x3 pair
        torch::Tensor ln1_w, ln1_b, ln2_w, ln2_b, fc1_w, fc1_b, fc2_w, fc2_b;
        ScunetAttention attn;
        int64_t conv_dim = 0;
        torch::Tensor forward(const torch::Tensor& x) const;
    };
    std::vector<std::vector<Block>> stages_;  // down1, down2, down3, body, up3, up2, up1
    torch::Tensor head_, tail_, down_[3], up_[3];
};

}  // namespace sdgimp::models
