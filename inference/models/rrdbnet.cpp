#include "rrdbnet.h"

#include <regex>

#include "../io/checkpoint_file.h"
#include "../status.h"
#include "state_loader.h"

namespace sdgimp::models {
namespace {

// A layer index from a key; a number too long for any real network reads as -1 (the key is then
// dropped rather than overflowing the conversion).
int index_of(const std::string& digits) { return digits.size() > 6 ? -1 : std::stoi(digits); }

// One conversion table from every known layout to BasicSR's names.
std::map<std::string, torch::Tensor> to_basicsr(std::map<std::string, torch::Tensor> in) {
    std::map<std::string, torch::Tensor> out;
    static const std::regex old_body(R"(model\.1\.sub\.(\d+)\.RDB(\d)\.conv(\d)\.0\.(weight|bias))");
    static const std::regex old_tail(R"(model\.(\d+)\.(weight|bias))");
    static const std::regex old_trunk(R"(model\.1\.sub\.(\d+)\.(weight|bias))");
    static const std::regex y2019_body(R"(RRDB_trunk\.(\d+)\.RDB(\d)\.conv(\d)\.(weight|bias))");
    const bool old = in.count("model.0.weight") > 0;
    int trunk_index = -1;
    std::vector<int> tail;
    if (old) {
        for (const auto& [k, v] : in) {
            std::smatch m;
            if (std::regex_match(k, m, old_trunk) && !std::regex_match(k, old_body)) trunk_index = std::max(trunk_index, index_of(m[1]));
            if (std::regex_match(k, m, old_tail) && m[2] == "weight" && index_of(m[1]) > 0)
                tail.push_back(index_of(m[1]));
        }
        std::sort(tail.begin(), tail.end());
    }
    for (auto& [k, v] : in) {
        std::smatch m;
        std::string name;
        if (old) {
            if (std::regex_match(k, m, old_body)) {
                name = "body." + m[1].str() + ".rdb" + m[2].str() + ".conv" + m[3].str() + "." + m[4].str();
            } else if (std::regex_match(k, m, old_trunk) && index_of(m[1]) == trunk_index) {
                name = "conv_body." + m[2].str();
            } else if (k == "model.0.weight" || k == "model.0.bias") {
                name = "conv_first." + k.substr(8);
            } else if (std::regex_match(k, m, old_tail) && index_of(m[1]) > 0) {
                // model.3, 6, 9 ... are the up-convs; the last two are conv_hr and conv_last.
                const int idx = index_of(m[1]);
                const size_t pos = static_cast<size_t>(std::find(tail.begin(), tail.end(), idx) - tail.begin());
                if (pos + 2 == tail.size()) name = "conv_hr." + m[2].str();
                else if (pos + 1 == tail.size()) name = "conv_last." + m[2].str();
                else name = "conv_up" + std::to_string(pos + 1) + "." + m[2].str();
            }
        } else if (std::regex_match(k, m, y2019_body)) {
            name = "body." + m[1].str() + ".rdb" + m[2].str() + ".conv" + m[3].str() + "." + m[4].str();
        } else {
            static const std::map<std::string, std::string> kRename = {
                {"trunk_conv", "conv_body"}, {"upconv1", "conv_up1"}, {"upconv2", "conv_up2"}, {"HRconv", "conv_hr"}};
            name = k;
            const size_t dot = k.find('.');
            if (dot != std::string::npos)
                if (auto it = kRename.find(k.substr(0, dot)); it != kRename.end()) name = it->second + k.substr(dot);
        }
        if (!name.empty()) out[name] = v;
    }
    return out;
}

torch::Tensor conv(const std::map<std::string, torch::Tensor>& w, const std::string& n, const torch::Tensor& x) {
    return torch::conv2d(x, w.at(n + ".weight"), w.at(n + ".bias"), 1, 1);
}

torch::Tensor lrelu(const torch::Tensor& x) { return torch::leaky_relu(x, 0.2); }

}  // namespace

RRDBNet RRDBNet::load(const std::string& path) {
    io::CheckpointFile ck = io::open_checkpoint(path);
    std::map<std::string, torch::Tensor> raw;
    for (const auto& [k, t] : ck.tensors) raw[k] = to_torch(t).to(torch::kFloat);
    RRDBNet net;
    net.w_ = to_basicsr(std::move(raw));
    auto need = [&](const std::string& k) -> const torch::Tensor& {
        auto it = net.w_.find(k);
        if (it == net.w_.end()) throw_bad_file(path, "is not an ESRGAN/RRDBNet model (no " + k + ")");
        return it->second;
    };
    const auto& first = need("conv_first.weight");
    const std::string not_esrgan = "; the file is damaged or not an ESRGAN model.";
    if (first.dim() != 4) throw_bad_file(path, "has a conv_first that is not a convolution" + not_esrgan);
    if (first.size(0) < 1 || first.size(0) > 1024)
        throw_bad_file(path, "has a conv_first of " + std::to_string(first.size(0)) + " features, which no ESRGAN model has" + not_esrgan);
    net.features_ = static_cast<int>(first.size(0));
    const int64_t in_ch = first.size(1);
    net.unshuffle_ = in_ch == 3 ? 1 : in_ch == 12 ? 2 : in_ch == 48 ? 4 : 0;
    if (!net.unshuffle_) throw_bad_file(path, "takes " + std::to_string(in_ch) + " input channels, which no RRDBNet variant does");
    while (net.w_.count("body." + std::to_string(net.blocks_) + ".rdb1.conv1.weight")) ++net.blocks_;
    if (net.blocks_ == 0) throw_bad_file(path, "has no RRDB blocks");
    const torch::Tensor& growth = need("body.0.rdb1.conv1.weight");
    net.growth_ = growth.dim() == 4 ? static_cast<int>(std::min<int64_t>(growth.size(0), 1 << 20)) : 0;
    while (net.w_.count("conv_up" + std::to_string(net.ups_ + 1) + ".weight")) ++net.ups_;
    need("conv_body.weight");
    need("conv_hr.weight");
    need("conv_last.weight");
    if (net.blocks_ > 100 || net.ups_ > 4 || net.growth_ < 1 || net.growth_ > 1024)
        throw_bad_file(path, "has sizes no ESRGAN model has (" + std::to_string(net.blocks_) + " blocks, " + std::to_string(net.ups_) +
                                 " up-sampling stages, " + std::to_string(net.features_) + " features)" + not_esrgan);
    net.scale_ = (1 << net.ups_) / net.unshuffle_;
    if (net.scale_ < 1) throw_bad_file(path, "has fewer up-sampling stages than its pixel unshuffle needs");
    // Every convolution against the widths conv_first and the first block give: a damaged file is
    // named here, not by a convolution failing halfway through an upscale.
    const int64_t f = net.features_, g = net.growth_;
    auto check_conv = [&](const std::string& n, int64_t out, int64_t in) {
        const torch::Tensor& w = need(n + ".weight");
        const auto b = net.w_.find(n + ".bias");
        const bool bias_ok = b != net.w_.end() && b->second.dim() == 1 && b->second.size(0) == out;
        if (w.sizes() != torch::IntArrayRef({out, in, 3, 3}) || !bias_ok)
            throw_bad_file(path, "has " + n + " with weight " + io::shape_text(w.sizes().vec()) + " and bias " +
                                     (b == net.w_.end() ? std::string("missing") : io::shape_text(b->second.sizes().vec())) + " where [" +
                                     std::to_string(out) + ", " + std::to_string(in) + ", 3, 3] and [" + std::to_string(out) +
                                     "] fit" + not_esrgan);
    };
    check_conv("conv_first", f, in_ch);
    for (int b = 0; b < net.blocks_; ++b)
        for (int r = 1; r <= 3; ++r)
            for (int c = 1; c <= 5; ++c)
                check_conv("body." + std::to_string(b) + ".rdb" + std::to_string(r) + ".conv" + std::to_string(c), c < 5 ? g : f,
                           f + (c - 1) * g);
    check_conv("conv_body", f, f);
    for (int u = 1; u <= net.ups_; ++u) check_conv("conv_up" + std::to_string(u), f, f);
    check_conv("conv_hr", f, f);
    check_conv("conv_last", 3, f);
    return net;
}

torch::Tensor RRDBNet::forward(const torch::Tensor& x) const {
    torch::NoGradGuard ng;
    torch::Tensor feat = unshuffle_ > 1 ? torch::pixel_unshuffle(x, unshuffle_) : x;
    feat = conv(w_, "conv_first", feat);
    torch::Tensor body = feat;
    for (int b = 0; b < blocks_; ++b) {
        const std::string p = "body." + std::to_string(b) + ".rdb";
        torch::Tensor rr = body;
        for (int r = 1; r <= 3; ++r) {
            const std::string q = p + std::to_string(r) + ".conv";
            std::vector<torch::Tensor> parts{rr};
            for (int c = 1; c <= 4; ++c) parts.push_back(lrelu(conv(w_, q + std::to_string(c), torch::cat(parts, 1))));
            rr = conv(w_, q + "5", torch::cat(parts, 1)) * 0.2 + rr;
        }
        body = rr * 0.2 + body;
    }
    feat = feat + conv(w_, "conv_body", body);
    for (int u = 1; u <= ups_; ++u) {
        auto up = torch::nn::functional::interpolate(
            feat, torch::nn::functional::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
        feat = lrelu(conv(w_, "conv_up" + std::to_string(u), up));
    }
    return conv(w_, "conv_last", lrelu(conv(w_, "conv_hr", feat)));
}

torch::Tensor RRDBNet::forward_padded(const torch::Tensor& x) const {
    const int64_t h = x.size(2), w = x.size(3);
    const int64_t mult = unshuffle_ > 1 ? 4 : 1;
    const int64_t ph = (mult - h % mult) % mult, pw = (mult - w % mult) % mult;
    torch::Tensor in = x;
    if (ph || pw)
        in = torch::nn::functional::pad(x, torch::nn::functional::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReflect));
    auto out = forward(in).clamp(0, 1);
    return out.slice(2, 0, h * scale_).slice(3, 0, w * scale_);
}

}  // namespace sdgimp::models
