// Real-ESRGAN's compact upscaler (SRVGGNetCompact: A1111's "R-ESRGAN General 4xV3", "R-ESRGAN
// General WDN 4xV3", "R-ESRGAN AnimeVideo", and other compact models users keep beside their
// ESRGAN files): a plain stack of 3x3 convolutions with PReLU, a pixel shuffle, and the input
// enlarged by nearest neighbour added back. Widths, depth and scale come from the tensor shapes.
#pragma once

#include <map>
#include <string>
#include <torch/torch.h>

namespace sdgimp::models {

class SRVGGNet {
public:
    // Whether a file's keys are this layout's: body.0 a convolution and body.1 a PReLU's weights.
    static bool is_layout(const std::map<std::string, torch::Tensor>& tensors);
    // Throws sdgimp::Error naming the file when it is not a compact model or its shapes disagree.
    static SRVGGNet load(const std::string& path);

    // x: (N, 3, H, W) in [0, 1]; output (N, 3, sH, sW), not clamped.
    torch::Tensor forward(const torch::Tensor& x) const;
    int scale() const { return scale_; }
    int convolutions() const { return static_cast<int>(convs_.size()); }
    int features() const { return features_; }

private:
    struct Layer {
        torch::Tensor weight, bias, prelu;  // prelu undefined after the last convolution
    };
    std::vector<Layer> convs_;
    int scale_ = 4, features_ = 0;
};

}  // namespace sdgimp::models
