// TensorFlow.js layers-models (Keras functional graphs: model.json + weight shards) run with
// LibTorch: the UpscalerJS ESRGAN/RDN upscalers users get from npm. Only the layer kinds those
// graphs use are accepted; anything else is refused by name.
#pragma once

#include <string>
#include <torch/torch.h>
#include <vector>

namespace sdgimp::models {

class TfjsGraph {
public:
    // Reads model.json and its shards; throws sdgimp::Error naming the file and the problem.
    static TfjsGraph load(const std::string& model_json);

    // x: (N, 3, H, W) in the model's input units; returns (N, 3, sH, sW) in its output units.
    torch::Tensor forward(const torch::Tensor& x) const;

    int scale() const { return scale_; }
    // RRDN (esrgan-thick) takes and returns 0..1; the RDN models take and return 0..255.
    bool unit_range() const { return unit_range_; }

private:
    struct Node {
        std::string kind, name;
        std::vector<int> inputs;  // node indices
        torch::Tensor weight, bias;
        int pad = 0, factor = 1;
        double beta = 0.2;
    };
    std::vector<Node> nodes_;
    std::vector<size_t> last_use_;  // per node: the last node reading it (computed once at load)
    int output_ = -1;
    int scale_ = 1;
    bool unit_range_ = false;
};

// UpscalerJS's whole-image pipeline: u8 RGB (H, W, 3) → float (sH, sW, 3) in 0..255, clipped,
// not rounded.
torch::Tensor upscalerjs_run(const TfjsGraph& g, const torch::Tensor& rgb_u8_hwc);

}  // namespace sdgimp::models
