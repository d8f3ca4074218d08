#include "srvgg_net.h"

#include <cmath>

#include "../io/checkpoint_file.h"
#include "../status.h"
#include "state_loader.h"

namespace sdgimp::models {
namespace {

const std::string kNotCompact = "; the file is damaged or not a Real-ESRGAN compact model.";

}  // namespace

bool SRVGGNet::is_layout(const std::map<std::string, torch::Tensor>& t) {
    const auto conv = t.find("body.0.weight"), act = t.find("body.1.weight");
    return conv != t.end() && act != t.end() && conv->second.dim() == 4 && act->second.dim() == 1 && !t.count("conv_first.weight");
}

SRVGGNet SRVGGNet::load(const std::string& path) {
    io::CheckpointFile ck = io::open_checkpoint(path);
    std::map<std::string, torch::Tensor> w;
    for (const auto& [k, t] : ck.tensors) w[k] = to_torch(t).to(torch::kFloat);
    if (!is_layout(w)) throw_bad_file(path, "is not a Real-ESRGAN compact model (no body.0 convolution followed by a PReLU)");
    SRVGGNet net;
    const torch::Tensor& first = w.at("body.0.weight");
    if (first.size(1) != 3) throw_bad_file(path, "takes " + std::to_string(first.size(1)) + " input channels where an RGB upscaler takes 3" + kNotCompact);
    net.features_ = static_cast<int>(first.size(0));
    if (net.features_ < 1 || net.features_ > 1024)
        throw_bad_file(path, "has " + std::to_string(net.features_) + " features, which no compact model has" + kNotCompact);
    const int64_t f = net.features_;
    // Convolutions at the even slots, each but the last followed by a PReLU at the next odd one.
    for (int i = 0; w.count("body." + std::to_string(i) + ".weight"); i += 2) {
        if (i > 400) throw_bad_file(path, "has more than 200 convolutions, which no compact model has" + kNotCompact);
        const std::string n = "body." + std::to_string(i);
        Layer layer;
        layer.weight = w.at(n + ".weight");
        const auto b = w.find(n + ".bias");
        if (b == w.end()) throw_bad_file(path, "has no " + n + ".bias" + kNotCompact);
        layer.bias = b->second;
        if (auto a = w.find("body." + std::to_string(i + 1) + ".weight"); a != w.end()) layer.prelu = a->second;
        net.convs_.push_back(layer);
    }
    if (net.convs_.size() < 2 || net.convs_.back().prelu.defined())
        throw_bad_file(path, "does not end in a convolution after its PReLU layers" + kNotCompact);
    const int64_t out = net.convs_.back().weight.size(0);
    const int s = static_cast<int>(std::lround(std::sqrt(static_cast<double>(out) / 3)));
    if (s < 1 || s > 8 || 3 * s * s != out)
        throw_bad_file(path, "ends in " + std::to_string(out) + " channels, which no pixel shuffle of an RGB image at scales 1 to 8 takes" +
                                 kNotCompact);
    net.scale_ = s;
    // Every layer's shape against the widths body.0 gives: a damaged file is named here, not by a
    // convolution failing halfway through an upscale.
    for (size_t i = 0; i < net.convs_.size(); ++i) {
        const Layer& l = net.convs_[i];
        const std::string n = "body." + std::to_string(2 * i);
        const int64_t want_out = i + 1 == net.convs_.size() ? out : f, want_in = i == 0 ? 3 : f;
        if (l.weight.sizes() != torch::IntArrayRef({want_out, want_in, 3, 3}) || l.bias.dim() != 1 || l.bias.size(0) != want_out)
            throw_bad_file(path, "has " + n + " with weight " + io::shape_text(l.weight.sizes().vec()) + " and bias " +
                                     io::shape_text(l.bias.sizes().vec()) + " where [" + std::to_string(want_out) + ", " +
                                     std::to_string(want_in) + ", 3, 3] and [" + std::to_string(want_out) + "] fit" + kNotCompact);
        if (l.prelu.defined() && !(l.prelu.numel() == f || l.prelu.numel() == 1))
            throw_bad_file(path, "has a PReLU body." + std::to_string(2 * i + 1) + " of " + std::to_string(l.prelu.numel()) +
                                     " weights where " + std::to_string(f) + " fit" + kNotCompact);
    }
    return net;
}

torch::Tensor SRVGGNet::forward(const torch::Tensor& x) const {
    torch::NoGradGuard ng;
    torch::Tensor h = x;
    for (const Layer& l : convs_) {
        h = torch::conv2d(h, l.weight, l.bias, 1, 1);
        if (l.prelu.defined()) h = torch::prelu(h, l.prelu);
    }
    h = torch::pixel_shuffle(h, scale_);
    // The network learns the difference to the nearest-neighbour enlargement.
    const auto base = torch::nn::functional::interpolate(
        x, torch::nn::functional::InterpolateFuncOptions().scale_factor(std::vector<double>{double(scale_), double(scale_)}).mode(torch::kNearest));
    return h + base;
}

}  // namespace sdgimp::models
