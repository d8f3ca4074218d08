// The UpscalerJS models (installed by the set-up with npm) run by our TF.js graph reader against
// the real UpscalerJS outputs (oracle upscale/tfjs), and the quality anchor (upscale/quality).
#include <gtest/gtest.h>

#include <cmath>
#include <ATen/Parallel.h>

#include "imaging/inpaint_prep.h"
#include "imaging/resample.h"
#include "io/png_file.h"
#include "status.h"
#include "models/rrdbnet.h"
#include "models/tfjs_graph.h"
#include "pipeline/upscale.h"
#include "support/oracle.h"
#include "support/tensor_file.h"
#include "upscalers.h"

using namespace sdgimp;

namespace {

std::string model_path(const std::string& package, const std::string& model_json) {
    return upscalers_dir() + "/node_modules/" + package + "/" + model_json;
}

double psnr(const torch::Tensor& a_u8, const Image& b) {
    auto bt = torch::from_blob(const_cast<uint8_t*>(b.pixels.data()), {b.height, b.width, b.channels}, torch::kUInt8)
                  .slice(2, 0, 3).to(torch::kDouble);
    const double mse = (a_u8.to(torch::kDouble) - bt).pow(2).mean().item<double>();
    return 10 * std::log10(255.0 * 255.0 / mse);
}

Image imaging_crop(const Image& img, int x0, int y0, int w, int h) {
    Image out{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
            for (int c = 0; c < 3; ++c)
                out.pixels[(static_cast<size_t>(y) * w + x) * 3 + c] = img.pixels[(static_cast<size_t>(y + y0) * img.width + x + x0) * img.channels + c];
    return out;
}

}  // namespace

TEST(OracleUpscale, TfjsModelsMatchUpscalerJS) {
    const std::string dir = test::oracle_dir() + "/upscale/tfjs/";
    const auto cases = test::read_json(dir + "tfjs_cases.json");
    int checked = 0;
    for (const auto& c : cases["cases"]) {
        if (!c["patch_size"].is_null()) continue;  // patch mode is UpscalerJS's own tiling, not ours
        SCOPED_TRACE(c["name"].get<std::string>());
        const std::string mp = model_path(c["package"], c["model_json"]);
        ASSERT_TRUE(test::file_exists(mp)) << mp << " is missing: install/setup.sh installs the UpscalerJS models with npm";
        const auto g = models::TfjsGraph::load(mp);
        EXPECT_EQ(g.scale(), c["scale"].get<int>());
        EXPECT_EQ(g.unit_range(), c["input_range"][1].get<int>() == 1);
        auto ref = test::load_tensor_file(dir + c["file"].get<std::string>());
        const auto out = models::upscalerjs_run(g, ref["input_u8"]);
        const auto diff = (out - ref["output"]).abs();
        EXPECT_LE(diff.max().item<float>(), 0.01f);
        EXPECT_LE(diff.mean().item<float>(), 1e-3f);
        ++checked;
    }
    EXPECT_GT(checked, 0);
}

TEST(OracleUpscale, EsrganThickBeatsLanczosOnPhotos) {
    const std::string dir = test::oracle_dir() + "/upscale/quality/";
    const auto q = test::read_json(dir + "quality.json");
    const auto g = models::TfjsGraph::load(upscaler_model_path("esrgan-thick", 4));
    int checked = 0;
    for (const auto& r : q["results"]) {
        if (r["method"] != "esrgan-thick/4x") continue;
        const std::string img = r["image"], deg = r["degradation"];
        SCOPED_TRACE(img + " " + deg);
        const Image lr = io::read_png(dir + img + "_lr_" + deg + ".png").image;
        const Image hr = io::read_png(dir + img + "_hr.png").image;
        auto lr_t = torch::from_blob(const_cast<uint8_t*>(lr.pixels.data()), {lr.height, lr.width, lr.channels}, torch::kUInt8).slice(2, 0, 3);
        // UpscalerJS's result rounded to uint8 (half to even), as the quality table was made.
        const auto out = torch::round(models::upscalerjs_run(g, lr_t.contiguous())).clamp(0, 255);
        const double p = psnr(out, hr);
        EXPECT_NEAR(p, r["psnr_rgb"].get<double>(), 0.02);
        double lanczos = 0;
        for (const auto& o : q["results"])
            if (o["image"] == img && o["degradation"] == deg && o["method"] == "lanczos(PIL)") lanczos = o["psnr_rgb"];
        EXPECT_GT(p - lanczos, 0.6) << "esrgan-thick x4 must beat Lanczos by 0.6 dB or more";
        ++checked;
    }
    EXPECT_EQ(checked, 4);
}

TEST(OracleUpscale, TiledUpscaleIsSeamless) {
    const Image hr = io::read_png(test::oracle_dir() + "/upscale/quality/astro_hr.png").image;
    Image src = imaging_crop(hr, 0, 0, 220, 150);
    pipeline::Upscalers ups;
    pipeline::UpscaleOptions whole;
    whole.tile = 4096;
    int tiles = 0;
    pipeline::UpscaleOptions tiled;
    tiled.progress = [&](int, int total) { tiles = total; };
    const Image a = ups.upscale(src, "ESRGAN thick", 2.0, whole), b = ups.upscale(src, "ESRGAN thick", 2.0, tiled);
    ASSERT_EQ(a.width, 440);
    ASSERT_EQ(b.height, 300);
    EXPECT_GT(tiles, 1);
    double sum = 0;
    int worst = 0;
    for (size_t i = 0; i < a.pixels.size(); ++i) {
        const int d = std::abs(a.pixels[i] - b.pixels[i]);
        sum += d;
        worst = std::max(worst, d);
    }
    EXPECT_LT(sum / static_cast<double>(a.pixels.size()), 0.5) << "tiles must blend into the whole-image result";
    EXPECT_THROW(ups.upscale(src, "Bogus", 2.0), Error);
    const Image l = ups.upscale(src, "Lanczos", 1.5);
    EXPECT_EQ(l.width, 330);
}

// Tiles on several threads at once give the very pixels of tiles one after another, with the
// progress reported once per tile, in order, and a cancel honoured.
TEST(OracleUpscale, ParallelTilesGiveTheSamePixels) {
    const Image hr = io::read_png(test::oracle_dir() + "/upscale/quality/astro_hr.png").image;
    const Image src = imaging_crop(hr, 0, 0, 420, 230);
    pipeline::Upscalers ups;
    const int threads = at::get_num_threads();
    at::set_num_threads(2);
    pipeline::UpscaleOptions serial, parallel;
    serial.parallel_tiles = false;
    parallel.parallel_tiles_min_threads = 2;
    std::vector<int> seen;
    parallel.progress = [&](int done, int total) {
        seen.push_back(done);
        EXPECT_EQ(total, 6);
    };
    const Image a = ups.upscale(src, "ESRGAN slim", 2.0, serial), b = ups.upscale(src, "ESRGAN slim", 2.0, parallel);
    EXPECT_EQ(a.pixels, b.pixels);
    EXPECT_EQ(seen, (std::vector<int>{1, 2, 3, 4, 5, 6}));
    int calls = 0;
    pipeline::UpscaleOptions cancelled;
    cancelled.cancelled = [&] { return ++calls > 2; };
    EXPECT_THROW(ups.upscale(src, "ESRGAN slim", 2.0, cancelled), Cancelled);
    at::set_num_threads(threads);
}

TEST(OracleUpscale, EsrganPthInEveryLayout) {
    const std::string dir = test::oracle_dir() + "/upscale/rrdbnet/";
    const auto cases = test::read_json(dir + "rrdbnet_cases.json");
    auto ref = test::load_tensor_file(dir + "rrdbnet_refs.safetensors");
    int checked = 0;
    for (const auto& [file, info] : cases["files"].items()) {
        SCOPED_TRACE(file);
        const auto net = models::RRDBNet::load(dir + "weights/" + file);
        const std::string model = info["model"];
        const auto& m = cases["models"][model];
        EXPECT_EQ(net.scale(), m["scale"].get<int>());
        const int size = model == "old_native_x8" ? 8 : 16;
        const std::string in = "in_" + std::to_string(size) + "x" + std::to_string(size);
        const std::string out = model + "_out_" + std::to_string(size) + "x" + std::to_string(size) + "_fp64";
        ASSERT_TRUE(ref.has(out)) << out;
        const auto got = net.forward(ref[in]);
        EXPECT_LE((got.to(torch::kDouble) - ref[out]).abs().max().item<double>(), 1e-4);
        ++checked;
    }
    EXPECT_EQ(checked, static_cast<int>(cases["files"].size()));
    // Odd sizes through the A1111/spandrel call: reflect-pad to a multiple of 4, clamp, crop.
    const auto x2 = models::RRDBNet::load(dir + "weights/rrdb_x2_params_ema.pth");
    EXPECT_LE((x2.forward_padded(ref["in_13x9"]) - ref["rrdb_x2_out_13x9_spandrel_call_fp32"]).abs().max().item<float>(), 1e-4f);
    const auto x4 = models::RRDBNet::load(dir + "weights/rrdb_x4_new.pth");
    EXPECT_LE((x4.forward_padded(ref["in_13x9"]) - ref["rrdb_x4_out_13x9_spandrel_call_fp32"]).abs().max().item<float>(), 1e-4f);
    EXPECT_THROW(models::RRDBNet::load(test::oracle_dir() + "/nets/tiny-sd1/tiny-sd1.ckpt"), Error);
    // Through the upscaler front end, by file name, tiled.
    pipeline::Upscalers ups;
    Image img{200, 100, 3, std::vector<uint8_t>(200 * 100 * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(i * 7 % 253);
    const Image big = ups.upscale(img, dir + "weights/rrdb_x4_old.pth", 4.0);
    EXPECT_EQ(big.width, 800);
    EXPECT_EQ(big.height, 400);
}

// A1111's tiled ESRGAN upscaling (oracle upscale/tiling): the grid (zero-filled tiles, negative
// origins for small images), BGR [0, 1] feeding, round-half-even output, the ramp-blended stitch and
// the multiple-of-8 Lanczos finish, with the oracle's integer-exact "analytic" tile function
// (bit-exact) and the rrdb_x4 network (|diff| <= 1 on < 0.1% of values).
namespace {

// The oracle's analytic stand-in: nearest x4 of round(255 x), mixed with tile-local ramps.
torch::Tensor analytic_x4(const torch::Tensor& x) {  // (1, 3, h, w) BGR in [0, 1]
    const auto p = torch::round(x.to(torch::kDouble) * 255).to(torch::kLong);
    const auto u = p.repeat_interleave(4, 2).repeat_interleave(4, 3);
    const int64_t H = u.size(2), W = u.size(3);
    const auto j = torch::arange(W, torch::kLong).view({1, 1, 1, W}).expand({1, 1, H, W});
    const auto i = torch::arange(H, torch::kLong).view({1, 1, H, 1}).expand({1, 1, H, W});
    const auto v0 = torch::div(7 * u.slice(1, 0, 1), 10, "floor") + torch::div(76 * j, W - 1, "floor");
    const auto v1 = torch::div(7 * u.slice(1, 1, 2), 10, "floor") + torch::div(76 * i, H - 1, "floor");
    const auto v2 = torch::div(7 * u.slice(1, 2, 3), 10, "floor") + 38;
    return (torch::cat({v0, v1, v2}, 1).to(torch::kDouble) + 0.25) / 255.0;
}

std::pair<int, int64_t> diff_stats(const Image& a, const Image& b) {
    int worst = 0;
    int64_t off = 0;
    for (size_t k = 0; k < a.pixels.size(); ++k) {
        const int d = std::abs(a.pixels[k] - b.pixels[k * b.channels / a.channels]);
        worst = std::max(worst, d);
        off += d != 0;
    }
    return {worst, off};
}

}  // namespace

TEST(OracleUpscale, A1111TiledEsrganUpscale) {
    const std::string dir = test::oracle_dir() + "/upscale/tiling/";
    const auto meta = test::read_json(dir + "tiling_cases.json");
    const std::string weights = test::oracle_dir() + "/upscale/rrdbnet/weights/rrdb_x4_new.pth";
    const auto rrdb = models::RRDBNet::load(weights);
    int checked = 0;
    for (const auto& c : meta["cases"]) {
        SCOPED_TRACE(c["id"].get<std::string>());
        const Image in = imaging::to_rgb(io::read_png(dir + c["input"].get<std::string>()).image);
        pipeline::UpscaleOptions opt;
        opt.tile = c["tile"];
        opt.overlap = c["overlap"];
        for (const auto& [fn, out] : c["outputs"].items()) {
            std::function<torch::Tensor(const torch::Tensor&)> net;
            if (fn == "analytic") net = analytic_x4;
            else if (fn == "rrdb_x4") net = [&rrdb](const torch::Tensor& x) { return rrdb.forward_padded(x); };
            else continue;
            auto tile_fn = [&net](const Image& t) { return pipeline::run_bgr_net_tile(t, net); };
            for (const bool tiled : {true, false}) {
                pipeline::UpscaleOptions o = opt;
                if (!tiled) o.tile = 0;
                const Image got = pipeline::tiled_pass(in, 4, tile_fn, o);
                const Image want = io::read_png(dir + out[tiled ? "file" : "untiled"].get<std::string>()).image;
                ASSERT_EQ(got.width, want.width);
                ASSERT_EQ(got.height, want.height);
                const auto [worst, off] = diff_stats(got, want);
                if (fn == "analytic") {
                    EXPECT_EQ(worst, 0) << fn << (tiled ? " tiled" : " untiled") << ": " << off << " values differ";
                } else {
                    EXPECT_LE(worst, 1) << fn;
                    EXPECT_LT(static_cast<double>(off), 0.001 * static_cast<double>(got.pixels.size())) << fn;
                }
                ++checked;
            }
            if (out.contains("a1111_scale_2")) {
                // One x4 pass, then Lanczos to (int(w * 2) // 8 * 8, int(h * 2) // 8 * 8).
                const Image pass = pipeline::tiled_pass(in, 4, tile_fn, opt);
                const auto dest = out["a1111_scale_2"]["dest_wh"].get<std::vector<int>>();
                const Image got = imaging::resize(pass, dest[0], dest[1], imaging::Filter::kLanczos);
                const Image want = io::read_png(dir + out["a1111_scale_2"]["file"].get<std::string>()).image;
                const auto [worst, off] = diff_stats(got, want);
                if (fn == "analytic") EXPECT_EQ(worst, 0) << off;
                else EXPECT_LE(worst, 1);
                ++checked;
            }
        }
    }
    std::cout << "A1111 tiling outputs checked: " << checked << "\n";
    EXPECT_GE(checked, 10);
    // The front end by file name with A1111's sizing reproduces the rrdb x4, scale 2 file.
    for (const auto& c : meta["cases"]) {
        if (!c["outputs"].contains("rrdb_x4") || !c["outputs"]["rrdb_x4"].contains("a1111_scale_2")) continue;
        const Image in = imaging::to_rgb(io::read_png(dir + c["input"].get<std::string>()).image);
        pipeline::Upscalers ups;
        pipeline::UpscaleOptions o;
        o.tile = c["tile"];
        o.overlap = c["overlap"];
        o.a1111_size = true;
        const Image got = ups.upscale(in, weights, 2.0, o);
        const Image want = io::read_png(dir + c["outputs"]["rrdb_x4"]["a1111_scale_2"]["file"].get<std::string>()).image;
        ASSERT_EQ(got.width, want.width);
        EXPECT_LE(diff_stats(got, want).first, 1);
    }
}
