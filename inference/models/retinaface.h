// RetinaFace with a ResNet-50 body (facexlib's detection_Resnet50_Final.pth, the face detector of
// A1111's face restoration): ResNet-50 stages 2-4, a feature pyramid, SSH context modules and
// per-level heads scoring, boxing and placing five landmarks for two anchors per position.
// Channel counts and block counts come from the file's shapes.
#pragma once

#include <array>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sdgimp::models {

struct FaceDetection {
    std::array<float, 4> box{};         // x1, y1, x2, y2
    float score = 0;
    std::array<float, 10> landmarks{};  // eyes, nose, mouth corners: x, y each
};

// facexlib's PriorBox for an h x w input: for steps 8, 16, 32 and anchor sizes (16, 32), (64, 128),
// (256, 512), row by row, (cx, cy, w, h) relative to the input. (N, 4) float32.
torch::Tensor retinaface_priors(int64_t h, int64_t w);

// torchvision.ops.nms: indices kept, highest score first, dropping boxes whose overlap (IoU) with
// a kept one exceeds `threshold`.
std::vector<int64_t> nms(const torch::Tensor& boxes, const torch::Tensor& scores, double threshold);

class RetinaFace {
public:
    // Keys with or without the "module." the release file carries.
    static bool is_layout(const std::map<std::string, torch::Tensor>& tensors);
    // Throws sdgimp::Error naming the file and the key that is missing or mis-shaped.
    static RetinaFace from_tensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path);

    // The heads' raw outputs for a (1, 3, H, W) BGR input less the mean: boxes (1, N, 4), face
    // probabilities (1, N, 2) after softmax, landmarks (1, N, 10).
    std::array<torch::Tensor, 3> forward(const torch::Tensor& x) const;

    // facexlib's detect_faces on an (H, W, 3) BGR image of 8-bit values: mean (104, 117, 123) taken
    // off, boxes and landmarks decoded against the priors in pixels, scores above `conf_threshold`
    // kept best first, then NMS at `nms_threshold`.
    std::vector<FaceDetection> detect(const torch::Tensor& bgr, double conf_threshold, double nms_threshold) const;

private:
    struct ConvBn {
        torch::Tensor w, bn_w, bn_b, mean, var;
        int64_t stride = 1, pad = 0;
        torch::Tensor forward(const torch::Tensor& x) const;
    };
    struct Bottleneck {
        ConvBn c1, c2, c3, down;
        bool has_down = false;
        torch::Tensor forward(const torch::Tensor& x) const;
    };
    struct Ssh {
        ConvBn c3, c5_1, c5_2, c7_2, c7_3;
        double leaky = 0;
        torch::Tensor forward(const torch::Tensor& x) const;
    };
    ConvBn stem_;
    std::vector<std::vector<Bottleneck>> layers_;  // layer1..layer4
    ConvBn fpn_out_[3], fpn_merge_[2];
    double fpn_leaky_ = 0;
    Ssh ssh_[3];
    torch::Tensor class_w_[3], class_b_[3], bbox_w_[3], bbox_b_[3], landmark_w_[3], landmark_b_[3];
};

}  // namespace sdgimp::models
