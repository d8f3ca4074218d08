// ESRGAN / Real-ESRGAN RRDBNet from a user's .pth or .safetensors, in any of the key layouts found
// in the wild (BasicSR "conv_first/body.N.rdbR", old ESRGAN "model.N", 2019 "RRDB_trunk"); block
// count, widths, growth and scale come from the tensor shapes.
#pragma once

#include <map>
#include <string>
#include <torch/torch.h>

namespace sdgimp::models {

class RRDBNet {
public:
    // Throws sdgimp::Error naming the file when it is not an RRDBNet.
    static RRDBNet load(const std::string& path);

    // x: (N, 3, H, W) in [0, 1]; output (N, 3, sH, sW), not clamped. H, W must suit the pixel
    // unshuffle of x2/x1 models (see forward_padded).
    torch::Tensor forward(const torch::Tensor& x) const;
    // A1111/spandrel's call: reflect-pad to a multiple of 4 for unshuffling models, run, clamp to
    // [0, 1], crop to the exact scaled size.
    torch::Tensor forward_padded(const torch::Tensor& x) const;

    int scale() const { return scale_; }
    int blocks() const { return blocks_; }
    int features() const { return features_; }
    int growth() const { return growth_; }

private:
    std::map<std::string, torch::Tensor> w_;  // BasicSR key names
    int scale_ = 4, unshuffle_ = 1, blocks_ = 0, features_ = 0, growth_ = 0, ups_ = 0;
};

}  // namespace sdgimp::models
