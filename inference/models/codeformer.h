// CodeFormer (sczhou's codeformer.pth, A1111's default face restorer, as spandrel builds it): a VQGAN
// encoder, a transformer that predicts a code of the learned codebook for each 16x16 position of the
// face, the codebook features brought to the encoder's statistics (AdaIN), and the VQGAN generator,
// whose feature maps at 32-256 pixels are fused with the encoder's (Fuse_sft_block) by the
// "CodeFormer weight". The VQGAN's layout (six levels, two residual blocks each, attention at the
// 16-pixel level) is CodeFormer's own; widths, codebook, transformer depth and the fused levels come
// from the file's shapes.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sdgimp::models {

// nn.MultiheadAttention over (L, B, E) sequences (query = key input `qk`, value input `v`): the packed
// in-projection split into queries, keys and values, `heads` heads scaled by 1/sqrt(E / heads), the
// out-projection.
torch::Tensor multihead_attention(const torch::Tensor& qk, const torch::Tensor& v, const torch::Tensor& in_w, const torch::Tensor& in_b,
                                  const torch::Tensor& out_w, const torch::Tensor& out_b, int64_t heads);

// CodeFormer's adaptive_instance_normalization: `content` per channel brought to the mean and
// standard deviation (unbiased variance + 1e-5) of `style`.
torch::Tensor adaptive_instance_norm(const torch::Tensor& content, const torch::Tensor& style);

class CodeFormer {
public:
    static bool is_layout(const std::map<std::string, torch::Tensor>& tensors);
    // Throws sdgimp::Error naming the file and the key that is missing or mis-shaped.
    static CodeFormer from_tensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path);

    int64_t face_size() const { return side_ * 32; }

    // x: (1, 3, S, S) RGB in [-1, 1]; the generator's image (not clamped). weight: the fusion of
    // the encoder's features (0 = the codebook's face alone).
    torch::Tensor forward(const torch::Tensor& x, double weight) const;

private:
    struct Block {
        enum class Kind { kConv, kRes, kAttn, kDown, kUp, kNorm } kind = Kind::kConv;
        torch::Tensor w, b;                                   // conv / norm / sample conv
        torch::Tensor n1_w, n1_b, c1_w, c1_b, n2_w, n2_b, c2_w, c2_b, out_w, out_b;  // ResBlock
        torch::Tensor q_w, q_b, k_w, k_b, v_w, v_b, p_w, p_b;  // AttnBlock (norm in n1)
        torch::Tensor forward(const torch::Tensor& x) const;
    };
    struct Layer {
        torch::Tensor in_w, in_b, out_w, out_b, l1_w, l1_b, l2_w, l2_b, n1_w, n1_b, n2_w, n2_b;
    };
    struct Fuse {
        int encoder_block = 0, generator_block = 0;
        Block encode;
        torch::Tensor scale_w[2], scale_b[2], shift_w[2], shift_b[2];
    };
    std::vector<Block> encoder_, generator_;
    std::vector<Layer> layers_;
    std::vector<Fuse> fuses_;
    torch::Tensor position_, feat_w_, feat_b_, codebook_, pred_norm_w_, pred_norm_b_, pred_w_;
    int64_t side_ = 16;  // positions per side of the transformer's grid
};

}  // namespace sdgimp::models
