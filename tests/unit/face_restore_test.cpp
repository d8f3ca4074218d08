// A1111's GFPGAN face restoration (facexlib's FaceRestoreHelper) on small models in the release
// files' layouts: OpenCV's geometry (the landmark similarity, warpAffine's 1/32-pixel positions and
// 15-bit weights, GaussianBlur's kernel and border, Lanczos4's weights) against their definitions;
// RetinaFace's priors, decoding, NMS and landmark scaling on a detector whose heads are set by hand;
// GFPGAN's modulated convolution, latents, SFT and noise; the paste back through ParseNet's mask on
// a picture whose face position is known; the model files found and damaged files named.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "imaging/extras_upscale.h"
#include "imaging/face_warp.h"
#include "io/safetensors_writer.h"
#include "models/codeformer.h"
#include "models/gfpgan.h"
#include "models/parsenet.h"
#include "models/retinaface.h"
#include "pipeline/face_restore.h"
#include "request.h"
#include "status.h"
#include "support/error_text.h"
#include "support/face_models.h"
#include "support/oracle.h"
#include "support/vocab.h"

using namespace sdgimp;
using namespace sdgimp::test;

namespace {

// An RGB picture: red follows x, green follows y, blue 100.
Image gradient(int w, int h) {
    Image img;
    img.width = w, img.height = h, img.channels = 3;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            img.pixels.push_back(static_cast<uint8_t>(x * 255 / (w - 1)));
            img.pixels.push_back(static_cast<uint8_t>(y * 255 / (h - 1)));
            img.pixels.push_back(100);
        }
    return img;
}

int px(const Image& img, int x, int y, int c) { return img.pixels[(static_cast<size_t>(y) * img.width + x) * img.channels + c]; }

std::string temp_dir() {
    char tmpl[] = "/tmp/gd-face-XXXXXX";
    const char* d = mkdtemp(tmpl);
    return d ? d : "";
}

}  // namespace

TEST(FaceWarp, SimilarityFitRecoversAKnownSimilarityAndIsLeastSquares) {
    const double a = 1.7 * std::cos(0.3), b = 1.7 * std::sin(0.3);
    const imaging::Affine truth = {a, -b, 12.5, b, a, -7.25};
    std::vector<imaging::Point2> from = {{10, 20}, {40, 22}, {25, 35}, {14, 48}, {37, 47}}, to;
    for (const auto& p : from) to.push_back({truth[0] * p[0] + truth[1] * p[1] + truth[2], truth[3] * p[0] + truth[4] * p[1] + truth[5]});
    const imaging::Affine fit = imaging::fit_similarity(from, to);
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(fit[static_cast<size_t>(i)], truth[static_cast<size_t>(i)], 1e-9) << i;

    // Moved targets: any nudge of the four parameters raises the squared error.
    to[2][0] += 3, to[4][1] -= 2;
    const imaging::Affine best = imaging::fit_similarity(from, to);
    auto err = [&](double da, double db, double dx, double dy) {
        double e = 0;
        for (size_t i = 0; i < from.size(); ++i) {
            const double u = (best[0] + da) * from[i][0] - (best[3] + db) * from[i][1] + best[2] + dx;
            const double v = (best[3] + db) * from[i][0] + (best[0] + da) * from[i][1] + best[5] + dy;
            e += (u - to[i][0]) * (u - to[i][0]) + (v - to[i][1]) * (v - to[i][1]);
        }
        return e;
    };
    EXPECT_EQ(best[1], -best[3]);
    EXPECT_EQ(best[4], best[0]);
    for (double s : {1e-3, -1e-3}) {
        EXPECT_GT(err(s, 0, 0, 0), err(0, 0, 0, 0));
        EXPECT_GT(err(0, s, 0, 0), err(0, 0, 0, 0));
        EXPECT_GT(err(0, 0, s, 0), err(0, 0, 0, 0));
        EXPECT_GT(err(0, 0, 0, s), err(0, 0, 0, 0));
    }
    const imaging::Affine inv = imaging::invert_affine(best);
    const double x = 17, y = 29, u = best[0] * x + best[1] * y + best[2], v = best[3] * x + best[4] * y + best[5];
    EXPECT_NEAR(inv[0] * u + inv[1] * v + inv[2], x, 1e-9);
    EXPECT_NEAR(inv[3] * u + inv[4] * v + inv[5], y, 1e-9);
    EXPECT_NE(error_of([&] { imaging::fit_similarity({{1, 1}, {1, 1}}, {{0, 0}, {2, 2}}); }), "");
}

TEST(FaceWarp, WarpAffineSamplesAtOpenCvsThirtySecondsOfAPixel) {
    // Two columns, 0 and 224; every output pixel samples between them.
    torch::Tensor src = torch::zeros({2, 2, 1}, torch::kDouble);
    src.index_put_({torch::indexing::Slice(), 1, 0}, 224.0);
    // dst(x, y) = src(x + 0.3, y): OpenCV's position is 0.3125 (= 10/32), not 0.3.
    const imaging::Affine shift = {1, 0, -0.3, 0, 1, 0};
    const torch::Tensor out = imaging::warp_affine(src, shift, 1, 2, imaging::WarpFilter::kBilinear, {0}, true);
    EXPECT_EQ(out[0][0][0].item<double>(), 70.0);  // 224 * 10 / 32; 67 without the table positions
    // Half a pixel: (13 + 10) / 2 = 11.5 rounds up, as the fixed-point cast does.
    torch::Tensor two = torch::tensor({10.0, 13.0}, torch::kDouble).view({1, 2, 1});
    EXPECT_EQ(imaging::warp_affine(two, {1, 0, -0.5, 0, 1, 0}, 1, 1, imaging::WarpFilter::kBilinear, {0}, true)[0][0][0].item<double>(), 12.0);
    // Identity gives the picture back; outside it the border value, half outside a mix.
    const torch::Tensor pic = torch::randint(0, 256, {5, 7, 3}, torch::kDouble);
    EXPECT_TRUE(torch::equal(imaging::warp_affine(pic, {1, 0, 0, 0, 1, 0}, 7, 5, imaging::WarpFilter::kBilinear, {1, 2, 3}, true), pic));
    const torch::Tensor moved = imaging::warp_affine(pic, {1, 0, 20, 0, 1, 0}, 7, 5, imaging::WarpFilter::kBilinear, {135, 133, 132}, true);
    EXPECT_EQ(moved[2][3][0].item<double>(), 135.0);
    EXPECT_EQ(moved[2][3][2].item<double>(), 132.0);
    const torch::Tensor half_out = imaging::warp_affine(two, {1, 0, 1.5, 0, 1, 0}, 2, 1, imaging::WarpFilter::kBilinear, {200}, true);
    EXPECT_EQ(half_out[0][1][0].item<double>(), 105.0);  // (10 + 200) / 2
    // Bicubic on float pictures: identity exact; OpenCV's weights at 0 are (0, 1, 0, 0).
    const torch::Tensor mask = torch::rand({6, 6}, torch::kDouble);
    EXPECT_TRUE(torch::allclose(imaging::warp_affine(mask, {1, 0, 0, 0, 1, 0}, 6, 6, imaging::WarpFilter::kBicubic, {0}, false), mask, 0, 1e-7));
    // A part of a warp is the same pixels as that part of the whole warp (positions from absolute coordinates).
    const imaging::Affine turn = {0.83, -0.41, 3.7, 0.41, 0.83, -2.2};
    const torch::Tensor big = torch::randint(0, 256, {40, 50, 3}, torch::kDouble);
    const torch::Tensor whole = imaging::warp_affine(big, turn, 60, 45, imaging::WarpFilter::kBilinear, {9, 8, 7}, true);
    EXPECT_TRUE(torch::equal(imaging::warp_affine(big, turn, 17, 11, imaging::WarpFilter::kBilinear, {9, 8, 7}, true, 23, 30),
                             whole.slice(0, 30, 41).slice(1, 23, 40)));
    const torch::Tensor soft = torch::rand({40, 50}, torch::kDouble);
    const torch::Tensor whole_soft = imaging::warp_affine(soft, turn, 60, 45, imaging::WarpFilter::kBicubic, {0}, false);
    EXPECT_TRUE(torch::equal(imaging::warp_affine(soft, turn, 17, 11, imaging::WarpFilter::kBicubic, {0}, false, 23, 30),
                             whole_soft.slice(0, 30, 41).slice(1, 23, 40)));
    // Bicubic halfway between two columns of a ramp: cubic convolution keeps straight lines.
    torch::Tensor ramp = torch::arange(8, torch::kDouble).view({1, 8}).repeat({8, 1});
    const torch::Tensor mid = imaging::warp_affine(ramp, {1, 0, -0.5, 0, 1, 0}, 8, 8, imaging::WarpFilter::kBicubic, {0}, false);
    EXPECT_NEAR(mid[4][3].item<double>(), 3.5, 1e-6);
}

TEST(FaceWarp, GaussianBlurUsesOpenCvsKernelAndMirroredBorder) {
    const int n = 101;
    const double sigma = 11;
    std::vector<double> k(n);
    double sum = 0;
    for (int i = 0; i < n; ++i) sum += (k[static_cast<size_t>(i)] = std::exp(-(i - 50) * (i - 50) / (2 * sigma * sigma)));
    for (auto& v : k) v /= sum;
    // A point in the middle spreads into the kernel's outer product.
    torch::Tensor dot = torch::zeros({121, 121}, torch::kDouble);
    dot[60][60] = 1.0;
    const torch::Tensor b = imaging::gaussian_blur_reflect101(dot, n, sigma);
    for (int d : {0, 7, 30, 50}) EXPECT_NEAR(b[60 + d][60].item<double>(), k[50 + static_cast<size_t>(d)] * k[50], 1e-15) << d;
    EXPECT_NEAR(b[60 + 5][60 - 9].item<double>(), k[55] * k[41], 1e-15);
    // BORDER_REFLECT_101: a point on the edge row meets its mirror without doubling the edge.
    torch::Tensor edge = torch::zeros({121, 121}, torch::kDouble);
    edge[1][60] = 1.0;
    const torch::Tensor e = imaging::gaussian_blur_reflect101(edge, n, sigma);
    EXPECT_NEAR(e[0][60].item<double>(), 2 * k[51] * k[50], 1e-15);  // row 0 sees row 1 from both sides
    EXPECT_NEAR(e[3][60].item<double>(), (k[52] + k[54]) * k[50], 1e-15);
}

TEST(FaceWarp, Lanczos4WeightsAreTheWindowedSinc) {
    auto sinc = [](double t) { return t == 0 ? 1.0 : std::sin(M_PI * t) / (M_PI * t); };
    for (float f : {0.1f, 0.37f, 0.5f, 0.83f}) {
        const auto w = imaging::lanczos4_weights(f);
        double total = 0;
        std::vector<double> expect(8);
        for (int i = 0; i < 8; ++i) total += (expect[static_cast<size_t>(i)] = sinc(f + 3 - i) * sinc((f + 3 - i) / 4));
        for (int i = 0; i < 8; ++i) EXPECT_NEAR(w[static_cast<size_t>(i)], expect[static_cast<size_t>(i)] / total, 2e-6) << f << " " << i;
    }
    const auto at0 = imaging::lanczos4_weights(0.f);
    EXPECT_NEAR(at0[3], 1.f, 1e-6);
    EXPECT_NEAR(at0[2], 0.f, 1e-6);
    // A flat picture stays flat; the same size comes back as it is.
    const torch::Tensor flat = torch::full({30, 40, 3}, 77.0, torch::kDouble);
    EXPECT_TRUE(torch::equal(imaging::resize_lanczos4(flat, 64, 48), torch::full({48, 64, 3}, 77.0, torch::kDouble)));
    EXPECT_TRUE(torch::equal(imaging::resize_lanczos4(flat, 20, 15), torch::full({15, 20, 3}, 77.0, torch::kDouble)));
    const torch::Tensor pic = torch::randint(0, 256, {9, 11, 3}, torch::kDouble);
    EXPECT_TRUE(torch::equal(imaging::resize_lanczos4(pic, 11, 9), pic));
    // Doubling puts output pixel 2i + 1 at source position i + 0.25.
    const torch::Tensor up = imaging::resize_lanczos4(pic, 22, 9);
    const auto w = imaging::lanczos4_weights(0.25f);
    double v = 0;
    for (int k = 0; k < 8; ++k) v += pic[4][std::min(std::max(5 + k - 3, 0), 10)][1].item<double>() * std::nearbyint(w[static_cast<size_t>(k)] * 2048.0f);
    EXPECT_EQ(up[4][11][1].item<double>(), std::min(255.0, std::max(0.0, std::floor((v * 2048 + (1 << 21)) / (1 << 22)))));
}

TEST(RetinaFace, PriorsFollowFacexlibsPriorBox) {
    const torch::Tensor p = models::retinaface_priors(64, 96);
    ASSERT_EQ(p.size(0), (8 * 12 + 4 * 6 + 2 * 3) * 2);
    EXPECT_FLOAT_EQ(p[0][0].item<float>(), 4.f / 96);
    EXPECT_FLOAT_EQ(p[0][1].item<float>(), 4.f / 64);
    EXPECT_FLOAT_EQ(p[0][2].item<float>(), 16.f / 96);
    EXPECT_FLOAT_EQ(p[1][2].item<float>(), 32.f / 96);  // second anchor of the first position
    EXPECT_FLOAT_EQ(p[2][0].item<float>(), 12.f / 96);  // next position along the row
    const int64_t last = p.size(0) - 1;
    EXPECT_FLOAT_EQ(p[last][0].item<float>(), 80.f / 96);
    EXPECT_FLOAT_EQ(p[last][1].item<float>(), 48.f / 64);
    EXPECT_FLOAT_EQ(p[last][3].item<float>(), 512.f / 64);
}

TEST(RetinaFace, NmsKeepsTheBestAndDropsBigOverlaps) {
    const torch::Tensor boxes = torch::tensor({0.f, 0.f, 10.f, 10.f, 1.f, 1.f, 11.f, 11.f, 20.f, 20.f, 30.f, 30.f, 0.f, 0.f, 10.f, 5.f}).view({4, 4});
    const torch::Tensor scores = torch::tensor({0.9f, 0.8f, 0.7f, 0.95f});
    // D (0.95) first; A overlaps it by 0.5 > 0.4 and goes; B overlaps D by 36 / 114 and stays.
    EXPECT_EQ(models::nms(boxes, scores, 0.4), (std::vector<int64_t>{3, 1, 2}));
    EXPECT_EQ(models::nms(boxes, scores, 0.6), (std::vector<int64_t>{3, 0, 2}));  // B overlaps A by 81 / 119
}

TEST(RetinaFace, DetectsDecodesAndScalesLandmarksToThePicture) {
    // Faces only from the first anchor of the coarsest level; boxes shrunk so none overlap.
    const std::array<float, 10> marks = {-1, -0.5f, 1, -0.5f, 0, 0.2f, -0.6f, 0.9f, 0.6f, 0.9f};
    const Map m = small_retinaface({kNoFace, kNoFace, kFirstAnchorFace}, {0.5f, -0.25f, -20, -20}, marks);
    const models::RetinaFace det = models::RetinaFace::from_tensors(m, "det.pth");
    // The heads line up with the priors on a picture of any size.
    const auto raw = det.forward(torch::zeros({1, 3, 64, 96}));
    EXPECT_EQ(raw[0].sizes().vec(), (std::vector<int64_t>{1, models::retinaface_priors(64, 96).size(0), 4}));

    const std::vector<models::FaceDetection> found = det.detect(torch::zeros({64, 96, 3}), 0.97, 0.4);
    ASSERT_EQ(found.size(), 2u * 3u);  // the 2 x 3 positions of the 32-pixel level
    const double face = 1 / (1 + std::exp(-10.0));
    std::set<std::pair<int, int>> centres;
    for (const auto& d : found) {
        EXPECT_NEAR(d.score, face, 1e-6);
        // Box centre: the prior's moved by 0.5 x 0.1 x 256 and -0.25 x 0.1 x 256; size 256 e^-4.
        const double cx = (d.box[0] + d.box[2]) / 2 - 0.5 * 0.1 * 256, cy = (d.box[1] + d.box[3]) / 2 + 0.25 * 0.1 * 256;
        EXPECT_NEAR(d.box[2] - d.box[0], 256 * std::exp(-4.0), 1e-3);
        centres.insert({static_cast<int>(std::lround(cx)), static_cast<int>(std::lround(cy))});
        for (int k = 0; k < 5; ++k) {
            EXPECT_NEAR(d.landmarks[static_cast<size_t>(2 * k)], cx + marks[static_cast<size_t>(2 * k)] * 25.6, 1e-3);
            EXPECT_NEAR(d.landmarks[static_cast<size_t>(2 * k + 1)], cy + marks[static_cast<size_t>(2 * k + 1)] * 25.6, 1e-3);
        }
    }
    EXPECT_EQ(centres, (std::set<std::pair<int, int>>{{16, 16}, {48, 16}, {80, 16}, {16, 48}, {48, 48}, {80, 48}}));
    // A face less sure than 0.97 is no face.
    const Map unsure = small_retinaface({kNoFace, kNoFace, {-1.5f, 1.5f, 5, -5}}, {0, 0, -20, -20}, marks);
    EXPECT_TRUE(models::RetinaFace::from_tensors(unsure, "det.pth").detect(torch::zeros({64, 96, 3}), 0.97, 0.4).empty());

    // The helper looks at a copy with a 640-pixel short side and gives landmarks in the picture's
    // pixels: a 320 x 350 picture is searched at 640 x 700, 20 x 22 positions, halved back.
    const auto faces = pipeline::find_face_landmarks(gradient(350, 320), det);
    ASSERT_EQ(faces.size(), 20u * 22u);
    std::set<std::pair<int, int>> eyes;
    for (const auto& f : faces) {
        // The prior's centre, halved: the nose sits 0.2 x 25.6 below it.
        const double cx = f[2][0], cy = f[2][1] - 0.2 * 25.6 * 0.5;
        EXPECT_NEAR(f[0][0], cx - 25.6 * 0.5, 1e-3);
        EXPECT_NEAR(f[4][1], cy + 0.9 * 25.6 * 0.5, 1e-3);
        eyes.insert({static_cast<int>(std::lround(cx * 2)), static_cast<int>(std::lround(cy * 2))});
    }
    EXPECT_EQ(eyes.size(), faces.size());
    EXPECT_EQ(eyes.begin()->first, 16);
    EXPECT_EQ(eyes.rbegin()->first, 21 * 32 + 16);
    // Eyes closer than 5 pixels (here 0.09 x 25.6 x 2 = 4.6) leave a face out.
    const Map narrow = small_retinaface({kNoFace, kNoFace, kFirstAnchorFace}, {0, 0, -20, -20}, {-0.09f, 0, 0.09f, 0, 0, 0, 0, 0, 0, 0});
    EXPECT_TRUE(pipeline::find_face_landmarks(gradient(700, 640), models::RetinaFace::from_tensors(narrow, "det.pth")).empty());
}

TEST(RetinaFace, ReadsTheReleaseLayoutAndNamesDamage) {
    Map m = small_retinaface({kNoFace, kNoFace, kNoFace}, {0, 0, 0, 0}, {});
    Map prefixed;
    for (const auto& [k, t] : m) prefixed["module." + k] = t;  // as detection_Resnet50_Final.pth stores them
    EXPECT_NO_THROW(models::RetinaFace::from_tensors(prefixed, "det.pth"));
    Map bad = m;
    bad["ClassHead.1.conv1x1.weight"] = torch::zeros({6, 16, 1, 1});
    EXPECT_NE(error_of([&] { models::RetinaFace::from_tensors(bad, "det.pth"); }).find("det.pth: has ClassHead.1.conv1x1.weight of shape [6, 16, 1, 1] where [4, 16, 1, 1] fits"),
              std::string::npos);
    bad = m;
    bad.erase("body.layer3.0.bn2.running_var");
    EXPECT_NE(error_of([&] { models::RetinaFace::from_tensors(bad, "det.pth"); }).find("has no body.layer3.0.bn2.running_var"), std::string::npos);
    EXPECT_NE(error_of([&] { models::RetinaFace::from_tensors(small_parsenet(false), "p.pth"); }).find("is not a RetinaFace"), std::string::npos);
}

TEST(Gfpgan, ModulatedConvolutionScalesAndDemodulates) {
    const torch::Tensor x = torch::randn({1, 3, 5, 5}), w = torch::randn({1, 4, 3, 3, 3}), style = torch::rand({3}) + 0.5;
    torch::Tensor expect_w = torch::empty({4, 3, 3, 3});
    for (int o = 0; o < 4; ++o) {
        double norm = 0;
        for (int i = 0; i < 3; ++i) norm += (w[0][o][i] * style[i]).pow(2).sum().item<double>();
        for (int i = 0; i < 3; ++i) expect_w[o][i] = w[0][o][i] * style[i] / std::sqrt(norm + 1e-8);
    }
    EXPECT_TRUE(torch::allclose(models::modulated_conv(x, w, style, true), torch::conv2d(x, expect_w, {}, 1, 1), 1e-5, 1e-5));
    EXPECT_TRUE(torch::allclose(models::modulated_conv(x, w, style, false), torch::conv2d(x, w[0] * style.view({1, 3, 1, 1}), {}, 1, 1), 1e-5, 1e-5));
}

TEST(Gfpgan, LatentsSftAndNoiseAsTheCleanArchitecture) {
    torch::manual_seed(3);
    const Map per_layer = small_gfpgan(2, 8, 6, true, true);
    const models::GFPGAN net = models::GFPGAN::from_tensors(per_layer, "g.pth");
    EXPECT_EQ(net.out_size(), 16);
    const torch::Tensor face = torch::rand({1, 3, 16, 16}) * 2 - 1;
    const torch::Tensor a = net.forward(face, at::detail::createCPUGenerator(5));
    EXPECT_EQ(a.sizes().vec(), (std::vector<int64_t>{1, 3, 16, 16}));
    EXPECT_TRUE(torch::isfinite(a).all().item<bool>());
    EXPECT_TRUE(torch::equal(a, net.forward(face, at::detail::createCPUGenerator(5))));
    EXPECT_FALSE(torch::allclose(a, net.forward(face, at::detail::createCPUGenerator(6))));  // the injected noise
    Map quiet = per_layer;
    for (auto& [k, t] : quiet)
        if (k.size() > 7 && k.compare(k.size() - 7, 7, ".weight") == 0 && t.dim() == 1 && k.find("style_conv") != std::string::npos) t = torch::zeros({1});
    const models::GFPGAN still = models::GFPGAN::from_tensors(quiet, "g.pth");
    EXPECT_TRUE(torch::equal(still.forward(face, at::detail::createCPUGenerator(5)), still.forward(face, at::detail::createCPUGenerator(6))));

    // One latent for all layers is the per-layer file with that latent in every row.
    Map single = per_layer;
    single["final_linear.weight"] = per_layer.at("final_linear.weight").slice(0, 0, 6);
    single["final_linear.bias"] = per_layer.at("final_linear.bias").slice(0, 0, 6);
    Map repeated = per_layer;
    repeated["final_linear.weight"] = single["final_linear.weight"].repeat({6, 1});
    repeated["final_linear.bias"] = single["final_linear.bias"].repeat({6});
    {
        const torch::Tensor s1 = models::GFPGAN::from_tensors(single, "g.pth").forward(face, at::detail::createCPUGenerator(1));
        const torch::Tensor r1 = models::GFPGAN::from_tensors(repeated, "g.pth").forward(face, at::detail::createCPUGenerator(1));
        // Equal up to float rounding (the random net's values run to the hundreds).
        EXPECT_TRUE(torch::allclose(s1, r1, 1e-5, 1e-3));
    }

    // SFT on half the channels is SFT on all of them with scale 1 and shift 0 on the first half.
    Map half = per_layer, full = small_gfpgan(2, 8, 6, true, false);
    for (auto& [k, t] : full)
        if (k.rfind("condition_", 0) != 0) t = half.at(k);
    for (int i = 0; i < 2; ++i)
        for (const char* c : {"condition_scale.", "condition_shift."}) {
            const std::string p = c + std::to_string(i) + ".2.";
            const bool scale = std::string(c) == "condition_scale.";
            full[std::string(c) + std::to_string(i) + ".0.weight"] = half.at(std::string(c) + std::to_string(i) + ".0.weight");
            full[std::string(c) + std::to_string(i) + ".0.bias"] = half.at(std::string(c) + std::to_string(i) + ".0.bias");
            full[p + "weight"] = torch::cat({torch::zeros({4, 8, 3, 3}), half.at(p + "weight")});
            full[p + "bias"] = torch::cat({torch::full({4}, scale ? 1.0f : 0.0f), half.at(p + "bias")});
        }
    EXPECT_TRUE(torch::allclose(models::GFPGAN::from_tensors(half, "g.pth").forward(face, at::detail::createCPUGenerator(2)),
                                models::GFPGAN::from_tensors(full, "g.pth").forward(face, at::detail::createCPUGenerator(2)), 1e-5, 1e-3));

    Map bad = per_layer;
    bad["condition_shift.1.2.weight"] = torch::zeros({3, 8, 3, 3});
    EXPECT_NE(error_of([&] { models::GFPGAN::from_tensors(bad, "g.pth"); }).find("g.pth: has condition_shift.1.2.weight of shape [3, 8, 3, 3] where [4, 8, 3, 3] fits"),
              std::string::npos);
    bad = per_layer;
    bad.erase("stylegan_decoder.to_rgbs.1.bias");
    EXPECT_NE(error_of([&] { models::GFPGAN::from_tensors(bad, "g.pth"); }).find("has no stylegan_decoder.to_rgbs.1.bias; the file is damaged or not a GFPGAN"),
              std::string::npos);
    EXPECT_NE(error_of([&] { net.forward(torch::zeros({1, 3, 32, 32}), at::detail::createCPUGenerator(1)); }), "");
}

TEST(CodeFormer, AttentionAndAdaInAsTheirDefinitions) {
    torch::manual_seed(11);
    const int64_t l = 5, e = 8, heads = 2, hd = 4;
    const torch::Tensor qk = torch::randn({l, 1, e}), v_in = torch::randn({l, 1, e});
    const torch::Tensor in_w = torch::randn({3 * e, e}) * 0.3, in_b = torch::randn({3 * e}) * 0.1;
    const torch::Tensor out_w = torch::randn({e, e}) * 0.3, out_b = torch::randn({e}) * 0.1;
    // Each head on its slice of the projections, query by query.
    const torch::Tensor q = torch::linear(qk.squeeze(1), in_w.slice(0, 0, e), in_b.slice(0, 0, e));
    const torch::Tensor k = torch::linear(qk.squeeze(1), in_w.slice(0, e, 2 * e), in_b.slice(0, e, 2 * e));
    const torch::Tensor v = torch::linear(v_in.squeeze(1), in_w.slice(0, 2 * e), in_b.slice(0, 2 * e));
    torch::Tensor joined = torch::zeros({l, e});
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < l; ++i) {
            std::vector<double> s(static_cast<size_t>(l));
            double mx = -1e30, total = 0;
            for (int64_t j = 0; j < l; ++j) {
                s[static_cast<size_t>(j)] = (q[i].slice(0, h * hd, (h + 1) * hd) * k[j].slice(0, h * hd, (h + 1) * hd)).sum().item<double>() / 2.0;
                mx = std::max(mx, s[static_cast<size_t>(j)]);
            }
            for (auto& x : s) total += (x = std::exp(x - mx));
            for (int64_t j = 0; j < l; ++j)
                joined[i].slice(0, h * hd, (h + 1) * hd) += v[j].slice(0, h * hd, (h + 1) * hd) * (s[static_cast<size_t>(j)] / total);
        }
    EXPECT_TRUE(torch::allclose(models::multihead_attention(qk, v_in, in_w, in_b, out_w, out_b, heads).squeeze(1), torch::linear(joined, out_w, out_b), 1e-5, 1e-5));

    const torch::Tensor content = torch::randn({1, 3, 4, 5}), style = torch::randn({1, 3, 6, 2}) * 3 + 1;
    const torch::Tensor got = models::adaptive_instance_norm(content, style);
    for (int c = 0; c < 3; ++c) {
        auto mean_var = [](const torch::Tensor& x) {
            const double n = static_cast<double>(x.numel()), m = x.sum().item<double>() / n;
            return std::make_pair(m, (x - m).pow(2).sum().item<double>() / (n - 1));  // torch.var: unbiased
        };
        const auto [cm, cv] = mean_var(content[0][c]);
        const auto [sm, sv] = mean_var(style[0][c]);
        const torch::Tensor expect = (content[0][c] - cm) / std::sqrt(cv + 1e-5) * std::sqrt(sv + 1e-5) + sm;
        EXPECT_TRUE(torch::allclose(got[0][c], expect, 1e-5, 1e-5)) << c;
    }
}

TEST(CodeFormer, FusesByItsWeightAndNamesDamage) {
    torch::manual_seed(12);
    const Map m = small_codeformer();
    const models::CodeFormer net = models::CodeFormer::from_tensors(m, "cf.pth");
    EXPECT_EQ(net.face_size(), 64);
    const torch::Tensor face = torch::rand({1, 3, 64, 64}) * 2 - 1;
    const torch::Tensor half = net.forward(face, 0.5);
    EXPECT_EQ(half.sizes().vec(), (std::vector<int64_t>{1, 3, 64, 64}));
    EXPECT_TRUE(torch::isfinite(half).all().item<bool>());
    EXPECT_TRUE(torch::equal(half, net.forward(face, 0.5)));
    const torch::Tensor none = net.forward(face, 0);
    EXPECT_FALSE(torch::allclose(half, none));
    // Weight 0 skips the fusion: the same as fusion blocks whose scale and shift are zero.
    Map flat = m;
    for (auto& [k, t] : flat)
        if (k.rfind("fuse_convs_dict.", 0) == 0 && (k.find(".scale.2.") != std::string::npos || k.find(".shift.2.") != std::string::npos))
            t = torch::zeros_like(t);
    EXPECT_TRUE(torch::allclose(models::CodeFormer::from_tensors(flat, "cf.pth").forward(face, 0.8), none, 1e-5, 1e-5));

    Map bad = m;
    bad["ft_layers.1.linear2.bias"] = torch::zeros({5});
    EXPECT_NE(error_of([&] { models::CodeFormer::from_tensors(bad, "cf.pth"); }).find("cf.pth: has ft_layers.1.linear2.bias of shape [5] where [16] fits"),
              std::string::npos);
    bad = m;
    bad.erase("fuse_convs_dict.64.shift.0.bias");
    EXPECT_NE(error_of([&] { models::CodeFormer::from_tensors(bad, "cf.pth"); }).find("has no fuse_convs_dict.64.shift.0.bias; the file is damaged or not a CodeFormer"),
              std::string::npos);
    bad = m;
    bad["position_emb"] = torch::zeros({5, 16});
    EXPECT_NE(error_of([&] { models::CodeFormer::from_tensors(bad, "cf.pth"); }).find("has 5 positions, not a square grid"), std::string::npos);
    EXPECT_NE(error_of([&] { models::CodeFormer::from_tensors(small_gfpgan(2, 4, 4, true, true), "g.pth"); }).find("is not a CodeFormer model"),
              std::string::npos);
}

TEST(ParseNet, ParsesAtTheInputSizeAndNamesDamage) {
    torch::manual_seed(4);
    const models::ParseNet net = models::ParseNet::from_tensors(small_parsenet(false), "parse.pth");
    const torch::Tensor out = net.forward(torch::rand({1, 3, 16, 16}) * 2 - 1);
    EXPECT_EQ(out.sizes().vec(), (std::vector<int64_t>{1, 19, 16, 16}));
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
    // Zero weights: every pixel is class 1.
    const torch::Tensor labels = models::ParseNet::from_tensors(small_parsenet(true), "parse.pth").forward(torch::rand({1, 3, 16, 16})).argmax(1);
    EXPECT_TRUE(torch::equal(labels, torch::ones({1, 16, 16}, torch::kLong)));
    EXPECT_NE(error_of([&] { net.forward(torch::zeros({1, 3, 18, 18})); }), "");
    Map bad = small_parsenet(false);
    bad["decoder.1.conv2.norm.norm.running_mean"] = torch::zeros({5});
    EXPECT_NE(error_of([&] { models::ParseNet::from_tensors(bad, "parse.pth"); }).find("decoder.1.conv2.norm.norm.running_mean of shape [5]"), std::string::npos);
    bad = small_parsenet(false);
    bad.erase("encoder.2.shortcut_func.conv2d.bias");
    EXPECT_NE(error_of([&] { models::ParseNet::from_tensors(bad, "parse.pth"); }).find("has no encoder.2.shortcut_func.conv2d.bias"), std::string::npos);
}

TEST(FaceRestore, MaskKeepsFacexlibsFaceClasses) {
    const torch::Tensor labels = torch::arange(19, torch::kLong).view({1, 19});
    const torch::Tensor m = pipeline::face_paste_mask(labels);
    for (int c = 0; c < 19; ++c) EXPECT_EQ(m[0][c].item<double>(), (c == 0 || c == 14 || c >= 16) ? 0.0 : 255.0) << c;
}

TEST(FaceRestore, PastesTheRestoredFaceWhereTheLandmarksAre) {
    const Image img = gradient(200, 160);
    const models::ParseNet parser = models::ParseNet::from_tensors(small_parsenet(true), "parse.pth");
    // The template at a quarter size moved to (60, 30): the aligned face covers (60..188, 30..158).
    std::vector<std::array<double, 2>> marks;
    for (const auto& p : pipeline::face_template_512()) marks.push_back({p[0] / 4 + 60, p[1] / 4 + 30});
    int found = -1;
    pipeline::FaceRestoreRun run;
    run.faces_found = &found;
    const Image out = pipeline::paste_restored_faces(img, {marks}, parser, [](const torch::Tensor& f) {
        EXPECT_EQ(f.sizes().vec(), (std::vector<int64_t>{1, 3, 512, 512}));
        torch::Tensor o = torch::empty_like(f);
        o.select(1, 0).fill_(0.6f), o.select(1, 1).fill_(-0.2f), o.select(1, 2).fill_(0.2f);
        return o;
    }, run);
    EXPECT_EQ(found, 1);
    // At the nose the restored colour (0.8, 0.4, 0.6) x 255 truncated, give or take the blend's last bit.
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(px(out, 124, 108, c), (std::vector<int>{204, 102, 153})[static_cast<size_t>(c)], 1) << c;
    // Outside the aligned square the picture is untouched, and on the mask's 10-pixel frame (a
    // quarter of it here: x 60-62); inside it, with every pixel parsed as skin, the face.
    for (auto [x, y] : std::vector<std::pair<int, int>>{{5, 5}, {50, 100}, {195, 20}, {120, 159}, {61, 100}, {62, 100}})
        for (int c = 0; c < 3; ++c) EXPECT_EQ(px(out, x, y, c), px(img, x, y, c)) << x << "," << y;
    EXPECT_NEAR(px(out, 63, 100, 2), 153, 1);
    EXPECT_NEAR(px(out, 90, 100, 2), 153, 1);

    // A restorer that changes nothing gives the face back within the two resamplings.
    const Image same = pipeline::paste_restored_faces(img, {marks}, parser, [](const torch::Tensor& f) { return f.clone(); });
    int worst = 0;
    for (int y = 45; y < 145; ++y)
        for (int x = 75; x < 175; ++x)
            for (int c = 0; c < 3; ++c) worst = std::max(worst, std::abs(px(same, x, y, c) - px(img, x, y, c)));
    EXPECT_LE(worst, 3);

    // Alpha is kept; no face leaves the picture as it was.
    Image rgba;
    rgba.width = 200, rgba.height = 160, rgba.channels = 4;
    for (size_t i = 0; i < img.pixels.size() / 3; ++i) {
        for (int c = 0; c < 3; ++c) rgba.pixels.push_back(img.pixels[i * 3 + c]);
        rgba.pixels.push_back(static_cast<uint8_t>(i % 251));
    }
    const Image with_alpha = pipeline::paste_restored_faces(rgba, {marks}, parser, [](const torch::Tensor& f) { return -f; });
    for (size_t i = 0; i < 200u * 160u; i += 97) EXPECT_EQ(with_alpha.pixels[i * 4 + 3], i % 251);
    const Image untouched = pipeline::paste_restored_faces(img, {}, parser, [](const torch::Tensor& f) { return f; }, run);
    EXPECT_EQ(found, 0);
    EXPECT_EQ(untouched.pixels, img.pixels);
    Image gray = img;
    gray.channels = 1;
    gray.pixels.resize(200 * 160);
    EXPECT_EQ(error_of([&] { pipeline::paste_restored_faces(gray, {marks}, parser, [](const torch::Tensor& f) { return f; }); }),
              "Face restoration needs an RGB image; convert the image to RGB first.");
    // A restorer returning NaN is refused, not pasted.
    EXPECT_NE(error_of([&] {
                  pipeline::paste_restored_faces(img, {marks}, parser, [](const torch::Tensor& f) { return torch::full_like(f, NAN); });
              }),
              "");
}

TEST(FaceRestore, FindsA1111sFilesAndRunsGfpganFromThem) {
    const std::string root = temp_dir();
    ASSERT_FALSE(root.empty());
    const std::string dir = root + "/GFPGAN";
    ::mkdir(dir.c_str(), 0700);
    ::mkdir((dir + "/weights").c_str(), 0700);
    EXPECT_EQ(error_of([&] { pipeline::FaceRestorer::find_files({dir}, "GFPGAN"); }),
              "GFPGAN was not found: put GFPGANv1.4.pth (TencentARC's release) in " + dir + ".");
    torch::manual_seed(7);
    save(dir + "/GFPGANv1.4.pth", small_gfpgan(7, 4, 4, true, true));  // 512-pixel faces, 4 channels
    EXPECT_EQ(error_of([&] { pipeline::FaceRestorer::find_files({dir}, "GFPGAN"); }),
              "GFPGAN needs facexlib's detection_Resnet50_Final.pth and parsing_parsenet.pth (its face finder and face parser): put them in " + dir +
                  " beside GFPGANv1.4.pth.");
    save(dir + "/weights/detection_Resnet50_Final.pth", small_retinaface({kNoFace, kNoFace, kNoFace}, {0, 0, 0, 0}, {}));
    save(dir + "/weights/parsing_parsenet.pth", small_parsenet(true));
    const auto files = pipeline::FaceRestorer::find_files({root + "/elsewhere", dir}, "GFPGAN");
    EXPECT_EQ(files.restorer, dir + "/GFPGANv1.4.pth");
    EXPECT_EQ(files.detector, dir + "/weights/detection_Resnet50_Final.pth");
    EXPECT_EQ(files.parser, dir + "/weights/parsing_parsenet.pth");

    pipeline::FaceRestorer restorer;
    restorer.use(files, "GFPGAN");
    const Image img = gradient(120, 90);
    int found = -1;
    pipeline::FaceRestoreRun run;
    run.faces_found = &found;
    EXPECT_EQ(restorer.restore(img, 1, 0.5, run).pixels, img.pixels);  // this detector finds nobody
    EXPECT_EQ(found, 0);

    // GFPGAN's own net through the paste: the face changes, the rest does not.
    const models::GFPGAN net = models::GFPGAN::from_tensors(small_gfpgan(7, 4, 4, true, true), "g.pth");
    torch::Generator noise = at::detail::createCPUGenerator(3);
    std::vector<std::array<double, 2>> marks;
    for (const auto& p : pipeline::face_template_512()) marks.push_back({p[0] / 8 + 30, p[1] / 8 + 10});
    const Image out = pipeline::paste_restored_faces(img, {marks}, models::ParseNet::from_tensors(small_parsenet(true), "p.pth"),
                                                     [&](const torch::Tensor& f) { return net.forward(f, noise); });
    EXPECT_NE(out.pixels, img.pixels);
    for (int c = 0; c < 3; ++c) EXPECT_EQ(px(out, 5, 80, c), px(img, 5, 80, c));

    save(root + "/GFPGAN-small.pth", small_gfpgan(2, 4, 4, true, true));
    auto small = files;
    small.restorer = root + "/GFPGAN-small.pth";
    EXPECT_EQ(error_of([&] { restorer.use(small, "GFPGAN"); }),
              small.restorer + ": restores 16-pixel faces; A1111's face restoration works on 512-pixel faces (GFPGAN v1.2-1.4).");
    // A file replaced on disk is read again (here by a 16-pixel GFPGAN, refused).
    restorer.use(files, "GFPGAN");
    save(dir + "/GFPGANv1.4.pth", small_gfpgan(2, 4, 4, true, true));
    EXPECT_EQ(error_of([&] { restorer.use(files, "GFPGAN"); }),
              files.restorer + ": restores 16-pixel faces; A1111's face restoration works on 512-pixel faces (GFPGAN v1.2-1.4).");
    // CodeFormer's file by A1111's download name; a 64-pixel one refused like the small GFPGAN.
    EXPECT_EQ(error_of([&] { pipeline::FaceRestorer::find_files({dir}, "CodeFormer"); }),
              "CodeFormer was not found: put codeformer-v0.1.0.pth (sczhou's release) in " + dir + ".");
    save(dir + "/weights/codeformer-v0.1.0.pth", small_codeformer());
    const auto cf = pipeline::FaceRestorer::find_files({dir}, "CodeFormer");
    EXPECT_EQ(cf.restorer, dir + "/weights/codeformer-v0.1.0.pth");
    EXPECT_EQ(cf.detector, files.detector);
    EXPECT_EQ(error_of([&] { restorer.use(cf, "CodeFormer"); }),
              cf.restorer + ": restores 64-pixel faces; A1111's face restoration works on 512-pixel faces (CodeFormer v0.1.0).");
    EXPECT_EQ(error_of([&] { pipeline::FaceRestorer::find_files({dir}, "RestoreFormer"); }), "Unknown face restorer \"RestoreFormer\"; use GFPGAN or CodeFormer.");
    auto swapped = files;
    swapped.detector = files.parser;
    EXPECT_NE(error_of([&] { pipeline::FaceRestorer().use(swapped, "GFPGAN"); }).find("parsing_parsenet.pth: is not a RetinaFace face detector"), std::string::npos);
    std::system(("rm -rf '" + root + "'").c_str());
}

TEST(FaceRestore, EngineBlendsAtA1111sVisibilityAndSaysWhatIsMissing) {
    const std::string root = temp_dir();
    ASSERT_FALSE(root.empty());
    Engine engine;
    FaceRestoreSettings s;
    s.model_dirs = {root};
    Image out;
    std::string info;
    const Image img = gradient(64, 64);
    Status st = engine.restore_faces(img, s, {}, &out, &info);
    EXPECT_FALSE(st.ok);
    EXPECT_EQ(st.message, "GFPGAN was not found: put GFPGANv1.4.pth (TencentARC's release) in " + root + ".");
    s.visibility = 1.5;
    EXPECT_EQ(engine.restore_faces(img, s, {}, &out, &info).message, "GFPGAN visibility must be between 0 and 1.");

    write_face_models(root);
    s.visibility = 1;
    int faces = 0;
    Image full;
    st = engine.restore_faces(img, s, {}, &full, &info, &faces);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_GE(faces, 1);
    EXPECT_EQ(info, "GFPGAN visibility: 1.0");
    EXPECT_NE(full.pixels, img.pixels);
    // Visibility 0.5 is PIL's Image.blend of the picture and the whole restoration (the same noise seed).
    s.visibility = 0.5;
    ASSERT_TRUE(engine.restore_faces(img, s, {}, &out, &info).ok);
    EXPECT_EQ(info, "GFPGAN visibility: 0.5");
    EXPECT_EQ(out.pixels, imaging::pil_blend(img, full, 0.5).pixels);
    // CodeFormer from the same folder, its weight recorded beside its visibility and used.
    s.model = "CodeFormer";
    s.visibility = 1;
    s.codeformer_weight = 0.7;
    Image cf;
    st = engine.restore_faces(img, s, {}, &cf, &info, &faces);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_GE(faces, 1);
    EXPECT_EQ(info, "CodeFormer visibility: 1.0, CodeFormer weight: 0.7");
    EXPECT_NE(cf.pixels, img.pixels);
    EXPECT_NE(cf.pixels, full.pixels);
    s.codeformer_weight = 0;
    ASSERT_TRUE(engine.restore_faces(img, s, {}, &out, &info).ok);
    EXPECT_NE(out.pixels, cf.pixels);
    s.codeformer_weight = 1.5;
    EXPECT_EQ(engine.restore_faces(img, s, {}, &out, &info).message, "CodeFormer weight must be between 0 and 1.");
    s.model = "GFPGAN";
    s.codeformer_weight = 0.5;
    s.visibility = 0;
    ASSERT_TRUE(engine.restore_faces(img, s, {}, &out, &info, &faces).ok);
    EXPECT_EQ(out.pixels, img.pixels);
    EXPECT_EQ(info, "");
    EXPECT_EQ(faces, 0);
    std::system(("rm -rf '" + root + "'").c_str());
}

// A1111's "Restore faces" in a run: each decoded image restored before anything else touches it,
// the text saying "Face restoration: <name>", the files found before any step, a pasted text
// turning it on and off.
TEST(FaceRestore, GenerationRestoresEachImageAndRecordsIt) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const std::string root = temp_dir();
    ASSERT_FALSE(root.empty());
    Engine engine;
    ModelRequest mr(models.front().checkpoints.front(), "", test::vocab_path());
    mr.face_restoration_dirs = {root};
    ASSERT_TRUE(engine.load_model(mr, nullptr).ok);
    GenerateRequest r;
    r.prompt = "a portrait";
    r.seed = 21;
    r.steps = 2;
    r.width = r.height = 64;
    r.batch_size = 2;
    r.rng = "CPU";
    std::vector<GeneratedImage> plain, out;
    ASSERT_TRUE(engine.txt2img(r, {}, &plain).ok);
    EXPECT_EQ(plain[0].infotext.find("Face restoration"), std::string::npos);

    // No files yet: refused before the first step.
    r.face_restoration = "GFPGAN";
    int steps = 0;
    RunCallbacks cb;
    cb.progress = [&](int, int) { ++steps; };
    Status st = engine.txt2img(r, cb, &out);
    EXPECT_EQ(st.message, "GFPGAN was not found: put GFPGANv1.4.pth (TencentARC's release) in " + root + ".");
    EXPECT_EQ(steps, 0);

    write_face_models(root);
    ASSERT_TRUE((st = engine.txt2img(r, {}, &out)).ok) << st.message;
    ASSERT_EQ(out.size(), 2u);
    for (size_t i = 0; i < 2; ++i) {
        // The run's image is the plain run's image restored (GFPGAN's noise from the same seed).
        FaceRestoreSettings fs;
        fs.model = "GFPGAN";
        fs.model_dirs = {root};
        Image expect;
        ASSERT_TRUE(engine.restore_faces(plain[i].image, fs, {}, &expect).ok);
        EXPECT_EQ(out[i].image.pixels, expect.pixels) << i;
        EXPECT_NE(out[i].image.pixels, plain[i].image.pixels) << i;
        EXPECT_NE(out[i].infotext.find(", Seed: " + std::to_string(21 + i) + ", Face restoration: GFPGAN, Size: 64x64"), std::string::npos) << out[i].infotext;
    }

    // A pasted text with the key turns it on (the same image again); one without turns it off.
    GenerateRequest pasted;
    apply_parameters(out[1].infotext, &pasted);
    EXPECT_EQ(pasted.face_restoration, "GFPGAN");
    apply_parameters(plain[0].infotext, &pasted);
    EXPECT_EQ(pasted.face_restoration, "");

    // CodeFormer in an inpainting run, its weight used (not recorded).
    Image mask{64, 64, 1, std::vector<uint8_t>(64 * 64, 0)};
    for (int y = 16; y < 48; ++y)
        for (int x = 16; x < 48; ++x) mask.pixels[static_cast<size_t>(y) * 64 + x] = 255;
    GenerateRequest ir = r;
    ir.batch_size = 1;
    ir.denoising_strength = 0.6;
    ir.face_restoration = "CodeFormer";
    ir.codeformer_weight = 0.9;
    std::vector<GeneratedImage> a, b;
    ASSERT_TRUE((st = engine.inpaint(ir, plain[0].image, mask, {}, &a)).ok) << st.message;
    EXPECT_NE(a[0].infotext.find("Face restoration: CodeFormer"), std::string::npos) << a[0].infotext;
    EXPECT_EQ(a[0].infotext.find("CodeFormer weight"), std::string::npos);
    ir.codeformer_weight = 0.1;
    ASSERT_TRUE(engine.inpaint(ir, plain[0].image, mask, {}, &b).ok);
    EXPECT_NE(a[0].image.pixels, b[0].image.pixels);
    ir.face_restoration = "RestoreFormer";
    EXPECT_EQ(engine.inpaint(ir, plain[0].image, mask, {}, &b).message, "Unknown face restoration \"RestoreFormer\"; use CodeFormer, GFPGAN or none.");
    std::system(("rm -rf '" + root + "'").c_str());
}

// Damaged files in every way a header can declare them: keys dropped, shapes replaced (any rank,
// sizes 0-9), many times over for each network. Loading (and, when it loads, a run) ends in
// sdgimp::Error or a result, never in a LibTorch error or a crash.
TEST(FaceRestore, DamagedShapesAreRefusedWithASentence) {
    torch::manual_seed(31);
    uint64_t state = 12345;
    auto next = [&](uint64_t n) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return (state >> 33) % n;
    };
    struct Case {
        std::string name;
        Map map;
        std::function<void(const Map&)> load_and_run;
    };
    std::vector<Case> cases = {
        {"RetinaFace", small_retinaface({kNoFace, kNoFace, kFirstAnchorFace}, {0, 0, 0, 0}, {}),
         [](const Map& m) { models::RetinaFace::from_tensors(m, "d.pth").detect(torch::zeros({64, 64, 3}), 0.97, 0.4); }},
        {"GFPGAN", small_gfpgan(2, 4, 4, true, true),
         [](const Map& m) {
             const auto g = models::GFPGAN::from_tensors(m, "g.pth");
             g.forward(torch::zeros({1, 3, g.out_size(), g.out_size()}), at::detail::createCPUGenerator(1));
         }},
        {"ParseNet", small_parsenet(false), [](const Map& m) { models::ParseNet::from_tensors(m, "p.pth").forward(torch::zeros({1, 3, 16, 16})); }},
        {"CodeFormer", small_codeformer(),
         [](const Map& m) {
             const auto c = models::CodeFormer::from_tensors(m, "c.pth");
             c.forward(torch::zeros({1, 3, c.face_size(), c.face_size()}), 0.5);
         }},
    };
    for (auto& c : cases) {
        std::vector<std::string> keys;
        for (const auto& kv : c.map) keys.push_back(kv.first);
        int refused = 0;
        for (int trial = 0; trial < 400; ++trial) {
            Map m = c.map;
            const int edits = 1 + static_cast<int>(next(3));
            for (int e = 0; e < edits; ++e) {
                const std::string& k = keys[next(keys.size())];
                if (next(4) == 0) {
                    m.erase(k);
                } else {
                    std::vector<int64_t> shape(next(6));
                    for (auto& d : shape) d = static_cast<int64_t>(next(10));
                    m[k] = torch::zeros(shape);
                }
            }
            try {
                c.load_and_run(m);
            } catch (const Error&) {
                ++refused;
            } catch (const std::exception& e) {
                ADD_FAILURE() << c.name << " trial " << trial << ": " << e.what();
            }
        }
        EXPECT_GT(refused, 300) << c.name;
    }
}

// A1111's Extras: the upscale, then GFPGAN, then CodeFormer (their scripts' order), each at its
// visibility, their keys after the upscale's; a missing file refused before the upscale runs.
TEST(FaceRestore, ExtrasRestoresAfterTheUpscaleInA1111sOrder) {
    const std::string root = temp_dir();
    ASSERT_FALSE(root.empty());
    Engine engine;
    const Image img = gradient(80, 60);
    imaging::ExtrasUpscaleSettings s;
    s.upscaler_1 = "Lanczos";
    s.upscale_by = 1.5;
    s.gfpgan_visibility = 0.5;
    s.codeformer_visibility = 1.0;
    s.codeformer_weight = 0.7;
    s.face_model_dirs = {root};
    Image out;
    std::string info;
    EXPECT_EQ(engine.extras_upscale(img, s, {}, &out, &info).message,
              "GFPGAN was not found: put GFPGANv1.4.pth (TencentARC's release) in " + root + ".");
    write_face_models(root);
    Status st = engine.extras_upscale(img, s, {}, &out, &info);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(info, "Postprocess upscale by: 1.5, Postprocess upscaler: Lanczos, GFPGAN visibility: 0.5, CodeFormer visibility: 1.0, CodeFormer weight: 0.7");

    imaging::ExtrasUpscaleSettings plain = s;
    plain.gfpgan_visibility = plain.codeformer_visibility = 0;
    Image up, g, expect;
    ASSERT_TRUE(engine.extras_upscale(img, plain, {}, &up, &info).ok);
    EXPECT_EQ(info, "Postprocess upscale by: 1.5, Postprocess upscaler: Lanczos");
    FaceRestoreSettings fs;
    fs.model_dirs = {root};
    fs.model = "GFPGAN";
    fs.visibility = 0.5;
    ASSERT_TRUE(engine.restore_faces(up, fs, {}, &g).ok);
    fs.model = "CodeFormer";
    fs.visibility = 1.0;
    fs.codeformer_weight = 0.7;
    ASSERT_TRUE(engine.restore_faces(g, fs, {}, &expect).ok);
    EXPECT_EQ(out.pixels, expect.pixels);
    EXPECT_NE(out.pixels, up.pixels);
    s.codeformer_visibility = 1.5;
    EXPECT_EQ(engine.extras_upscale(img, s, {}, &out, &info).message, "CodeFormer visibility must be between 0 and 1.");
    std::system(("rm -rf '" + root + "'").c_str());
}
