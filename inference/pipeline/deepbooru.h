// A1111's "Interrogate DeepBooru" (modules/deepbooru.py, 1.10): the picture letterboxed into
// 512x512 (resize mode "Resize and fill"), DeepDanbooru's tag probabilities, and the prompt text
// A1111 makes of them under its "deepbooru:" settings. The tagger file is found and kept loaded.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "image.h"
#include "text/deepbooru_tags.h"

namespace sdgimp::models {
class DeepDanbooru;
}

namespace sdgimp::pipeline {

// The model's input: the picture as RGB (alpha dropped, as PIL's convert does), resized with
// A1111's mode 2 to 512x512, /255 in float32, as (1, 512, 512, 3).
torch::Tensor deepbooru_input(const Image& image);

// Where the tagger is looked for: `requested`, a DeepDanbooru folder beside the checkpoint's folder
// (A1111's models/DeepDanbooru), $GIMP_DIFFUSION_DEEPBOORU_DIR (':'-separated) and
// ~/.local/share/gimp-diffusion/models/DeepDanbooru.
std::vector<std::string> deepbooru_dirs(const std::vector<std::string>& requested, const std::string& checkpoint);

class DeepBooruTagger {
public:
    DeepBooruTagger();
    ~DeepBooruTagger();

    // The first .pt file of `dirs` (model-resnet_custom_v3.pt where there are several, as A1111
    // downloads it). Throws sdgimp::Error (kModelNotFound) naming the file and where it goes.
    static std::string find_file(const std::vector<std::string>& dirs);
    // Loads `path` unless it is the file already loaded (by path and stamp); throws for a file
    // that is not the tagger.
    void use(const std::string& path);
    // The picture's tag text (A1111's DeepDanbooru.tag).
    std::string tag(const Image& image, const text::DeepBooruOptions& o) const;
    // The probabilities alone, one per tag.
    std::vector<float> probabilities(const Image& image) const;

private:
    std::string loaded_;  // path and stamp
    std::unique_ptr<models::DeepDanbooru> model_;
};

}  // namespace sdgimp::pipeline
