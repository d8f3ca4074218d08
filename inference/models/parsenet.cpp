#include "parsenet.h"

#include "tensor_lookup.h"

namespace sdgimp::models {
namespace {

namespace F = torch::nn::functional;
const std::string kNotParseNet = "; the file is damaged or not facexlib's ParseNet (parsing_parsenet.pth).";

}  // namespace

torch::Tensor ParseNet::Conv::forward(const torch::Tensor& x) const {
    torch::Tensor y = x;
    if (scale == Scale::kUp) y = F::interpolate(y, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2, 2}).mode(torch::kNearest));
    y = torch::reflection_pad2d(y, {1, 1, 1, 1});
    y = torch::conv2d(y, w, b, scale == Scale::kDown ? 2 : 1);
    if (norm) y = torch::batch_norm(y, bn_w, bn_b, mean, var, false, 0.1, 1e-5, false);
    return relu ? torch::leaky_relu(y, 0.2) : y;
}

torch::Tensor ParseNet::Block::forward(const torch::Tensor& x) const {
    return (has_shortcut ? shortcut.forward(x) : x) + conv2.forward(conv1.forward(x));
}

bool ParseNet::is_layout(const std::map<std::string, torch::Tensor>& t) {
    return t.count("encoder.0.conv2d.weight") && t.count("body.0.conv1.conv2d.weight") && t.count("out_mask_conv.conv2d.weight");
}

ParseNet ParseNet::from_tensors(const std::map<std::string, torch::Tensor>& tensors, const std::string& path) {
    if (!is_layout(tensors)) throw_bad_file(path, "is not a ParseNet face parser (no encoder, body and out_mask_conv)" + kNotParseNet);
    const TensorLookup t(tensors, path, "", kNotParseNet);
    // A ConvLayer at `p`: with batch norm (no bias) or with a bias, as ParseNet builds them.
    auto conv = [&](const std::string& p, int64_t in, Scale scale, bool norm, bool relu) {
        Conv c;
        const int64_t out = t.conv_out(p + "conv2d.weight", in, 3);
        c.w = t.expect(p + "conv2d.weight", {out, in, 3, 3});
        if (norm) {
            const std::string n = p + "norm.norm.";
            c.bn_w = t.expect(n + "weight", {out}), c.bn_b = t.expect(n + "bias", {out});
            c.mean = t.expect(n + "running_mean", {out}), c.var = t.expect(n + "running_var", {out});
        } else {
            c.b = t.expect(p + "conv2d.bias", {out});
        }
        c.scale = scale, c.norm = norm, c.relu = relu;
        return c;
    };
    auto block = [&](const std::string& p, int64_t in, Scale scale) {
        Block b;
        b.conv1 = conv(p + "conv1.", in, scale == Scale::kDown ? Scale::kNone : scale, true, true);
        const int64_t out = b.conv1.w.size(0);
        b.conv2 = conv(p + "conv2.", out, scale == Scale::kDown ? Scale::kDown : Scale::kNone, true, false);
        if (b.conv2.w.size(0) != out) t.fail("has " + p + "conv2 of another width than conv1");
        b.has_shortcut = scale != Scale::kNone || in != out;
        if (b.has_shortcut) {
            b.shortcut = conv(p + "shortcut_func.", in, scale, false, false);
            if (b.shortcut.w.size(0) != out) t.fail("has " + p + "shortcut_func of another width than its block");
        } else if (t.has(p + "shortcut_func.conv2d.weight")) {
            t.fail("has " + p + "shortcut_func where its block keeps the width and size");
        }
        return b;
    };
    ParseNet net;
    net.first_ = conv("encoder.0.", 3, Scale::kNone, false, false);
    int64_t ch = net.first_.w.size(0);
    auto run_of = [&](const std::string& name, int first, Scale scale, std::vector<Block>* out) {
        for (int i = first; t.has(name + "." + std::to_string(i) + ".conv1.conv2d.weight"); ++i) {
            if (i > 64) t.fail("has more than 64 blocks in " + name);
            out->push_back(block(name + "." + std::to_string(i) + ".", ch, scale));
            ch = out->back().conv1.w.size(0);
        }
    };
    run_of("encoder", 1, Scale::kDown, &net.encoder_);
    const int64_t body_in = ch;
    run_of("body", 0, Scale::kNone, &net.body_);
    if (ch != body_in) t.fail("has a body that changes the width");
    run_of("decoder", 0, Scale::kUp, &net.decoder_);
    if (net.encoder_.size() != net.decoder_.size()) t.fail("has " + std::to_string(net.encoder_.size()) + " encoder and " +
                                                           std::to_string(net.decoder_.size()) + " decoder blocks");
    net.mask_ = conv("out_mask_conv.", ch, Scale::kNone, false, false);
    return net;
}

torch::Tensor ParseNet::forward(const torch::Tensor& x) const {
    torch::NoGradGuard ng;
    const int64_t down = int64_t{1} << encoder_.size();
    if (x.dim() != 4 || x.size(1) != 3 || x.size(2) % down || x.size(3) % down)
        throw Error(ErrorCode::kInternal, "ParseNet takes RGB faces whose sides are multiples of " + std::to_string(down) + ".");
    torch::Tensor feat = first_.forward(x);
    for (const auto& b : encoder_) feat = b.forward(feat);
    torch::Tensor y = feat;
    for (const auto& b : body_) y = b.forward(y);
    y = feat + y;
    for (const auto& b : decoder_) y = b.forward(y);
    return mask_.forward(y);
}

}  // namespace sdgimp::models
