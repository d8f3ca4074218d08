// DeepDanbooru's anime-picture tagger in the form A1111 runs it (TorchDeepDanbooru's
// model-resnet_custom_v3.pt, its "Interrogate DeepBooru"): a ResNet of 57 bottleneck blocks whose
// TensorFlow "same" padding is written out (stride-2 convolutions pad only right and bottom), a
// 1x1 convolution to one score per tag, averaged over the picture and put through a sigmoid.
// Widths are read from the file's shapes; the block pattern and key names are the release's.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sdgimp::models {

class DeepDanbooru {
public:
    static bool is_layout(const std::map<std::string, torch::Tensor>& tensors);
    // `tags`: the file's "tags" list, one per score. Throws sdgimp::Error naming the file and the
    // key that is missing or mis-shaped, or a tag list of another length than the scores.
    static DeepDanbooru from_tensors(const std::map<std::string, torch::Tensor>& tensors, std::vector<std::string> tags,
                                     const std::string& path);

    // x: (1, H, W, 3) RGB in [0, 1], channels last as A1111 hands it over; the tag probabilities (tags).
    torch::Tensor forward(const torch::Tensor& x) const;
    const std::vector<std::string>& tags() const { return tags_; }

    // The blocks of each run of the release file: how many, the first one's stride, and whether its
    // projection shortcut is numbered before its three convolutions (all but one run) or after them.
    struct Run {
        int blocks, stride;
        bool shortcut_first;
    };
    static const std::vector<Run>& runs();

private:
    struct Conv {
        torch::Tensor w, b;
        int stride = 1;
        torch::Tensor forward(const torch::Tensor& x) const;
    };
    struct Block {
        Conv reduce, spatial, expand, shortcut;
        bool has_shortcut = false;
        torch::Tensor forward(const torch::Tensor& x) const;
    };
    Conv stem_;
    std::vector<Block> blocks_;
    torch::Tensor head_;
    std::vector<std::string> tags_;
};

}  // namespace sdgimp::models
