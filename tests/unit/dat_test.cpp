// DAT (A1111's "DAT x2/x3/x4" upscalers) on small random-weight models: the shifted-window masks
// and position offsets against their definitions, the spatial window attention against the same
// attention worked out token by token (windows, zero padding, shifts, regions, the dynamic bias by
// offset), the channel attention against its formulas, the whole network against its blocks
// composed by hand, a release-shaped file read with its sizes, damaged files named, and an upscale
// by path against A1111's split_grid tiles run through the network.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <map>
#include <string>

#include "imaging/grid.h"
#include "io/checkpoint_file.h"
#include "io/safetensors_writer.h"
#include "models/dat.h"
#include "models/state_loader.h"
#include "pipeline/upscale.h"
#include "status.h"

using namespace sdgimp;
namespace F = torch::nn::functional;

namespace {

using Weights = std::map<std::string, torch::Tensor>;

struct Config {
    int64_t c = 64, hidden = 128, feat = 16;
    std::vector<int> depths{4, 2};
    int heads = 4, s0 = 2, s1 = 4, scale = 2;
    bool direct = false, three_conv = false;
};

std::string bk(int g, int b, const std::string& rest) { return "layers." + std::to_string(g) + ".blocks." + std::to_string(b) + "." + rest; }

// Random weights in DAT's layout (zeros when only the shapes matter).
Weights random_dat(const Config& k, bool zeros = false) {
    Weights w;
    auto r = [&](std::vector<int64_t> shape, double scale = 0.2) { return zeros ? torch::zeros(shape) : torch::randn(shape) * scale; };
    auto norm = [&](const std::string& n, int64_t c) {
        w[n + ".weight"] = zeros ? torch::ones({c}) : 1 + 0.1 * torch::randn({c});
        w[n + ".bias"] = r({c}, 0.1);
    };
    auto bn = [&](const std::string& n, int64_t c) {
        norm(n, c);
        w[n + ".running_mean"] = r({c}, 0.1);
        w[n + ".running_var"] = 0.5 + torch::rand({c});
    };
    auto lin = [&](const std::string& n, int64_t out, int64_t in) {
        w[n + ".weight"] = r({out, in}, 1.0 / std::sqrt(static_cast<double>(in)));
        w[n + ".bias"] = r({out}, 0.1);
    };
    auto conv = [&](const std::string& n, int64_t out, int64_t in, int64_t ks) {
        w[n + ".weight"] = r({out, in, ks, ks}, 1.0 / std::sqrt(static_cast<double>(in * ks * ks)));
        w[n + ".bias"] = r({out}, 0.1);
    };
    const int64_t c = k.c, pd = c / 32;
    conv("conv_first", c, 3, 3);
    norm("before_RG.1", c);
    for (size_t g = 0; g < k.depths.size(); ++g) {
        for (int b = 0; b < k.depths[g]; ++b) {
            auto p = [&](const std::string& rest) { return bk(static_cast<int>(g), b, rest); };
            norm(p("norm1"), c), norm(p("norm2"), c);
            lin(p("attn.qkv"), 3 * c, c), lin(p("attn.proj"), c, c);
            conv(p("attn.dwconv.0"), c, 1, 3), bn(p("attn.dwconv.1"), c);
            conv(p("attn.channel_interaction.1"), c / 8, c, 1), bn(p("attn.channel_interaction.2"), c / 8);
            conv(p("attn.channel_interaction.4"), c, c / 8, 1);
            conv(p("attn.spatial_interaction.0"), c / 16, c, 1), bn(p("attn.spatial_interaction.1"), c / 16);
            conv(p("attn.spatial_interaction.3"), 1, c / 16, 1);
            lin(p("ffn.fc1"), k.hidden, c), norm(p("ffn.sg.norm"), k.hidden / 2), conv(p("ffn.sg.conv"), k.hidden / 2, 1, 3);
            lin(p("ffn.fc2"), c, k.hidden / 2);
            if (b % 2) {
                w[p("attn.temperature")] = zeros ? torch::ones({k.heads, 1, 1}) : 0.5 + torch::rand({k.heads, 1, 1}) * 2;
                continue;
            }
            for (int i = 0; i < 2; ++i) {
                const std::string a = "attn.attns." + std::to_string(i) + ".";
                const int hs = i == 0 ? k.s0 : k.s1, ws = i == 0 ? k.s1 : k.s0;
                lin(p(a + "pos.pos_proj"), pd, 2);
                for (const char* s : {"pos.pos1", "pos.pos2", "pos.pos3"}) norm(p(a + s + ".0"), pd);
                lin(p(a + "pos.pos1.2"), pd, pd), lin(p(a + "pos.pos2.2"), pd, pd), lin(p(a + "pos.pos3.2"), k.heads / 2, pd);
                w[p(a + "rpe_biases")] = models::dat_rpe_biases(hs, ws);
                w[p(a + "relative_position_index")] = models::dat_relative_position_index(hs, ws);
            }
        }
        conv("layers." + std::to_string(g) + ".conv", c, c, 3);
    }
    norm("norm", c);
    if (k.three_conv) conv("conv_after_body.0", c / 4, c, 3), conv("conv_after_body.2", c / 4, c / 4, 1), conv("conv_after_body.4", c, c / 4, 3);
    else conv("conv_after_body", c, c, 3);
    if (k.direct) {
        conv("upsample.0", 3 * k.scale * k.scale, c, 3);
    } else {
        conv("conv_before_upsample.0", k.feat, c, 3);
        int i = 0;
        if (k.scale == 3) conv("upsample.0", 9 * k.feat, k.feat, 3);
        else
            for (int s = k.scale; s > 1; s /= 2, i += 2) conv("upsample." + std::to_string(i), 4 * k.feat, k.feat, 3);
        conv("conv_last", 3, k.feat, 3);
    }
    return w;
}

void write_file(const std::string& path, const Weights& w) {
    std::vector<io::RawBytesTensor> out;
    for (const auto& [name, t] : w)
        out.push_back({name, t.scalar_type() == torch::kLong ? "I64" : "F32", t.sizes().vec(), static_cast<const uint8_t*>(t.data_ptr()),
                       static_cast<size_t>(t.numel()) * t.element_size()});
    io::write_safetensors_raw(path, out);
}

torch::Tensor ln(const Weights& w, const std::string& n, const torch::Tensor& x) {
    return F::layer_norm(x, F::LayerNormFuncOptions({x.size(-1)}).weight(w.at(n + ".weight")).bias(w.at(n + ".bias")).eps(1e-5));
}
torch::Tensor lin(const Weights& w, const std::string& n, const torch::Tensor& x) { return torch::linear(x, w.at(n + ".weight"), w.at(n + ".bias")); }
torch::Tensor cv(const Weights& w, const std::string& n, const torch::Tensor& x, int pad, int64_t groups = 1) {
    return torch::conv2d(x, w.at(n + ".weight"), w.at(n + ".bias"), 1, pad, 1, groups);
}
torch::Tensor bn(const Weights& w, const std::string& n, const torch::Tensor& x) {
    return (x - w.at(n + ".running_mean").view({1, -1, 1, 1})) / torch::sqrt(w.at(n + ".running_var").view({1, -1, 1, 1}) + 1e-5) *
               w.at(n + ".weight").view({1, -1, 1, 1}) +
           w.at(n + ".bias").view({1, -1, 1, 1});
}

// The spatial attention of block `p` for one image, query by query.
torch::Tensor naive_spatial(const Weights& w, const std::string& p, const Config& k, bool shifted, const torch::Tensor& x, int64_t h, int64_t wd) {
    const int64_t c = k.c, half = c / 2, heads = k.heads / 2, hd = half / heads, l = h * wd;
    const torch::Tensor qkv = lin(w, p + "qkv", x[0]);  // (L, 3C)
    const int64_t ms = std::max(k.s0, k.s1), ph = (h + ms - 1) / ms * ms, pw = (wd + ms - 1) / ms * ms;
    torch::Tensor attended = torch::zeros({l, c});
    for (int br = 0; br < 2; ++br) {
        const int hs = br == 0 ? k.s0 : k.s1, ws = br == 0 ? k.s1 : k.s0;
        const int sy = shifted ? hs / 2 : 0, sx = shifted ? ws / 2 : 0;
        const std::string a = p + "attns." + std::to_string(br) + ".pos.";
        auto bias = [&](int dy, int dx) {
            torch::Tensor t = lin(w, a + "pos_proj", torch::tensor({static_cast<float>(dy), static_cast<float>(dx)}));
            for (const char* s : {"pos1", "pos2", "pos3"}) t = lin(w, a + s + ".2", torch::relu(ln(w, a + s + ".0", t)));
            return t;  // (heads)
        };
        auto token = [&](int part, int64_t y, int64_t xx) {
            if (y >= h || xx >= wd) return torch::zeros({half});  // zero padding after the projection
            return qkv[y * wd + xx].slice(0, part * c + br * half, part * c + (br + 1) * half);
        };
        auto band = [](int64_t v, int64_t n, int size, int shift) { return v < n - size ? 0 : (v < n - shift ? 1 : 2); };
        auto region = [&](int64_t y, int64_t xx) { return band(y, ph, hs, sy) * 3 + band(xx, pw, ws, sx); };
        for (int64_t y = 0; y < h; ++y)
            for (int64_t xx = 0; xx < wd; ++xx) {
                const int64_t ys = (y - sy + ph) % ph, xs = (xx - sx + pw) % pw;  // where the roll puts it
                const int64_t wy = ys / hs * hs, wx = xs / ws * ws;
                const torch::Tensor q = token(0, y, xx) * std::pow(static_cast<double>(hd), -0.5);
                std::vector<torch::Tensor> scores, values;
                for (int dy = 0; dy < hs; ++dy)
                    for (int dx = 0; dx < ws; ++dx) {
                        const int64_t ky = wy + dy, kx = wx + dx;  // in the rolled map
                        const int64_t oy = (ky + sy) % ph, ox = (kx + sx) % pw;
                        const torch::Tensor kk = token(1, oy, ox);
                        torch::Tensor s = (q.view({heads, hd}) * kk.view({heads, hd})).sum(1) + bias(static_cast<int>(ys - ky), static_cast<int>(xs - kx));
                        if (shifted && region(ys, xs) != region(ky, kx)) s = s - 100;
                        scores.push_back(s);
                        values.push_back(token(2, oy, ox).view({heads, hd}));
                    }
                const torch::Tensor pr = torch::softmax(torch::stack(scores), 0);  // (keys, heads)
                const torch::Tensor o = (pr.unsqueeze(2) * torch::stack(values)).sum(0);  // (heads, hd)
                attended[y * wd + xx].slice(0, br * half, (br + 1) * half).copy_(o.reshape({half}));
            }
    }
    const torch::Tensor v = qkv.slice(1, 2 * c, 3 * c).t().reshape({1, c, h, wd});
    torch::Tensor conv_x = torch::gelu(bn(w, p + "dwconv.1", cv(w, p + "dwconv.0", v, 1, c)));
    const torch::Tensor cm = cv(w, p + "channel_interaction.4", torch::gelu(bn(w, p + "channel_interaction.2", cv(w, p + "channel_interaction.1", conv_x.mean({2, 3}, true), 0))), 0);
    const torch::Tensor am = attended.t().reshape({1, c, h, wd});
    const torch::Tensor sm = cv(w, p + "spatial_interaction.3", torch::gelu(bn(w, p + "spatial_interaction.1", cv(w, p + "spatial_interaction.0", am, 0))), 0);
    const torch::Tensor att = attended * torch::sigmoid(cm.view({1, c}));
    const torch::Tensor cx = (torch::sigmoid(sm) * conv_x)[0].reshape({c, l}).t();
    return lin(w, p + "proj", att + cx).unsqueeze(0);
}

// The channel attention of block `p`: per head, channel d attends to channel e by the cosine of
// their pixel vectors times the head's temperature.
torch::Tensor naive_channel(const Weights& w, const std::string& p, const Config& k, const torch::Tensor& x, int64_t h, int64_t wd) {
    const int64_t c = k.c, hd = c / k.heads, l = h * wd;
    const torch::Tensor qkv = lin(w, p + "qkv", x[0]);  // (L, 3C)
    torch::Tensor attended = torch::zeros({l, c});
    for (int hh = 0; hh < k.heads; ++hh)
        for (int64_t d = 0; d < hd; ++d) {
            const torch::Tensor q = qkv.select(1, hh * hd + d);
            std::vector<torch::Tensor> s;
            for (int64_t e = 0; e < hd; ++e) {
                const torch::Tensor kk = qkv.select(1, c + hh * hd + e);
                s.push_back((q * kk).sum() / (q.norm() * kk.norm()) * w.at(p + "temperature")[hh][0][0]);
            }
            const torch::Tensor pr = torch::softmax(torch::stack(s), 0);
            torch::Tensor o = torch::zeros({l});
            for (int64_t e = 0; e < hd; ++e) o += pr[e] * qkv.select(1, 2 * c + hh * hd + e);
            attended.select(1, hh * hd + d).copy_(o);
        }
    const torch::Tensor v = qkv.slice(1, 2 * c, 3 * c).t().reshape({1, c, h, wd});
    torch::Tensor conv_x = torch::gelu(bn(w, p + "dwconv.1", cv(w, p + "dwconv.0", v, 1, c)));
    const torch::Tensor am = attended.t().reshape({1, c, h, wd});
    const torch::Tensor cm = cv(w, p + "channel_interaction.4", torch::gelu(bn(w, p + "channel_interaction.2", cv(w, p + "channel_interaction.1", am.mean({2, 3}, true), 0))), 0);
    const torch::Tensor sm = cv(w, p + "spatial_interaction.3", torch::gelu(bn(w, p + "spatial_interaction.1", cv(w, p + "spatial_interaction.0", conv_x, 0))), 0);
    const torch::Tensor att = attended * torch::sigmoid(sm[0].reshape({1, l}).t());
    const torch::Tensor cx = (conv_x * torch::sigmoid(cm))[0].reshape({c, l}).t();
    return lin(w, p + "proj", att + cx).unsqueeze(0);
}

double max_diff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST(Dat, MasksAndOffsetsFollowTheirDefinitions) {
    // Each pixel's region: before the last window, in it before the shift, or in the shift.
    for (auto [h, w, hs, ws, sh, sw] : std::vector<std::array<int, 6>>{{8, 16, 2, 4, 1, 2}, {16, 8, 4, 2, 2, 1}, {64, 64, 8, 32, 4, 16}}) {
        SCOPED_TRACE(std::to_string(h) + "x" + std::to_string(w));
        const torch::Tensor m = models::dat_attention_mask(h, w, hs, ws, sh, sw);
        const int64_t nw = (h / hs) * (w / ws), n = hs * ws;
        ASSERT_EQ(m.sizes(), torch::IntArrayRef({nw, n, n}));
        auto band = [](int v, int size, int len, int shift) { return v < len - size ? 0 : (v < len - shift ? 1 : 2); };
        auto a = m.accessor<float, 3>();
        int64_t wrong = 0;
        for (int wi = 0; wi < nw; ++wi) {
            const int y0 = wi / (w / ws) * hs, x0 = wi % (w / ws) * ws;
            for (int i = 0; i < n; ++i)
                for (int j = 0; j < n; ++j) {
                    const int ri = band(y0 + i / ws, hs, h, sh) * 3 + band(x0 + i % ws, ws, w, sw);
                    const int rj = band(y0 + j / ws, hs, h, sh) * 3 + band(x0 + j % ws, ws, w, sw);
                    wrong += a[wi][i][j] != (ri == rj ? 0.0f : -100.0f);
                }
        }
        EXPECT_EQ(wrong, 0);
    }
    for (auto [hs, ws] : std::vector<std::pair<int, int>>{{2, 4}, {4, 2}, {8, 32}}) {
        const torch::Tensor idx = models::dat_relative_position_index(hs, ws), off = models::dat_rpe_biases(hs, ws);
        ASSERT_EQ(off.size(0), (2 * hs - 1) * (2 * ws - 1));
        int64_t wrong = 0;
        for (int i = 0; i < hs * ws; ++i)
            for (int j = 0; j < hs * ws; ++j) {
                const int64_t r = idx[i][j].item<int64_t>();
                wrong += off[r][0].item<float>() != static_cast<float>(i / ws - j / ws) || off[r][1].item<float>() != static_cast<float>(i % ws - j % ws);
            }
        EXPECT_EQ(wrong, 0) << hs << "x" << ws;
    }
}

TEST(Dat, AttentionsAgainstTheirFormulas) {
    torch::manual_seed(11);
    const Config k;
    const Weights w = random_dat(k);
    const models::DAT net = models::DAT::from_tensors(w, "small-dat.pth");
    EXPECT_EQ(net.split(), std::make_pair(2, 4));
    EXPECT_EQ(net.heads(), std::vector<int>({4, 4}));
    EXPECT_EQ(net.depths(), std::vector<int>({4, 2}));
    // DAT's shift rule: in even groups blocks 2, 6, ...; in odd groups blocks 0, 4, ...
    EXPECT_FALSE(models::DAT::shifted(0, 0));
    EXPECT_TRUE(models::DAT::shifted(0, 2));
    EXPECT_TRUE(models::DAT::shifted(1, 0));
    EXPECT_FALSE(models::DAT::shifted(1, 2));
    // 6 x 10 tokens: padded to 8 x 12 inside (windows of 2 x 4 and 4 x 2).
    const int64_t h = 6, wd = 10;
    const torch::Tensor x = torch::randn({1, h * wd, k.c});
    torch::NoGradGuard ng;
    for (auto [g, b] : std::vector<std::pair<int, int>>{{0, 0}, {0, 2}, {1, 0}}) {
        SCOPED_TRACE("layers." + std::to_string(g) + ".blocks." + std::to_string(b));
        const torch::Tensor want = naive_spatial(w, bk(g, b, "attn."), k, models::DAT::shifted(g, b), x, h, wd);
        EXPECT_LT(max_diff(net.attention(g, b, x, h, wd), want), 2e-5);
    }
    for (auto [g, b] : std::vector<std::pair<int, int>>{{0, 1}, {1, 1}}) {
        SCOPED_TRACE("layers." + std::to_string(g) + ".blocks." + std::to_string(b));
        EXPECT_LT(max_diff(net.attention(g, b, x, h, wd), naive_channel(w, bk(g, b, "attn."), k, x, h, wd)), 2e-5);
    }
    // The spatial-gate feed-forward network.
    const std::string p = bk(0, 1, "ffn.");
    const torch::Tensor y = torch::gelu(lin(w, p + "fc1", x));
    const torch::Tensor gate = cv(w, p + "sg.conv", ln(w, p + "sg.norm", y.slice(2, 64, 128))[0].t().reshape({1, 64, h, wd}), 1, 64)[0].reshape({64, h * wd}).t();
    EXPECT_LT(max_diff(net.feed_forward(0, 1, x, h, wd), lin(w, p + "fc2", y.slice(2, 0, 64) * gate)), 1e-5);
}

TEST(Dat, WholeNetworkIsItsBlocksComposed) {
    torch::manual_seed(12);
    for (const bool three : {false, true}) {
        Config k;
        k.three_conv = three;
        k.scale = three ? 3 : 2;
        const Weights w = random_dat(k);
        const models::DAT net = models::DAT::from_tensors(w, "small-dat.pth");
        EXPECT_EQ(net.scale(), k.scale);
        EXPECT_EQ(net.upsampler(), "pixelshuffle");
        const int64_t h = 7, wd = 9;
        const torch::Tensor img = torch::rand({1, 3, h, wd});
        torch::NoGradGuard ng;
        const torch::Tensor mean = torch::tensor({0.4488f, 0.4371f, 0.4040f}).view({1, 3, 1, 1});
        const torch::Tensor first = cv(w, "conv_first", img - mean, 1);
        auto map = [&](const torch::Tensor& t) { return t[0].t().reshape({1, k.c, h, wd}); };
        auto tokens = [&](const torch::Tensor& m) { return m[0].reshape({k.c, h * wd}).t().unsqueeze(0); };
        torch::Tensor t = ln(w, "before_RG.1", tokens(first));
        for (int g = 0; g < 2; ++g) {
            const torch::Tensor res = t;
            for (int b = 0; b < k.depths[static_cast<size_t>(g)]; ++b) {
                t = t + net.attention(g, b, ln(w, bk(g, b, "norm1"), t), h, wd);
                t = t + net.feed_forward(g, b, ln(w, bk(g, b, "norm2"), t), h, wd);
            }
            t = res + tokens(cv(w, "layers." + std::to_string(g) + ".conv", map(t), 1));
        }
        torch::Tensor body = map(ln(w, "norm", t));
        if (three) {
            body = F::leaky_relu(cv(w, "conv_after_body.0", body, 1), F::LeakyReLUFuncOptions().negative_slope(0.2));
            body = F::leaky_relu(cv(w, "conv_after_body.2", body, 0), F::LeakyReLUFuncOptions().negative_slope(0.2));
            body = cv(w, "conv_after_body.4", body, 1);
        } else {
            body = cv(w, "conv_after_body", body, 1);
        }
        torch::Tensor f = F::leaky_relu(cv(w, "conv_before_upsample.0", body + first, 1), F::LeakyReLUFuncOptions().negative_slope(0.01));
        f = torch::pixel_shuffle(cv(w, "upsample.0", f, 1), k.scale);
        const torch::Tensor want = cv(w, "conv_last", f, 1) + mean;
        const torch::Tensor got = net.forward(img);
        ASSERT_EQ(got.sizes(), torch::IntArrayRef({1, 3, h * k.scale, wd * k.scale}));
        EXPECT_LT(max_diff(got, want), 1e-5);
    }
}

TEST(Dat, ReadsReleaseShapesAndNamesDamage) {
    // DAT_x4 as released: 180 channels, six groups of six blocks, 6 heads, 2 x 90 windows of 8 x 32,
    // a feed-forward twice as wide; DAT-light: one group of 18 blocks, direct pixel shuffle.
    Config full;
    full.c = 180, full.hidden = 360, full.feat = 64, full.depths = std::vector<int>(6, 6), full.heads = 6, full.s0 = 8, full.s1 = 32, full.scale = 4;
    const models::DAT big = models::DAT::from_tensors(random_dat(full, true), "DAT_x4.pth");
    EXPECT_EQ(big.scale(), 4);
    EXPECT_EQ(big.split(), std::make_pair(8, 32));
    EXPECT_EQ(big.depths(), std::vector<int>(6, 6));
    EXPECT_EQ(big.heads(), std::vector<int>(6, 6));
    EXPECT_EQ(big.embed_dim(), 180);
    EXPECT_EQ(big.hidden(), 360);
    Config light;
    light.c = 64, light.hidden = 128, light.depths = {2}, light.heads = 4, light.direct = true, light.scale = 3;
    const models::DAT small = models::DAT::from_tensors(random_dat(light, true), "DAT_light_x3.pth");
    EXPECT_EQ(small.upsampler(), "pixelshuffledirect");
    EXPECT_EQ(small.scale(), 3);

    auto error_for = [](const Weights& w) {
        try {
            (void)models::DAT::from_tensors(w, "/models/DAT/broken.pth");
        } catch (const Error& e) {
            EXPECT_EQ(e.code(), ErrorCode::kBadFile);
            return std::string(e.what());
        }
        return std::string();
    };
    Weights w = random_dat(Config{}, true);
    Weights missing = w;
    missing.erase("layers.1.blocks.1.ffn.fc2.weight");
    EXPECT_NE(error_for(missing).find("has no layers.1.blocks.1.ffn.fc2.weight"), std::string::npos) << error_for(missing);
    EXPECT_NE(error_for(missing).find("/models/DAT/broken.pth"), std::string::npos);
    Weights shape = w;
    shape["layers.0.blocks.2.attn.proj.weight"] = torch::zeros({64, 32});
    EXPECT_NE(error_for(shape).find("layers.0.blocks.2.attn.proj.weight of shape"), std::string::npos) << error_for(shape);
    Weights index = w;
    index["layers.0.blocks.0.attn.attns.1.relative_position_index"] = torch::zeros({8, 8}, torch::kLong);
    EXPECT_NE(error_for(index).find("relative_position_index that is not its window's"), std::string::npos) << error_for(index);
    Weights odd_heads = w;
    odd_heads["layers.0.blocks.1.attn.temperature"] = torch::ones({3, 1, 1});
    EXPECT_NE(error_for(odd_heads).find("3 heads"), std::string::npos) << error_for(odd_heads);
}

TEST(Dat, UpscaleByPathRunsA1111Tiles) {
    char tmpl[] = "/tmp/gd-dat-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl, path = dir + "/DAT_x2.pth.safetensors";
    torch::manual_seed(13);
    Config k;
    k.depths = {2, 2};
    const Weights w = random_dat(k);
    write_file(path, w);
    const models::DAT net = models::DAT::from_tensors(w, path);
    Image img{40, 28, 3, std::vector<uint8_t>(40 * 28 * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>((i * 29) % 256);
    pipeline::UpscaleOptions opt;
    opt.tile = 16;
    opt.overlap = 4;
    pipeline::Upscalers ups;
    const Image got = ups.upscale(img, path, 2, opt);
    const Image want = pipeline::tiled_pass(img, 2, [&](const Image& tile) {
        return pipeline::run_bgr_net_tile(tile, [&](const torch::Tensor& t) { return net.forward(t); });
    }, opt);
    ASSERT_EQ(got.width, 80);
    ASSERT_EQ(got.height, 56);
    size_t differ = 0;
    for (size_t i = 0; i < got.pixels.size(); ++i) differ += got.pixels[i] != want.pixels[i];
    EXPECT_EQ(differ, 0u);
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
}
