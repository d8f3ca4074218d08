#include "retinaface.h"

#include <algorithm>
#include <cmath>

#include "tensor_lookup.h"

namespace sdgimp::models {
namespace {

const std::string kNotRetinaFace = "; the file is damaged or not facexlib's RetinaFace (detection_Resnet50_Final.pth).";

torch::Tensor leaky_or_relu(const torch::Tensor& x, double slope) { return slope > 0 ? torch::leaky_relu(x, slope) : torch::relu(x); }

// A head's (1, A*k, h, w) output as facexlib's permute + view: (1, h*w*A, k).
torch::Tensor head_rows(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, int64_t k) {
    return torch::conv2d(x, w, b).permute({0, 2, 3, 1}).contiguous().view({x.size(0), -1, k});
}

}  // namespace

torch::Tensor RetinaFace::ConvBn::forward(const torch::Tensor& x) const {
    const torch::Tensor y = torch::conv2d(x, w, {}, stride, pad);
    return torch::batch_norm(y, bn_w, bn_b, mean, var, false, 0.1, 1e-5, false);
}

torch::Tensor RetinaFace::Bottleneck::forward(const torch::Tensor& x) const {
    torch::Tensor y = torch::relu(c1.forward(x));
    y = torch::relu(c2.forward(y));
    y = c3.forward(y);
    return torch::relu(y + (has_down ? down.forward(x) : x));
}

torch::Tensor RetinaFace::Ssh::forward(const torch::Tensor& x) const {
    const torch::Tensor a = c3.forward(x);
    const torch::Tensor b1 = leaky_or_relu(c5_1.forward(x), leaky);
    const torch::Tensor b = c5_2.forward(b1);
    const torch::Tensor c = c7_3.forward(leaky_or_relu(c7_2.forward(b1), leaky));
    return torch::relu(torch::cat({a, b, c}, 1));
}

torch::Tensor retinaface_priors(int64_t h, int64_t w) {
    const int steps[3] = {8, 16, 32};
    const double sizes[3][2] = {{16, 32}, {64, 128}, {256, 512}};
    std::vector<float> anchors;
    for (int k = 0; k < 3; ++k) {
        const int64_t fh = (h + steps[k] - 1) / steps[k], fw = (w + steps[k] - 1) / steps[k];
        for (int64_t i = 0; i < fh; ++i)
            for (int64_t j = 0; j < fw; ++j)
                for (double s : sizes[k]) {
                    // Python floats, stored as float32 by torch.Tensor(list).
                    anchors.push_back(static_cast<float>((j + 0.5) * steps[k] / static_cast<double>(w)));
                    anchors.push_back(static_cast<float>((i + 0.5) * steps[k] / static_cast<double>(h)));
                    anchors.push_back(static_cast<float>(s / static_cast<double>(w)));
                    anchors.push_back(static_cast<float>(s / static_cast<double>(h)));
                }
    }
    return torch::tensor(anchors, torch::kFloat).view({-1, 4});
}

std::vector<int64_t> nms(const torch::Tensor& boxes_in, const torch::Tensor& scores_in, double threshold) {
    const torch::Tensor boxes = boxes_in.to(torch::kFloat).contiguous(), scores = scores_in.to(torch::kFloat).contiguous();
    const int64_t n = boxes.size(0);
    auto b = boxes.accessor<float, 2>();
    // Stable, as torchvision's CPU kernel sorts: equal scores keep their order.
    const torch::Tensor order = std::get<1>(scores.sort(true, 0, true));
    auto o = order.accessor<int64_t, 1>();
    std::vector<float> area(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) area[static_cast<size_t>(i)] = (b[i][2] - b[i][0]) * (b[i][3] - b[i][1]);
    std::vector<char> gone(static_cast<size_t>(n), 0);
    std::vector<int64_t> keep;
    for (int64_t a = 0; a < n; ++a) {
        const int64_t i = o[a];
        if (gone[static_cast<size_t>(i)]) continue;
        keep.push_back(i);
        for (int64_t c = a + 1; c < n; ++c) {
            const int64_t j = o[c];
            if (gone[static_cast<size_t>(j)]) continue;
            const float w = std::max(0.f, std::min(b[i][2], b[j][2]) - std::max(b[i][0], b[j][0]));
            const float h = std::max(0.f, std::min(b[i][3], b[j][3]) - std::max(b[i][1], b[j][1]));
            const float inter = w * h;
            if (inter / (area[static_cast<size_t>(i)] + area[static_cast<size_t>(j)] - inter) > threshold) gone[static_cast<size_t>(j)] = 1;
        }
    }
    return keep;
}

bool RetinaFace::is_layout(const std::map<std::string, torch::Tensor>& t) {
    for (const char* p : {"", "module."}) {
        const std::string s = p;
        if (t.count(s + "body.conv1.weight") && t.count(s + "fpn.output1.0.weight") && t.count(s + "ssh1.conv3X3.0.weight") &&
            t.count(s + "LandmarkHead.0.conv1x1.weight"))
            return true;
    }
    return false;
}

RetinaFace RetinaFace::from_tensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path) {
    if (!is_layout(tensors)) throw_bad_file(path, "is not a RetinaFace face detector (no body, fpn, ssh and heads)" + kNotRetinaFace);
    const TensorLookup t(tensors, path, tensors.count("module.body.conv1.weight") ? "module." : "", kNotRetinaFace);
    auto conv_bn = [&](const std::string& conv, const std::string& bn, int64_t in, int64_t k, int64_t stride) {
        ConvBn c;
        const int64_t out = t.conv_out(conv + ".weight", in, k);
        c.w = t.expect(conv + ".weight", {out, in, k, k});
        c.bn_w = t.expect(bn + ".weight", {out}), c.bn_b = t.expect(bn + ".bias", {out});
        c.mean = t.expect(bn + ".running_mean", {out}), c.var = t.expect(bn + ".running_var", {out});
        c.stride = stride, c.pad = k / 2;
        return c;
    };
    auto out_of = [](const ConvBn& c) { return c.w.size(0); };
    RetinaFace net;
    net.stem_ = conv_bn("body.conv1", "body.bn1", 3, 7, 2);
    int64_t ch = out_of(net.stem_);
    int64_t stage_out[4] = {};
    for (int l = 0; l < 4; ++l) {
        std::vector<Bottleneck> blocks;
        for (int i = 0;; ++i) {
            const std::string p = "body.layer" + std::to_string(l + 1) + "." + std::to_string(i) + ".";
            if (!t.has(p + "conv1.weight")) break;
            if (i >= 64) t.fail("has more than 64 blocks in layer" + std::to_string(l + 1));
            Bottleneck b;
            const int64_t stride = (l > 0 && i == 0) ? 2 : 1;
            b.c1 = conv_bn(p + "conv1", p + "bn1", ch, 1, 1);
            b.c2 = conv_bn(p + "conv2", p + "bn2", out_of(b.c1), 3, stride);
            b.c3 = conv_bn(p + "conv3", p + "bn3", out_of(b.c2), 1, 1);
            b.has_down = t.has(p + "downsample.0.weight");
            if (b.has_down) {
                b.down = conv_bn(p + "downsample.0", p + "downsample.1", ch, 1, stride);
                if (out_of(b.down) != out_of(b.c3)) t.fail("has " + p + "downsample giving another width than its block");
            } else if (ch != out_of(b.c3) || stride != 1) {
                t.fail("has no " + p + "downsample where its block changes the width or the size");
            }
            ch = out_of(b.c3);
            blocks.push_back(std::move(b));
        }
        if (blocks.empty()) t.fail("has no blocks in body.layer" + std::to_string(l + 1));
        stage_out[l] = ch;
        net.layers_.push_back(std::move(blocks));
    }
    for (int k = 0; k < 3; ++k) net.fpn_out_[k] = conv_bn("fpn.output" + std::to_string(k + 1) + ".0", "fpn.output" + std::to_string(k + 1) + ".1", stage_out[k + 1], 1, 1);
    const int64_t out = out_of(net.fpn_out_[0]);
    if (out % 4 || out_of(net.fpn_out_[1]) != out || out_of(net.fpn_out_[2]) != out) t.fail("has pyramid outputs of different widths or not a multiple of 4");
    net.fpn_leaky_ = out <= 64 ? 0.1 : 0.0;  // facexlib's rule for narrow pyramids
    for (int k = 0; k < 2; ++k) {
        net.fpn_merge_[k] = conv_bn("fpn.merge" + std::to_string(k + 1) + ".0", "fpn.merge" + std::to_string(k + 1) + ".1", out, 3, 1);
        if (out_of(net.fpn_merge_[k]) != out) t.fail("has a pyramid merge of another width");
    }
    for (int k = 0; k < 3; ++k) {
        const std::string p = "ssh" + std::to_string(k + 1) + ".";
        Ssh& s = net.ssh_[k];
        s.c3 = conv_bn(p + "conv3X3.0", p + "conv3X3.1", out, 3, 1);
        s.c5_1 = conv_bn(p + "conv5X5_1.0", p + "conv5X5_1.1", out, 3, 1);
        s.c5_2 = conv_bn(p + "conv5X5_2.0", p + "conv5X5_2.1", out / 4, 3, 1);
        s.c7_2 = conv_bn(p + "conv7X7_2.0", p + "conv7X7_2.1", out / 4, 3, 1);
        s.c7_3 = conv_bn(p + "conv7x7_3.0", p + "conv7x7_3.1", out / 4, 3, 1);
        if (out_of(s.c3) != out / 2 || out_of(s.c5_1) != out / 4 || out_of(s.c5_2) != out / 4 || out_of(s.c7_2) != out / 4 || out_of(s.c7_3) != out / 4)
            t.fail("has SSH modules whose widths do not add up to the pyramid's");
        s.leaky = net.fpn_leaky_;
        const std::string i = std::to_string(k);
        net.class_w_[k] = t.expect("ClassHead." + i + ".conv1x1.weight", {4, out, 1, 1}), net.class_b_[k] = t.expect("ClassHead." + i + ".conv1x1.bias", {4});
        net.bbox_w_[k] = t.expect("BboxHead." + i + ".conv1x1.weight", {8, out, 1, 1}), net.bbox_b_[k] = t.expect("BboxHead." + i + ".conv1x1.bias", {8});
        net.landmark_w_[k] = t.expect("LandmarkHead." + i + ".conv1x1.weight", {20, out, 1, 1});
        net.landmark_b_[k] = t.expect("LandmarkHead." + i + ".conv1x1.bias", {20});
    }
    return net;
}

std::array<torch::Tensor, 3> RetinaFace::forward(const torch::Tensor& input) const {
    torch::NoGradGuard ng;
    torch::Tensor x = torch::relu(stem_.forward(input));
    x = torch::max_pool2d(x, 3, 2, 1);
    std::vector<torch::Tensor> stages;
    for (const auto& layer : layers_) {
        for (const auto& b : layer) x = b.forward(x);
        stages.push_back(x);
    }
    torch::Tensor o1 = leaky_or_relu(fpn_out_[0].forward(stages[1]), fpn_leaky_);
    torch::Tensor o2 = leaky_or_relu(fpn_out_[1].forward(stages[2]), fpn_leaky_);
    const torch::Tensor o3 = leaky_or_relu(fpn_out_[2].forward(stages[3]), fpn_leaky_);
    namespace F = torch::nn::functional;
    auto nearest_to = [](const torch::Tensor& v, const torch::Tensor& like) {
        return F::interpolate(v, F::InterpolateFuncOptions().size(std::vector<int64_t>{like.size(2), like.size(3)}).mode(torch::kNearest));
    };
    o2 = leaky_or_relu(fpn_merge_[1].forward(o2 + nearest_to(o3, o2)), fpn_leaky_);
    o1 = leaky_or_relu(fpn_merge_[0].forward(o1 + nearest_to(o2, o1)), fpn_leaky_);
    const torch::Tensor feats[3] = {ssh_[0].forward(o1), ssh_[1].forward(o2), ssh_[2].forward(o3)};
    std::vector<torch::Tensor> boxes, classes, marks;
    for (int k = 0; k < 3; ++k) {
        boxes.push_back(head_rows(feats[k], bbox_w_[k], bbox_b_[k], 4));
        classes.push_back(head_rows(feats[k], class_w_[k], class_b_[k], 2));
        marks.push_back(head_rows(feats[k], landmark_w_[k], landmark_b_[k], 10));
    }
    return {torch::cat(boxes, 1), torch::softmax(torch::cat(classes, 1), -1), torch::cat(marks, 1)};
}

std::vector<FaceDetection> RetinaFace::detect(const torch::Tensor& bgr, double conf_threshold, double nms_threshold) const {
    torch::NoGradGuard ng;
    const int64_t h = bgr.size(0), w = bgr.size(1);
    const torch::Tensor mean = torch::tensor({104.f, 117.f, 123.f});
    const torch::Tensor x = (bgr.to(torch::kFloat) - mean).permute({2, 0, 1}).unsqueeze(0).contiguous();
    const auto [loc, conf, pre] = forward(x);
    const torch::Tensor priors = retinaface_priors(h, w);
    const torch::Tensor pc = priors.slice(1, 0, 2), ps = priors.slice(1, 2, 4);
    const torch::Tensor l = loc.squeeze(0);
    torch::Tensor boxes = torch::cat({pc + l.slice(1, 0, 2) * 0.1f * ps, ps * torch::exp(l.slice(1, 2, 4) * 0.2f)}, 1);
    boxes.slice(1, 0, 2) -= boxes.slice(1, 2, 4) / 2;
    boxes.slice(1, 2, 4) += boxes.slice(1, 0, 2);
    const torch::Tensor scale = torch::tensor({static_cast<float>(w), static_cast<float>(h)});
    boxes = boxes * scale.repeat({2});
    std::vector<torch::Tensor> parts;
    const torch::Tensor p = pre.squeeze(0);
    for (int k = 0; k < 5; ++k) parts.push_back(pc + p.slice(1, 2 * k, 2 * k + 2) * 0.1f * ps);
    const torch::Tensor marks = torch::cat(parts, 1) * scale.repeat({5});
    const torch::Tensor scores = conf.squeeze(0).select(1, 1);

    const torch::Tensor inds = torch::nonzero(scores > conf_threshold).view({-1});
    const torch::Tensor kept_boxes = boxes.index_select(0, inds), kept_scores = scores.index_select(0, inds), kept_marks = marks.index_select(0, inds);
    std::vector<FaceDetection> out;
    for (int64_t i : nms(kept_boxes, kept_scores, nms_threshold)) {
        FaceDetection d;
        for (int k = 0; k < 4; ++k) d.box[static_cast<size_t>(k)] = kept_boxes[i][k].item<float>();
        d.score = kept_scores[i].item<float>();
        for (int k = 0; k < 10; ++k) d.landmarks[static_cast<size_t>(k)] = kept_marks[i][k].item<float>();
        out.push_back(d);
    }
    return out;
}

}  // namespace sdgimp::models
