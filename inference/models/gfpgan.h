// GFPGAN v1.2-1.4 (TencentARC's "clean" GFPGANv1Clean, A1111's GFPGAN face restorer): a U-Net
// encoder whose bottleneck gives one style latent per generator layer and whose decoder levels give
// spatial scale/shift conditions (SFT) to a StyleGAN2 generator, which paints the restored face.
// Sizes come from the file's shapes; the latent goes straight in (input_is_latent, as GFPGANer and
// spandrel build it), so the style MLP is not used.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sdgimp::models {

// StyleGAN2's modulated convolution for one image: weight (1, out, in, k, k) scaled per input
// channel by style (in), demodulated (each output filter to unit norm, eps 1e-8) when asked,
// convolved with padding k / 2.
torch::Tensor modulated_conv(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& style, bool demodulate);

class GFPGAN {
public:
    static bool is_layout(const std::map<std::string, torch::Tensor>& tensors);
    // Throws sdgimp::Error naming the file and the key that is missing or mis-shaped.
    static GFPGAN from_tensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path);

    int64_t out_size() const { return int64_t{4} << levels_.size(); }

    // x: (1, 3, S, S) RGB in [-1, 1]; the generator's image (not clamped). Each styled convolution
    // adds noise drawn from `noise` (GFPGAN's randomize_noise, as A1111 runs it).
    torch::Tensor forward(const torch::Tensor& x, torch::Generator noise) const;

private:
    struct ResBlock {
        torch::Tensor c1_w, c1_b, c2_w, c2_b, skip_w;
        torch::Tensor forward(const torch::Tensor& x, int64_t size) const;
    };
    struct StyleConv {
        torch::Tensor weight, mod_w, mod_b, noise_strength, bias;
        bool upsample = false;
        torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& latent, torch::Generator& noise) const;
    };
    struct ToRgb {
        torch::Tensor weight, mod_w, mod_b, bias;
        torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& latent, const torch::Tensor& skip) const;
    };
    struct Level {
        ResBlock down, up;                                  // encoder block (size halves) / decoder block (doubles)
        torch::Tensor scale_w[2], scale_b[2], shift_w[2], shift_b[2];  // condition_scale / condition_shift
        StyleConv conv1, conv2;
        ToRgb to_rgb;
    };
    torch::Tensor first_w_, first_b_, final_w_, final_b_, linear_w_, linear_b_, constant_;
    StyleConv conv1_;
    ToRgb to_rgb1_;
    std::vector<Level> levels_;  // conv_body_down[i] with conv_body_up / conditions / generator level i
    int64_t style_dim_ = 0;
    bool per_layer_latent_ = false, sft_half_ = false;
};

}  // namespace sdgimp::models
