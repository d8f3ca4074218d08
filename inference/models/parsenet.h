// facexlib's ParseNet (parsing_parsenet.pth, from PSFRGAN): the face parser A1111's face
// restoration uses to decide which pixels of a restored face go back into the picture. An encoder
// of strided residual blocks, a body of residual blocks, an upsampling decoder (reflection-padded
// 3x3 convolutions, batch norm, LeakyReLU 0.2) and a 19-class parsing head.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sdgimp::models {

class ParseNet {
public:
    static bool is_layout(const std::map<std::string, torch::Tensor>& tensors);
    // Throws sdgimp::Error naming the file and the key that is missing or mis-shaped.
    static ParseNet from_tensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path);

    // x: (1, 3, H, W) RGB in [-1, 1]; the parsing logits (1, classes, H, W).
    torch::Tensor forward(const torch::Tensor& x) const;

private:
    enum class Scale { kNone, kDown, kUp };
    struct Conv {  // ConvLayer: optional nearest x2, reflection pad, conv (stride 2 down), bn, LeakyReLU
        torch::Tensor w, b, bn_w, bn_b, mean, var;
        Scale scale = Scale::kNone;
        bool norm = false, relu = false;
        torch::Tensor forward(const torch::Tensor& x) const;
    };
    struct Block {
        Conv shortcut, conv1, conv2;
        bool has_shortcut = false;
        torch::Tensor forward(const torch::Tensor& x) const;
    };
    Conv first_, mask_;
    std::vector<Block> encoder_, body_, decoder_;
};

}  // namespace sdgimp::models
