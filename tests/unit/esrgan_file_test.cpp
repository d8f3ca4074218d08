// A user's ESRGAN file: a small but complete RRDBNet loads and upscales, and every damaged variant
// (a convolution of the wrong shape, a missing bias, sizes no model has, a layer index past any
// integer) is refused at load with one sentence naming the file, never halfway through an upscale;
// likewise Real-ESRGAN's compact models.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <string>

#include <fstream>

#include "io/checkpoint_file.h"
#include "io/safetensors_writer.h"
#include "models/state_loader.h"
#include "models/rrdbnet.h"
#include "models/srvgg_net.h"
#include "models/scunet.h"
#include "models/swinir.h"
#include "pipeline/upscale.h"
#include "status.h"
#include "support/tiny_esrgan.h"
#include "support/torch_save_writer.h"

using namespace sdgimp;

namespace {

using test::Shapes;
using test::small_rrdbnet;

class EsrganFile : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/gd-esrgan-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        ::unlink(path().c_str());
        ::rmdir(dir_.c_str());
    }
    std::string path() const { return dir_ + "/user-model.safetensors"; }

    void write(const Shapes& shapes) { test::write_shapes(path(), shapes); }
    // The load error for `shapes`, "" when it loads.
    std::string load_error(const Shapes& shapes) {
        write(shapes);
        try {
            (void)models::RRDBNet::load(path());
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kBadFile) << e.what();
            return e.what();
        }
        return "";
    }

    std::string dir_;
};

}  // namespace

TEST_F(EsrganFile, SmallModelLoadsAndUpscales) {
    write(small_rrdbnet());
    const models::RRDBNet net = models::RRDBNet::load(path());
    EXPECT_EQ(net.scale(), 4);
    EXPECT_EQ(net.blocks(), 1);
    EXPECT_EQ(net.features(), 4);
    EXPECT_EQ(net.growth(), 2);
    const torch::Tensor out = net.forward_padded(torch::rand({1, 3, 6, 5}));
    EXPECT_EQ(out.sizes(), torch::IntArrayRef({1, 3, 24, 20}));
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
}

TEST_F(EsrganFile, DamagedFilesAreNamedAtLoad) {
    const std::vector<std::pair<std::string, std::function<void(Shapes&)>>> damage = {
        {"has body.0.rdb2.conv3 with weight [2, 7, 3, 3] and bias [2] where [2, 8, 3, 3] and [2] fit",
         [](Shapes& s) { s["body.0.rdb2.conv3.weight"] = {2, 7, 3, 3}; }},
        {"has conv_last with weight [3, 4, 3, 3] and bias missing where",
         [](Shapes& s) { s.erase("conv_last.bias"); }},
        {"has conv_last with weight [1, 4, 3, 3] and bias [1] where [3, 4, 3, 3]",
         [](Shapes& s) { s["conv_last.weight"] = {1, 4, 3, 3}; s["conv_last.bias"] = {1}; }},
        {"has conv_up1 with weight [4, 4, 1, 1]", [](Shapes& s) { s["conv_up1.weight"] = {4, 4, 1, 1}; }},
        {"has sizes no ESRGAN model has (1 blocks, 2 up-sampling stages, 4 features)",
         [](Shapes& s) { s["body.0.rdb1.conv1.weight"] = {2}; }},
        {"has sizes no ESRGAN model has (1 blocks, 5 up-sampling stages",
         [](Shapes& s) { for (int u = 3; u <= 5; ++u) s["conv_up" + std::to_string(u) + ".weight"] = {4, 4, 3, 3}; }},
        {"has a conv_first that is not a convolution", [](Shapes& s) { s["conv_first.weight"] = {4, 3}; }},
        {"has a conv_first of 0 features", [](Shapes& s) { s["conv_first.weight"] = {0, 3, 3, 3}; }},
        {"takes 5 input channels", [](Shapes& s) { s["conv_first.weight"] = {4, 5, 3, 3}; }},
        {"is not an ESRGAN/RRDBNet model (no conv_hr.weight)", [](Shapes& s) { s.erase("conv_hr.weight"); }},
    };
    for (const auto& [expected, edit] : damage) {
        SCOPED_TRACE(expected);
        Shapes s = small_rrdbnet();
        edit(s);
        const std::string e = load_error(s);
        EXPECT_EQ(e.rfind(path() + ": ", 0), 0u) << e;
        EXPECT_NE(e.find(expected), std::string::npos) << e;
    }
}

TEST_F(EsrganFile, OldLayoutWithAnIndexPastAnyIntegerIsRefusedNotThrownThrough) {
    // The 2018 "model.N" layout, with a tail index no integer holds: the key is dropped, and the
    // file is then named as incomplete instead of std::stoi's out_of_range escaping.
    Shapes s;
    s["model.0.weight"] = {4, 3, 3, 3};
    s["model.0.bias"] = {4};
    s["model.99999999999999999999.weight"] = {3, 4, 3, 3};
    s["model.1.sub.0.RDB1.conv1.0.weight"] = {2, 4, 3, 3};
    const std::string e = load_error(s);
    EXPECT_EQ(e.rfind(path() + ": ", 0), 0u) << e;
}

namespace {

// A Real-ESRGAN compact model (SRVGGNetCompact) as its .pth holds it: {"params": state_dict},
// body.0 conv, body.1 PReLU, ..., body.last conv of 3 * scale^2 channels.
std::vector<std::pair<std::string, torch::Tensor>> compact_weights(int64_t features, int convs, int64_t scale) {
    torch::manual_seed(11);
    std::vector<std::pair<std::string, torch::Tensor>> w;
    for (int i = 0; i <= convs + 1; ++i) {
        const int64_t out = i == convs + 1 ? 3 * scale * scale : features, in = i == 0 ? 3 : features;
        w.emplace_back("body." + std::to_string(2 * i) + ".weight", torch::randn({out, in, 3, 3}) * 0.2);
        w.emplace_back("body." + std::to_string(2 * i) + ".bias", torch::randn({out}) * 0.05);
        if (i <= convs) w.emplace_back("body." + std::to_string(2 * i + 1) + ".weight", torch::rand({features}) * 0.3);
    }
    return w;
}

void write_pth(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& w) {
    using test::Py;
    std::ofstream(path, std::ios::binary) << test::torch_save_zip(Py::dict_of({{Py::str("params"), Py::state_dict(w)}}));
}

// The network written out: convolutions, PReLU as max(x, 0) + a * min(x, 0), the pixel shuffle as
// a reshape, the nearest enlargement as repeated rows and columns.
torch::Tensor compact_reference(const std::vector<std::pair<std::string, torch::Tensor>>& w, const torch::Tensor& x, int64_t s) {
    std::map<std::string, torch::Tensor> m(w.begin(), w.end());
    torch::Tensor h = x;
    for (int i = 0; m.count("body." + std::to_string(i) + ".weight"); i += 2) {
        h = torch::conv2d(h, m["body." + std::to_string(i) + ".weight"], m["body." + std::to_string(i) + ".bias"], 1, 1);
        if (auto a = m.find("body." + std::to_string(i + 1) + ".weight"); a != m.end())
            h = h.clamp_min(0) + a->second.view({1, -1, 1, 1}) * h.clamp_max(0);
    }
    const int64_t n = h.size(0), c = h.size(1) / (s * s), hh = h.size(2), ww = h.size(3);
    h = h.view({n, c, s, s, hh, ww}).permute({0, 1, 4, 2, 5, 3}).reshape({n, c, hh * s, ww * s});
    return h + x.repeat_interleave(s, 2).repeat_interleave(s, 3);
}

}  // namespace

// Real-ESRGAN's compact models ("R-ESRGAN General 4xV3", "R-ESRGAN AnimeVideo"): read from a .pth
// as Real-ESRGAN ships them, the network against its layers written out, and an upscale by the
// file's path through A1111's tiles equal to those tiles run through the written-out network.
TEST_F(EsrganFile, CompactModelsLoadAndUpscale) {
    const std::string pth = dir_ + "/realesr-general-x4v3.pth";
    const auto w = compact_weights(6, 3, 4);
    write_pth(pth, w);
    const models::SRVGGNet net = models::SRVGGNet::load(pth);
    EXPECT_EQ(net.scale(), 4);
    EXPECT_EQ(net.features(), 6);
    EXPECT_EQ(net.convolutions(), 5);
    torch::manual_seed(2);
    const torch::Tensor x = torch::rand({1, 3, 7, 5});
    const torch::Tensor y = net.forward(x);
    EXPECT_EQ(y.sizes(), torch::IntArrayRef({1, 3, 28, 20}));
    EXPECT_LT((y - compact_reference(w, x, 4)).abs().max().item<double>(), 1e-5);

    Image img{40, 24, 3, std::vector<uint8_t>(40 * 24 * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 37) % 256);
    pipeline::UpscaleOptions opt;
    opt.tile = 16;
    opt.overlap = 4;
    pipeline::Upscalers ups;
    const Image got = ups.upscale(img, pth, 4, opt);
    const Image want = pipeline::tiled_pass(img, 4, [&](const Image& tile) {
        return pipeline::run_bgr_net_tile(tile, [&](const torch::Tensor& t) { return compact_reference(w, t, 4); });
    }, opt);
    ASSERT_EQ(got.width, 160);
    ASSERT_EQ(got.height, 96);
    size_t differ = 0;
    for (size_t i = 0; i < got.pixels.size(); ++i) differ += got.pixels[i] != want.pixels[i];
    EXPECT_EQ(differ, 0u);
    ::unlink(pth.c_str());

    // Damaged ones: one sentence naming the file at load.
    auto error_for = [&](std::vector<std::pair<std::string, torch::Tensor>> v) {
        write_pth(pth, v);
        std::string e;
        try {
            (void)models::SRVGGNet::load(pth);
        } catch (const Error& err) {
            e = err.what();
        }
        ::unlink(pth.c_str());
        return e;
    };
    auto with = [&](const std::string& key, const torch::Tensor& t) {
        auto v = w;
        for (auto& [k, val] : v)
            if (k == key) val = t;
        return v;
    };
    EXPECT_EQ(error_for(with("body.8.weight", torch::zeros({47, 6, 3, 3}))),
              pth + ": ends in 47 channels, which no pixel shuffle of an RGB image at scales 1 to 8 takes; the file is damaged or not a Real-ESRGAN compact model.");
    EXPECT_EQ(error_for(with("body.4.weight", torch::zeros({6, 5, 3, 3}))),
              pth + ": has body.4 with weight [6, 5, 3, 3] and bias [6] where [6, 6, 3, 3] and [6] fit; the file is damaged or not a Real-ESRGAN compact model.");
    EXPECT_EQ(error_for(with("body.0.weight", torch::zeros({6, 1, 3, 3}))),
              pth + ": takes 1 input channels where an RGB upscaler takes 3; the file is damaged or not a Real-ESRGAN compact model.");
    EXPECT_EQ(error_for(with("body.3.weight", torch::zeros({4}))),
              pth + ": has a PReLU body.3 of 4 weights where 6 fit; the file is damaged or not a Real-ESRGAN compact model.");
}

namespace {

// SwinIR's index and mask built as its code builds them: meshgrid coordinates, pairwise
// differences shifted and scaled; a label map cut into three bands per axis by slices.
torch::Tensor index_as_swinir_builds_it(int ws) {
    const auto coords = torch::stack(torch::meshgrid({torch::arange(ws), torch::arange(ws)}, "ij")).flatten(1);  // (2, N)
    auto rel = (coords.unsqueeze(2) - coords.unsqueeze(1)).permute({1, 2, 0}).contiguous();
    rel.select(2, 0).add_(ws - 1);
    rel.select(2, 1).add_(ws - 1);
    rel.select(2, 0).mul_(2 * ws - 1);
    return rel.sum(-1);
}

torch::Tensor mask_as_swinir_builds_it(int64_t h, int64_t w, int ws, int shift) {
    auto img = torch::zeros({1, h, w, 1});
    const std::vector<std::pair<int64_t, int64_t>> hs = {{0, h - ws}, {h - ws, h - shift}, {h - shift, h}},
                                                   wss = {{0, w - ws}, {w - ws, w - shift}, {w - shift, w}};
    float cnt = 0;
    for (const auto& [h0, h1] : hs)
        for (const auto& [w0, w1] : wss) img.slice(1, h0, h1).slice(2, w0, w1).fill_(cnt++);
    const auto windows = img.view({1, h / ws, ws, w / ws, ws, 1}).permute({0, 1, 3, 2, 4, 5}).reshape({-1, ws * ws});
    auto m = windows.unsqueeze(1) - windows.unsqueeze(2);
    return m.masked_fill(m != 0, -100.0f).masked_fill(m == 0, 0.0f);
}

models::SwinBlock random_block(int64_t c, int heads, int ws, int shift, int64_t hidden) {
    models::SwinBlock b;
    auto r = [](std::vector<int64_t> s, double k) { return torch::randn(s) * k; };
    b.norm1_w = 1 + r({c}, 0.1), b.norm1_b = r({c}, 0.1), b.norm2_w = 1 + r({c}, 0.1), b.norm2_b = r({c}, 0.1);
    b.qkv_w = r({3 * c, c}, 0.4), b.qkv_b = r({3 * c}, 0.1), b.proj_w = r({c, c}, 0.4), b.proj_b = r({c}, 0.1);
    b.fc1_w = r({hidden, c}, 0.4), b.fc1_b = r({hidden}, 0.1), b.fc2_w = r({c, hidden}, 0.4), b.fc2_b = r({c}, 0.1);
    b.bias_table = r({(2 * ws - 1) * (2 * ws - 1), heads}, 0.5);
    b.heads = heads;
    b.window = ws;
    b.shift = shift;
    return b;
}

// A block token by token: each query attends to the keys of its window on the cyclically shifted
// map, with the table's bias for their offset and -100 between tokens of different bands.
torch::Tensor block_by_loops(const models::SwinBlock& b, const torch::Tensor& x, int64_t h, int64_t w) {
    namespace F = torch::nn::functional;
    const int64_t c = x.size(2), hd = c / b.heads, ws = b.window, s = b.shift;
    const auto n1 = F::layer_norm(x[0], F::LayerNormFuncOptions({c}).weight(b.norm1_w).bias(b.norm1_b).eps(1e-5));  // (HW, C)
    auto band = [&](int64_t v, int64_t size) { return v < size - ws ? 0 : (v < size - s ? 1 : 2); };
    torch::Tensor out = torch::zeros({h * w, c});
    for (int64_t y = 0; y < h; ++y)
        for (int64_t xx = 0; xx < w; ++xx) {
            // Shifted position (y, xx) holds the token at ((y + s) mod h, (xx + s) mod w).
            auto src = [&](int64_t sy, int64_t sx) { return ((sy + s) % h) * w + (sx + s) % w; };
            const int64_t wy = y / ws * ws, wx = xx / ws * ws;
            const auto qkv_q = torch::linear(n1[src(y, xx)], b.qkv_w, b.qkv_b);
            std::vector<torch::Tensor> heads_out;
            for (int hh = 0; hh < b.heads; ++hh) {
                const auto q = qkv_q.slice(0, hh * hd, (hh + 1) * hd) / std::sqrt(static_cast<double>(hd));
                std::vector<double> logits;
                std::vector<torch::Tensor> values;
                for (int64_t ky = wy; ky < wy + ws; ++ky)
                    for (int64_t kx = wx; kx < wx + ws; ++kx) {
                        const auto kv = torch::linear(n1[src(ky, kx)], b.qkv_w, b.qkv_b);
                        double l = (q * kv.slice(0, c + hh * hd, c + (hh + 1) * hd)).sum().item<double>();
                        const int64_t rel = (y - ky + ws - 1) * (2 * ws - 1) + (xx - kx + ws - 1);
                        l += b.bias_table[rel][hh].item<double>();
                        if (s > 0 && (band(y, h) * 3 + band(xx, w)) != (band(ky, h) * 3 + band(kx, w))) l += -100.0;
                        logits.push_back(l);
                        values.push_back(kv.slice(0, 2 * c + hh * hd, 2 * c + (hh + 1) * hd));
                    }
                const double top = *std::max_element(logits.begin(), logits.end());
                double z = 0;
                for (double l : logits) z += std::exp(l - top);
                torch::Tensor acc = torch::zeros({hd});
                for (size_t k = 0; k < logits.size(); ++k) acc += values[k] * (std::exp(logits[k] - top) / z);
                heads_out.push_back(acc);
            }
            out[src(y, xx)] = torch::linear(torch::cat(heads_out), b.proj_w, b.proj_b);
        }
    const auto y1 = x[0] + out;
    const auto m = torch::linear(torch::gelu(torch::linear(F::layer_norm(y1, F::LayerNormFuncOptions({c}).weight(b.norm2_w).bias(b.norm2_b).eps(1e-5)),
                                                           b.fc1_w, b.fc1_b)),
                                 b.fc2_w, b.fc2_b);
    return (y1 + m).unsqueeze(0);
}

// A SwinIR state dict as its releases hold it ({"params_ema": ...}), small: embed c, groups of
// blocks, window ws; the upsampler and residual convolution as asked.
std::vector<std::pair<std::string, torch::Tensor>> swinir_weights(int64_t c, int groups, int blocks, int ws, int heads,
                                                                  const std::string& upsampler, int scale, bool three_conv) {
    torch::manual_seed(5);
    std::vector<std::pair<std::string, torch::Tensor>> w;
    auto add = [&](const std::string& k, std::vector<int64_t> s, double scale_k, double offset = 0) {
        w.emplace_back(k, torch::randn(s) * scale_k + offset);
    };
    auto conv = [&](const std::string& k, int64_t out, int64_t in, int64_t ks) {
        add(k + ".weight", {out, in, ks, ks}, 0.5 / std::sqrt(static_cast<double>(in * ks * ks)));
        add(k + ".bias", {out}, 0.02);
    };
    auto resi = [&](const std::string& k) {
        if (three_conv) {
            conv(k + ".0", c / 4, c, 3), conv(k + ".2", c / 4, c / 4, 1), conv(k + ".4", c, c / 4, 3);
        } else {
            conv(k, c, c, 3);
        }
    };
    conv("conv_first", c, 3, 3);
    add("patch_embed.norm.weight", {c}, 0.1, 1), add("patch_embed.norm.bias", {c}, 0.1);
    for (int g = 0; g < groups; ++g) {
        for (int i = 0; i < blocks; ++i) {
            const std::string p = "layers." + std::to_string(g) + ".residual_group.blocks." + std::to_string(i) + ".";
            add(p + "norm1.weight", {c}, 0.1, 1), add(p + "norm1.bias", {c}, 0.1);
            add(p + "attn.relative_position_bias_table", {(2 * ws - 1) * (2 * ws - 1), heads}, 0.3);
            add(p + "attn.qkv.weight", {3 * c, c}, 0.3), add(p + "attn.qkv.bias", {3 * c}, 0.05);
            add(p + "attn.proj.weight", {c, c}, 0.3), add(p + "attn.proj.bias", {c}, 0.05);
            add(p + "norm2.weight", {c}, 0.1, 1), add(p + "norm2.bias", {c}, 0.1);
            add(p + "mlp.fc1.weight", {2 * c, c}, 0.3), add(p + "mlp.fc1.bias", {2 * c}, 0.05);
            add(p + "mlp.fc2.weight", {c, 2 * c}, 0.3), add(p + "mlp.fc2.bias", {c}, 0.05);
            // Buffers the releases carry; the loader rebuilds them.
            w.emplace_back(p + "attn.relative_position_index", torch::zeros({ws * ws, ws * ws}));
        }
        resi("layers." + std::to_string(g) + ".conv");
    }
    add("norm.weight", {c}, 0.1, 1), add("norm.bias", {c}, 0.1);
    resi("conv_after_body");
    const int64_t f = 8;
    if (upsampler == "nearest+conv") {
        conv("conv_before_upsample.0", f, c, 3), conv("conv_up1", f, f, 3);
        if (scale == 4) conv("conv_up2", f, f, 3);
        conv("conv_hr", f, f, 3), conv("conv_last", 3, f, 3);
    } else if (upsampler == "pixelshuffle") {
        conv("conv_before_upsample.0", f, c, 3);
        for (int i = 0, s = scale; s > 1; s /= 2, i += 2) conv("upsample." + std::to_string(i), 4 * f, f, 3);
        conv("conv_last", 3, f, 3);
    } else if (upsampler == "pixelshuffledirect") {
        conv("upsample.0", 3 * scale * scale, c, 3);
    } else {
        conv("conv_last", 3, c, 3);
    }
    return w;
}

// A1111's SwinIR-L layout (nearest+conv x4, 3conv) written out from its layers: mean, conv_first,
// the groups through SwinBlock (checked against loops above), norm, the upsampler's convolutions.
torch::Tensor swinir_reference(const std::vector<std::pair<std::string, torch::Tensor>>& wv, const torch::Tensor& x, int ws, int heads,
                               int groups, int blocks) {
    namespace F = torch::nn::functional;
    std::map<std::string, torch::Tensor> m(wv.begin(), wv.end());
    auto cv = [&](const std::string& k, const torch::Tensor& t) {
        return torch::conv2d(t, m[k + ".weight"], m[k + ".bias"], 1, m[k + ".weight"].size(2) / 2);
    };
    auto lr = [](const torch::Tensor& t, double a) { return t.clamp_min(0) + a * t.clamp_max(0); };
    auto three = [&](const std::string& k, const torch::Tensor& t) { return cv(k + ".4", lr(cv(k + ".2", lr(cv(k + ".0", t), 0.2)), 0.2)); };
    const int64_t h = x.size(2), w = x.size(3);
    const int64_t ph = (ws - h % ws) % ws, pw = (ws - w % ws) % ws;
    auto mean = torch::tensor({0.4488f, 0.4371f, 0.4040f}).view({1, 3, 1, 1});
    auto xp = F::pad(x, F::PadFuncOptions({0, pw, 0, ph}).mode(torch::kReflect)) - mean;
    const int64_t H = xp.size(2), W = xp.size(3);
    const auto first = cv("conv_first", xp);
    const int64_t c = first.size(1);
    auto tokens = first.flatten(2).transpose(1, 2);
    tokens = F::layer_norm(tokens, F::LayerNormFuncOptions({c}).weight(m["patch_embed.norm.weight"]).bias(m["patch_embed.norm.bias"]));
    for (int g = 0; g < groups; ++g) {
        auto t = tokens;
        for (int i = 0; i < blocks; ++i) {
            const std::string p = "layers." + std::to_string(g) + ".residual_group.blocks." + std::to_string(i) + ".";
            models::SwinBlock b;
            b.norm1_w = m[p + "norm1.weight"], b.norm1_b = m[p + "norm1.bias"], b.norm2_w = m[p + "norm2.weight"], b.norm2_b = m[p + "norm2.bias"];
            b.qkv_w = m[p + "attn.qkv.weight"], b.qkv_b = m[p + "attn.qkv.bias"], b.proj_w = m[p + "attn.proj.weight"], b.proj_b = m[p + "attn.proj.bias"];
            b.fc1_w = m[p + "mlp.fc1.weight"], b.fc1_b = m[p + "mlp.fc1.bias"], b.fc2_w = m[p + "mlp.fc2.weight"], b.fc2_b = m[p + "mlp.fc2.bias"];
            b.bias_table = m[p + "attn.relative_position_bias_table"];
            b.heads = heads, b.window = ws, b.shift = i % 2 ? ws / 2 : 0;
            t = b.forward(t, H, W);
        }
        const auto map = three("layers." + std::to_string(g) + ".conv", t.transpose(1, 2).reshape({1, c, H, W}));
        tokens = map.flatten(2).transpose(1, 2) + tokens;
    }
    tokens = F::layer_norm(tokens, F::LayerNormFuncOptions({c}).weight(m["norm.weight"]).bias(m["norm.bias"]));
    auto f = three("conv_after_body", tokens.transpose(1, 2).reshape({1, c, H, W})) + first;
    f = lr(cv("conv_before_upsample.0", f), 0.01);
    f = lr(cv("conv_up1", f.repeat_interleave(2, 2).repeat_interleave(2, 3)), 0.2);
    f = lr(cv("conv_up2", f.repeat_interleave(2, 2).repeat_interleave(2, 3)), 0.2);
    const auto y = cv("conv_last", lr(cv("conv_hr", f), 0.2)) + mean;
    return y.slice(2, 0, h * 4).slice(3, 0, w * 4);
}

}  // namespace

// SwinIR (A1111's "SwinIR 4x" and users' SwinIR .pth files): its relative position index and
// shifted-window mask against SwinIR's own construction, a transformer block against the same
// block computed token by token, the whole A1111 layout against its layers written out, the
// other upsamplers read from their keys, an upscale by path through A1111's weighted tiles
// (tiled_upscale_2) against those tiles written out, damaged files named.
TEST_F(EsrganFile, SwinIRLoadsAndUpscales) {
    for (int ws : {2, 4, 8}) EXPECT_TRUE(torch::equal(models::swin_relative_position_index(ws), index_as_swinir_builds_it(ws))) << ws;
    EXPECT_TRUE(torch::equal(models::swin_attention_mask(8, 12, 4, 2), mask_as_swinir_builds_it(8, 12, 4, 2)));
    EXPECT_TRUE(torch::equal(models::swin_attention_mask(16, 8, 8, 4), mask_as_swinir_builds_it(16, 8, 8, 4)));

    torch::manual_seed(3);
    for (int shift : {0, 2}) {
        const auto b = random_block(8, 2, 4, shift, 16);
        const auto x = torch::randn({1, 8 * 12, 8});
        EXPECT_LT((b.forward(x, 8, 12) - block_by_loops(b, x, 8, 12)).abs().max().item<double>(), 2e-5) << "shift " << shift;
    }

    const std::string pth = dir_ + "/SwinIR_4x.pth";
    auto write = [&](const std::vector<std::pair<std::string, torch::Tensor>>& w) {
        using test::Py;
        std::ofstream(pth, std::ios::binary) << test::torch_save_zip(Py::dict_of({{Py::str("params_ema"), Py::state_dict(w)}}));
    };
    const auto w = swinir_weights(8, 2, 2, 4, 2, "nearest+conv", 4, true);
    write(w);
    const models::SwinIR net = models::SwinIR::load(pth);
    EXPECT_EQ(net.scale(), 4);
    EXPECT_EQ(net.window(), 4);
    EXPECT_EQ(net.upsampler(), "nearest+conv");
    EXPECT_EQ(net.depths(), (std::vector<int>{2, 2}));
    torch::manual_seed(4);
    const auto x = torch::rand({1, 3, 10, 7});  // not whole windows: padded by reflection inside
    const auto y = net.forward(x);
    ASSERT_EQ(y.sizes(), torch::IntArrayRef({1, 3, 40, 28}));
    EXPECT_LT((y - swinir_reference(w, x, 4, 2, 2, 2)).abs().max().item<double>(), 1e-4);

    // The other upsamplers and the one-convolution residual, told apart by their keys.
    for (const auto& [ups, scale] : std::vector<std::pair<std::string, int>>{{"pixelshuffle", 2}, {"pixelshuffledirect", 3}, {"", 1}}) {
        const std::string p2 = dir_ + "/other.pth";
        using test::Py;
        std::ofstream(p2, std::ios::binary) << test::torch_save_zip(Py::dict_of({{Py::str("params"), Py::state_dict(swinir_weights(8, 1, 2, 4, 2, ups, scale, false))}}));
        const models::SwinIR other = models::SwinIR::load(p2);
        EXPECT_EQ(other.upsampler(), ups);
        EXPECT_EQ(other.scale(), scale);
        EXPECT_EQ(other.forward(torch::rand({1, 3, 8, 12})).sizes(), torch::IntArrayRef({1, 3, 8 * scale, 12 * scale})) << ups;
        ::unlink(p2.c_str());
    }

    try {
        (void)net.forward(torch::rand({1, 3, 2, 9}));  // 2 rows cannot reflect the 2 a 4-pixel window needs
        ADD_FAILURE() << "a 9x2 image went through";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("too small for this SwinIR model's 4-pixel windows"), std::string::npos) << e.what();
    }

    // An upscale by path: A1111's weighted tiles (tile 8, overlap 2 here) over the written-out network.
    Image img{20, 12, 3, std::vector<uint8_t>(20 * 12 * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 53) % 256);
    pipeline::UpscaleOptions opt;
    opt.tile = 8;
    opt.overlap = 2;
    pipeline::Upscalers ups;
    const Image got = ups.upscale(img, pth, 4, opt);
    ASSERT_EQ(got.width, 80);
    ASSERT_EQ(got.height, 48);
    // The tiles as tiled_upscale_2 takes them: rows 0, 4 (= 12 - 8); columns 0, 6, 12 (= 20 - 8).
    auto t = torch::from_blob(img.pixels.data(), {12, 20, 3}, torch::kUInt8);
    const auto bgr = (t.to(torch::kDouble) / 255.0).to(torch::kFloat).flip({2}).permute({2, 0, 1}).unsqueeze(0);
    auto sum = torch::zeros({1, 3, 48, 80}), count = torch::zeros({1, 3, 48, 80});
    for (int64_t ty : {0, 4})
        for (int64_t tx : {0, 6, 12}) {
            sum.slice(2, ty * 4, ty * 4 + 32).slice(3, tx * 4, tx * 4 + 32) += swinir_reference(w, bgr.slice(2, ty, ty + 8).slice(3, tx, tx + 8), 4, 2, 2, 2);
            count.slice(2, ty * 4, ty * 4 + 32).slice(3, tx * 4, tx * 4 + 32) += 1;
        }
    const auto want = torch::round((sum / count)[0].clamp(0, 1).permute({1, 2, 0}) * 255.0f).to(torch::kUInt8).flip({2}).contiguous();
    int far = 0;
    for (int64_t i = 0; i < want.numel(); ++i) far += std::abs(static_cast<int>(want.data_ptr<uint8_t>()[i]) - got.pixels[static_cast<size_t>(i)]) > 1;
    EXPECT_EQ(far, 0);  // float sums in another order: a value may round to the next level

    // Damaged ones: one sentence naming the file and the key.
    auto error_for = [&](std::vector<std::pair<std::string, torch::Tensor>> v) {
        write(v);
        std::string e;
        try {
            (void)models::SwinIR::load(pth);
        } catch (const Error& err) {
            e = err.what();
        }
        return e;
    };
    auto with = [&](const std::string& key, const torch::Tensor& tv) {
        auto v = w;
        for (auto& [k, val] : v)
            if (k == key) val = tv;
        return v;
    };
    EXPECT_EQ(error_for(with("layers.1.residual_group.blocks.1.attn.qkv.weight", torch::zeros({24, 7}))),
              pth + ": has layers.1.residual_group.blocks.1.attn.qkv.weight of shape [24, 7] where [24, 8] fits; the file is damaged or not a SwinIR model.");
    EXPECT_EQ(error_for(with("layers.0.residual_group.blocks.0.attn.relative_position_bias_table", torch::zeros({50, 2}))),
              pth + ": has a relative position table of shape [50, 2], which no window fits; the file is damaged or not a SwinIR model.");
    auto v = w;
    v.erase(std::remove_if(v.begin(), v.end(), [](const auto& kv) { return kv.first == "conv_hr.weight"; }), v.end());
    EXPECT_EQ(error_for(v), pth + ": has no conv_hr.weight; the file is damaged or not a SwinIR model.");
    ::unlink(pth.c_str());
}

namespace {

// SCUNet's window attention token by token: each query sees the keys of its window on the map
// rolled by half a window (when shifted), the embedding rel[h][dy + 7][dx + 7], nothing across the wrap.
torch::Tensor scunet_attention_by_loops(const models::ScunetAttention& a, const torch::Tensor& x) {
    const int64_t h = x.size(1), w = x.size(2), c = x.size(3), hd = a.head_dim, heads = c / hd, p = a.window, s = a.shifted ? p / 2 : 0;
    auto band = [&](int64_t v, int64_t size) { return v < size - p ? 0 : (v < size - s ? 1 : 2); };
    torch::Tensor out = torch::zeros({1, h, w, c});
    for (int64_t y = 0; y < h; ++y)
        for (int64_t xx = 0; xx < w; ++xx) {
            auto src = [&](int64_t sy, int64_t sx) { return std::pair{(sy + s) % h, (sx + s) % w}; };
            const auto [qy, qx] = src(y, xx);
            const auto qkv = torch::linear(x[0][qy][qx], a.qkv_w, a.qkv_b);
            std::vector<torch::Tensor> outs;
            for (int64_t hh = 0; hh < heads; ++hh) {
                std::vector<double> logits;
                std::vector<torch::Tensor> vals;
                for (int64_t ky = y / p * p; ky < y / p * p + p; ++ky)
                    for (int64_t kx = xx / p * p; kx < xx / p * p + p; ++kx) {
                        const auto [sy, sx] = src(ky, kx);
                        const auto kv = torch::linear(x[0][sy][sx], a.qkv_w, a.qkv_b);
                        if (s > 0 && (band(y, h) != band(ky, h) || band(xx, w) != band(kx, w))) continue;  // -inf
                        double l = (qkv.slice(0, hh * hd, (hh + 1) * hd) * kv.slice(0, c + hh * hd, c + (hh + 1) * hd)).sum().item<double>() /
                                   std::sqrt(static_cast<double>(hd));
                        l += a.rel[hh][y % p - ky % p + p - 1][xx % p - kx % p + p - 1].item<double>();
                        logits.push_back(l);
                        vals.push_back(kv.slice(0, 2 * c + hh * hd, 2 * c + (hh + 1) * hd));
                    }
                const double top = *std::max_element(logits.begin(), logits.end());
                double z = 0;
                for (double l : logits) z += std::exp(l - top);
                torch::Tensor acc = torch::zeros({hd});
                for (size_t k = 0; k < logits.size(); ++k) acc += vals[k] * (std::exp(logits[k] - top) / z);
                outs.push_back(acc);
            }
            out[0][qy][qx] = torch::linear(torch::cat(outs), a.out_w, a.out_b);
        }
    return out;
}

// A SCUNet state dict as its releases hold it: dim 64 (32-channel heads), `config` blocks per stage.
std::vector<std::pair<std::string, torch::Tensor>> scunet_weights(const std::vector<int>& config) {
    torch::manual_seed(9);
    std::vector<std::pair<std::string, torch::Tensor>> w;
    const int64_t dim = 64;
    auto add = [&](const std::string& k, std::vector<int64_t> s, double sc, double off = 0) { w.emplace_back(k, torch::randn(s) * sc + off); };
    add("m_head.0.weight", {dim, 3, 3, 3}, 0.2);
    const char* names[7] = {"m_down1", "m_down2", "m_down3", "m_body", "m_up3", "m_up2", "m_up1"};
    const int64_t widths[7] = {dim, 2 * dim, 4 * dim, 8 * dim, 4 * dim, 2 * dim, dim};
    for (int st = 0; st < 7; ++st) {
        const int64_t c = widths[st], hf = c / 2;
        const int first = st >= 4 ? 1 : 0;
        if (st >= 4) add(std::string(names[st]) + ".0.weight", {2 * c, c, 2, 2}, 0.05);
        for (int i = 0; i < config[static_cast<size_t>(st)]; ++i) {
            const std::string p = std::string(names[st]) + "." + std::to_string(first + i) + ".";
            const double k1 = 0.5 / std::sqrt(static_cast<double>(c)), k3 = 0.5 / std::sqrt(static_cast<double>(hf * 9));
            add(p + "conv1_1.weight", {c, c, 1, 1}, k1), add(p + "conv1_1.bias", {c}, 0.02);
            add(p + "conv1_2.weight", {c, c, 1, 1}, k1), add(p + "conv1_2.bias", {c}, 0.02);
            add(p + "conv_block.0.weight", {hf, hf, 3, 3}, k3), add(p + "conv_block.2.weight", {hf, hf, 3, 3}, k3);
            const std::string t = p + "trans_block.";
            add(t + "ln1.weight", {hf}, 0.1, 1), add(t + "ln1.bias", {hf}, 0.1), add(t + "ln2.weight", {hf}, 0.1, 1), add(t + "ln2.bias", {hf}, 0.1);
            const double kl = 0.5 / std::sqrt(static_cast<double>(hf));
            add(t + "msa.embedding_layer.weight", {3 * hf, hf}, kl), add(t + "msa.embedding_layer.bias", {3 * hf}, 0.02);
            add(t + "msa.relative_position_params", {hf / 32, 15, 15}, 0.3);
            add(t + "msa.linear.weight", {hf, hf}, kl), add(t + "msa.linear.bias", {hf}, 0.02);
            add(t + "mlp.0.weight", {4 * hf, hf}, kl), add(t + "mlp.0.bias", {4 * hf}, 0.02);
            add(t + "mlp.2.weight", {hf, 4 * hf}, 0.5 / std::sqrt(static_cast<double>(4 * hf))), add(t + "mlp.2.bias", {hf}, 0.02);
        }
        if (st < 3) add(std::string(names[st]) + "." + std::to_string(config[static_cast<size_t>(st)]) + ".weight", {2 * c, c, 2, 2}, 0.05);
    }
    add("m_tail.0.weight", {3, dim, 3, 3}, 0.05);
    return w;
}

}  // namespace

// SCUNet (A1111's "ScuNET GAN" / "ScuNET PSNR" denoisers): its shifted-window mask equal to SwinIR's
// (checked above against SwinIR's construction) where that one is nonzero, its attention against the
// same attention token by token, the whole network read from a release-shaped .pth (sizes, padding to
// 64s and back), a denoise by path through A1111's weighted tiles against those tiles written out.
TEST_F(EsrganFile, SCUNetLoadsAndDenoises) {
    EXPECT_TRUE(torch::equal(models::scunet_attention_mask(2, 3, 8), models::swin_attention_mask(16, 24, 8, 4) != 0));
    torch::manual_seed(6);
    for (bool shifted : {false, true}) {
        models::ScunetAttention a;
        a.qkv_w = torch::randn({192, 64}) * 0.1, a.qkv_b = torch::randn({192}) * 0.05;
        a.out_w = torch::randn({64, 64}) * 0.1, a.out_b = torch::randn({64}) * 0.05;
        a.rel = torch::randn({2, 15, 15}) * 0.3;
        a.shifted = shifted;
        const auto x = torch::randn({1, 16, 8, 64});
        EXPECT_LT((a.forward(x) - scunet_attention_by_loops(a, x)).abs().max().item<double>(), 1e-5) << shifted;
    }

    const std::string pth = dir_ + "/scunet_color_real_gan.pth";
    {
        using test::Py;
        std::ofstream(pth, std::ios::binary) << test::torch_save_zip(Py::state_dict(scunet_weights({2, 1, 1, 2, 1, 1, 2})));
    }
    std::map<std::string, torch::Tensor> keys;
    for (const auto& [k, t] : io::open_checkpoint(pth).tensors) keys[k] = models::to_torch(t).to(torch::kFloat);
    const models::SCUNet net = models::SCUNet::from_tensors(keys, pth);
    EXPECT_EQ(net.config(), (std::vector<int>{2, 1, 1, 2, 1, 1, 2}));
    const auto x = torch::rand({1, 3, 50, 70});
    const auto y = net.forward(x);
    EXPECT_EQ(y.sizes(), torch::IntArrayRef({1, 3, 50, 70}));
    // The replication padding only adds: the part a 64x64 input covers alone is the same as in a padded run's.
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());

    Image img{40, 24, 3, std::vector<uint8_t>(40 * 24 * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 29) % 256);
    pipeline::UpscaleOptions opt;
    opt.overlap = 8;
    pipeline::Upscalers ups;
    const Image got = ups.upscale(img, pth, 1, opt);
    ASSERT_EQ(got.width, 40);
    ASSERT_EQ(got.height, 24);
    // A1111's SCUNET_tile (256) is larger than the image: tiles of 24 (its height), at x = 0 and 16.
    auto t = torch::from_blob(img.pixels.data(), {24, 40, 3}, torch::kUInt8);
    const auto bgr = (t.to(torch::kDouble) / 255.0).to(torch::kFloat).flip({2}).permute({2, 0, 1}).unsqueeze(0);
    auto sum = torch::zeros({1, 3, 24, 40}), count = torch::zeros({1, 3, 24, 40});
    for (int64_t tx : {0, 16}) {
        sum.slice(3, tx, tx + 24) += net.forward(bgr.slice(3, tx, tx + 24));
        count.slice(3, tx, tx + 24) += 1;
    }
    const auto want = torch::round((sum / count)[0].clamp(0, 1).permute({1, 2, 0}) * 255.0f).to(torch::kUInt8).flip({2}).contiguous();
    int far = 0;
    for (int64_t i = 0; i < want.numel(); ++i) far += std::abs(static_cast<int>(want.data_ptr<uint8_t>()[i]) - got.pixels[static_cast<size_t>(i)]) > 1;
    EXPECT_EQ(far, 0);

    // A damaged one: the key and the shapes in one sentence.
    auto bad = scunet_weights({2, 1, 1, 2, 1, 1, 2});
    for (auto& [k, v] : bad)
        if (k == "m_body.1.trans_block.msa.relative_position_params") v = torch::zeros({8, 13, 13});
    std::map<std::string, torch::Tensor> bad_keys(bad.begin(), bad.end());
    try {
        (void)models::SCUNet::from_tensors(bad_keys, pth);
        ADD_FAILURE() << "a damaged SCUNet was taken";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), pth + ": has m_body.1.trans_block.msa.relative_position_params of shape [8, 13, 13] where [8, 15, 15] fits; the file is damaged or not a SCUNet model.");
    }
    ::unlink(pth.c_str());
}
