// A1111's face restoration (restore_with_face_helper over facexlib's FaceRestoreHelper): faces found
// by RetinaFace on a copy whose short side is 640, each warped by the similarity that puts its five
// landmarks on the 512-pixel FFHQ template, restored (GFPGAN), and warped back through a mask that
// ParseNet draws around the face (skin, brows, eyes, nose, mouth, ears; not hair, neck, cloth),
// blurred twice with OpenCV's 101-pixel Gaussian of sigma 11.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "../image.h"
#include "../models/codeformer.h"
#include "../models/gfpgan.h"
#include "../models/parsenet.h"
#include "../models/retinaface.h"

namespace sdgimp::pipeline {

// The FFHQ five-point template for 512-pixel faces (facexlib's face_template).
std::vector<std::array<double, 2>> face_template_512();

// ParseNet's classes that belong to the face for pasting (facexlib's MASK_COLORMAP): 255 for them,
// 0 for background, neck, cloth, hair and hat. labels: (H, W) class indices; returns float64.
torch::Tensor face_paste_mask(const torch::Tensor& labels);

// What a restorer does to one aligned face: (1, 3, 512, 512) RGB in [-1, 1] in, the same out.
using RestoreFace = std::function<torch::Tensor(const torch::Tensor& face)>;

struct FaceRestoreRun {
    std::function<bool()> cancelled;  // asked between faces
    int* faces_found = nullptr;       // how many faces were restored
};

// get_face_landmarks_5(resize=640, eye_dist_threshold=5): the five landmarks of each face RetinaFace
// finds (confidence above 0.97, NMS at 0.4) on a Lanczos4 copy whose short side is 640, in the
// picture's pixels, best first; faces whose eyes are less than 5 pixels apart are left out.
std::vector<std::vector<std::array<double, 2>>> find_face_landmarks(const Image& image, const models::RetinaFace& detector);

// Each face (five landmarks) aligned to the template, restored by `restore` and pasted back through
// its parsing mask, one after another; RGB or RGBA (alpha kept).
Image paste_restored_faces(const Image& image, const std::vector<std::vector<std::array<double, 2>>>& faces, const models::ParseNet& parser,
                           const RestoreFace& restore, const FaceRestoreRun& run = {});

// Both: the picture with every face found restored; a picture with no face comes back unchanged.
Image restore_faces(const Image& image, const models::RetinaFace& detector, const models::ParseNet& parser,
                    const RestoreFace& restore, const FaceRestoreRun& run = {});

// The three files a restorer needs (A1111's "GFPGAN" or "CodeFormer"), loaded once and kept.
class FaceRestorer {
public:
    struct Files {
        std::string restorer, detector, parser;
    };
    // A1111's places: for "GFPGAN" a file with "GFPGAN" in its name (.pth / .safetensors), for
    // "CodeFormer" one with "codeformer" in it (any case), and facexlib's detection_Resnet50_Final.pth
    // and parsing_parsenet.pth, in `dirs` or folders under them. Throws sdgimp::Error
    // (kModelNotFound) naming what is missing and where it goes.
    static Files find_files(const std::vector<std::string>& dirs, const std::string& model);

    // Loads (or reuses) the models of `files` for `model`; throws for files that are not those models.
    void use(const Files& files, const std::string& model);
    // The restoration of `image` by the model in use: GFPGAN's noise from `seed`, CodeFormer's
    // fusion at `codeformer_weight`.
    Image restore(const Image& image, uint64_t seed, double codeformer_weight, const FaceRestoreRun& run = {});

private:
    std::string model_;  // the restorer in use
    std::string detector_path_, parser_path_, gfpgan_path_, codeformer_path_;  // the files loaded (path and stamp)
    std::unique_ptr<models::RetinaFace> detector_;
    std::unique_ptr<models::ParseNet> parser_;
    std::unique_ptr<models::GFPGAN> gfpgan_;
    std::unique_ptr<models::CodeFormer> codeformer_;
};

// Where those files are looked for: `requested`, GFPGAN and Codeformer folders beside the checkpoint's
// folder (A1111's models/GFPGAN, models/Codeformer), $GIMP_DIFFUSION_GFPGAN_DIR (':'-separated) and
// ~/.local/share/gimp-diffusion/models/GFPGAN.
std::vector<std::string> face_restoration_dirs(const std::vector<std::string>& requested, const std::string& checkpoint);

}  // namespace sdgimp::pipeline
