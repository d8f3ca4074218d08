// Object removal with the user's LaMa TorchScript file (big-lama.pt, as Lama Cleaner / IOPaint load
// it): IOPaint's crop around the mask for big images, sides mirrored up to multiples of 8, image in
// [0, 1] and a binary mask in, the result kept only under the mask.
#pragma once

#include <functional>
#include <string>
#include <torch/script.h>

#include "../image.h"

namespace sdgimp::pipeline {

class LamaRemover {
public:
    // Throws sdgimp::Error naming the file when it is missing or not a TorchScript module.
    explicit LamaRemover(const std::string& path);
    // rgb: RGB; mask: gray of the same size (any nonzero value is removed). Returns RGB.
    Image remove(const Image& rgb, const Image& mask) const;
    const std::string& path() const { return path_; }

private:
    std::string path_;
    mutable torch::jit::Module module_;
};

}  // namespace sdgimp::pipeline
