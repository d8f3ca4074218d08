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

#include "io/safetensors_writer.h"
#include "models/rrdbnet.h"
#include "models/srvgg_net.h"
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
