// A1111's Poor man's outpainting as planned here: the canvas size and the border on each side, the
// mask and latent mask rectangles (PIL's, corners included), the tiles and which of them are
// redrawn, against the script's formulas run in CPython; the recombination; the checks.
#include <gtest/gtest.h>

#include <array>
#include <functional>
#include <tuple>

#include "imaging/histogram_match.h"
#include "imaging/numpy_random.h"
#include "imaging/outpaint.h"
#include "status.h"

using namespace sdgimp;
using imaging::OutpaintSettings;

namespace {

struct Case {
    int w, h, pixels, blur;
    const char* directions;
    int tile_w, tile_h;
    int target_w, target_h;
    std::array<int, 4> border;  // left, right, up, down
    std::array<int, 4> rect, latent_rect;  // x0, y0, x1, y1 (inclusive, as PIL draws them)
    int rows, cols;
    std::vector<std::pair<int, int>> work;  // x, y of the redrawn tiles, in order
};

// Expected values: scripts/poor_mans_outpainting.py and images.split_grid (A1111 1.10) transcribed
// into CPython 3.11 and run on these inputs.
const std::vector<Case>& cases() {
    static const std::vector<Case> c = {
        {100, 60, 64, 4, "left right up down", 128, 128, 256, 192, {78, 78, 66, 66}, {86, 74, 170, 118}, {80, 68, 176, 124}, 2, 3,
         {{0, 0}, {64, 0}, {128, 0}, {0, 64}, {64, 64}, {128, 64}}},
        {96, 64, 32, 2, "right", 64, 64, 128, 64, {0, 32, 0, 0}, {0, 0, 92, 64}, {0, 0, 95, 64}, 1, 3, {{64, 0}}},
        {200, 120, 24, 5, "left up", 96, 64, 256, 192, {56, 0, 72, 0}, {66, 82, 256, 192}, {58, 74, 256, 192}, 5, 4,
         {{0, 0}, {53, 0}, {106, 0}, {160, 0}, {0, 32}, {53, 32}, {106, 32}, {160, 32}, {0, 64}, {53, 64}, {106, 64}, {160, 64},
          {0, 96}, {53, 96}, {0, 128}, {53, 128}}},
        {64, 64, 8, 0, "down", 64, 64, 64, 128, {0, 0, 0, 64}, {0, 0, 64, 64}, {0, 0, 64, 64}, 3, 1, {{0, 32}, {0, 64}}},
        {130, 70, 40, 3, "left,right", 128, 96, 256, 128, {63, 63, 0, 0}, {69, 0, 187, 128}, {64, 0, 192, 128}, 2, 3,
         {{0, 0}, {128, 0}, {0, 32}, {128, 32}}},
    };
    return c;
}

Image pattern(int w, int h) {
    Image img{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
    for (size_t i = 0; i < img.pixels.size(); ++i) img.pixels[i] = static_cast<uint8_t>(1 + (i * 37) % 250);
    return img;
}

OutpaintSettings settings_of(const Case& c) {
    OutpaintSettings s;
    s.pixels = c.pixels;
    s.mask_blur = c.blur;
    imaging::set_outpaint_directions(c.directions, &s.sides);
    s.tile_w = c.tile_w;
    s.tile_h = c.tile_h;
    return s;
}

bool inside(const std::array<int, 4>& r, int x, int y) { return x >= r[0] && x <= r[2] && y >= r[1] && y <= r[3]; }

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST(Outpaint, PlanEqualsTheScript) {
    for (const Case& c : cases()) {
        SCOPED_TRACE(std::to_string(c.w) + "x" + std::to_string(c.h) + " " + c.directions);
        const Image img = pattern(c.w, c.h);
        const auto p = imaging::plan_outpaint(img, settings_of(c));
        EXPECT_EQ(p.canvas.width, c.target_w);
        EXPECT_EQ(p.canvas.height, c.target_h);
        EXPECT_EQ((std::array<int, 4>{p.left, p.right, p.up, p.down}), c.border);
        // The image at (left, up) on black.
        for (int y = 0; y < c.target_h; ++y)
            for (int x = 0; x < c.target_w; ++x) {
                const bool in = x >= p.left && x < p.left + c.w && y >= p.up && y < p.up + c.h;
                for (int ch = 0; ch < 3; ++ch) {
                    const uint8_t want = in ? img.pixels[(static_cast<size_t>(y - p.up) * c.w + (x - p.left)) * 3 + ch] : 0;
                    ASSERT_EQ(p.canvas.pixels[(static_cast<size_t>(y) * c.target_w + x) * 3 + ch], want) << x << "," << y;
                }
                ASSERT_EQ(p.mask.pixels[static_cast<size_t>(y) * c.target_w + x], inside(c.rect, x, y) ? 0 : 255) << x << "," << y;
                ASSERT_EQ(p.latent_mask.pixels[static_cast<size_t>(y) * c.target_w + x], inside(c.latent_rect, x, y) ? 0 : 255)
                    << x << "," << y;
            }
        ASSERT_EQ(static_cast<int>(p.grid.rows.size()), c.rows);
        ASSERT_EQ(static_cast<int>(p.grid.rows[0].tiles.size()), c.cols);
        ASSERT_EQ(p.work.size(), c.work.size());
        for (size_t i = 0; i < c.work.size(); ++i) {
            const auto& t = p.work[i];
            const auto& row = p.grid.rows[static_cast<size_t>(t.row)];
            const int x = row.tiles[static_cast<size_t>(t.col)].x;
            EXPECT_EQ(x, c.work[i].first) << i;
            EXPECT_EQ(row.y, c.work[i].second) << i;
            // Each tile's image and masks are the canvas's and the masks' pixels under it.
            ASSERT_EQ(t.image.width, c.tile_w);
            ASSERT_EQ(t.mask.channels, 1);
            ASSERT_EQ(t.latent_mask.channels, 1);
            for (int y = 0; y < c.tile_h; ++y)
                for (int xx = 0; xx < c.tile_w; ++xx) {
                    const size_t src = static_cast<size_t>(row.y + y) * c.target_w + (x + xx), dst = static_cast<size_t>(y) * c.tile_w + xx;
                    ASSERT_EQ(t.mask.pixels[dst], p.mask.pixels[src]);
                    ASSERT_EQ(t.latent_mask.pixels[dst], p.latent_mask.pixels[src]);
                    ASSERT_EQ(t.image.pixels[dst * 3 + 1], p.canvas.pixels[src * 3 + 1]);
                }
        }
    }
}

TEST(Outpaint, FinishPutsTheTilesBack) {
    const Case& c = cases()[0];
    const auto p = imaging::plan_outpaint(pattern(c.w, c.h), settings_of(c));
    // The tiles given back unchanged: the canvas again (blending equal pixels keeps them).
    std::vector<Image> same;
    for (const auto& t : p.work) same.push_back(t.image);
    EXPECT_EQ(imaging::finish_outpaint(p, same).pixels, p.canvas.pixels);

    // Solid tiles (96x64) where the border was.
    const Case& d = cases()[2];
    const auto q = imaging::plan_outpaint(pattern(d.w, d.h), settings_of(d));
    std::vector<Image> solid;
    for (size_t i = 0; i < q.work.size(); ++i)
        solid.push_back(Image{96, 64, 3, std::vector<uint8_t>(96 * 64 * 3, static_cast<uint8_t>(10 + i * 10))});
    const Image out = imaging::finish_outpaint(q, solid);
    ASSERT_EQ(out.width, q.canvas.width);
    // Bottom-right corner: the canvas's own pixels, a tile wholly inside the old image (not redrawn).
    const size_t br = (static_cast<size_t>(out.height - 1) * out.width + out.width - 1) * 3;
    EXPECT_EQ(out.pixels[br], q.canvas.pixels[br]);
    // Top-left corner: the first tile alone.
    EXPECT_EQ(out.pixels[0], 10);
    // Past the first tile's overlap with the second, its colour alone; the second's after the ramp.
    EXPECT_EQ(out.pixels[(static_cast<size_t>(5) * out.width + 52) * 3], 10);
    EXPECT_EQ(out.pixels[(static_cast<size_t>(5) * out.width + 53 + 24) * 3], 20);
    EXPECT_NE(error_of([&] { (void)imaging::finish_outpaint(q, std::vector<Image>(solid.begin(), solid.end() - 1)); })
                  .find("15 tiles back for 16"),
              std::string::npos);
}

TEST(Outpaint, DirectionsAndChecks) {
    imaging::OutpaintSides s;
    imaging::set_outpaint_directions("Up, down", &s);
    EXPECT_FALSE(s.left);
    EXPECT_FALSE(s.right);
    EXPECT_TRUE(s.up);
    EXPECT_TRUE(s.down);
    EXPECT_EQ(imaging::outpaint_directions(s), "up,down");
    EXPECT_NE(error_of([&] { imaging::set_outpaint_directions("left, sideways", &s); }).find("\"sideways\""), std::string::npos);
    OutpaintSettings none;
    none.sides = {false, false, false, false};
    EXPECT_NE(error_of([&] { imaging::validate_outpaint(none); }).find("at least one outpainting direction"), std::string::npos);
    OutpaintSettings big;
    big.pixels = 256;
    big.tile_w = 256;
    EXPECT_NE(error_of([&] { imaging::validate_outpaint(big); }).find("smaller than the width and height of the tiles"), std::string::npos);
    big.pixels = 300;
    EXPECT_NE(error_of([&] { imaging::validate_outpaint(big); }).find("between 8 and 256"), std::string::npos);
    OutpaintSettings blur;
    blur.mask_blur = 65;
    EXPECT_NE(error_of([&] { imaging::validate_outpaint(blur); }).find("between 0 and 64"), std::string::npos);
    // A blur that eats the image: PIL refuses the crossed rectangle, so does the plan.
    blur.mask_blur = 20;
    blur.pixels = 64;
    blur.tile_w = blur.tile_h = 128;
    EXPECT_NE(error_of([&] { (void)imaging::plan_outpaint(pattern(64, 64), blur); }).find("too large for a 64x64 image"), std::string::npos);
    blur.mask_blur = 16;  // 64 - 4 * 16 = 0: a rectangle one pixel wide, as PIL draws it
    EXPECT_EQ(imaging::plan_outpaint(pattern(64, 64), blur).canvas.width, 192);
    EXPECT_NE(error_of([&] { (void)imaging::plan_outpaint(Image{}, OutpaintSettings{}); }).find("empty or damaged"), std::string::npos);
}

// NumPy's np.random.default_rng(0).random(5), as NumPy prints it (repr): the draws A1111's
// Outpainting mk2 starts its noise from.
TEST(OutpaintMk2, NumpyDefaultRngZero) {
    imaging::NumpyPcg64 rng(0);
    const double want[] = {0.6369616873214543, 0.2697867137638703, 0.04097352393619469, 0.016527635528529094, 0.8132702392002724};
    for (double w : want) EXPECT_EQ(rng.random(), w);
}

// scikit-image's _match_cumulative_cdf and NumPy's interp, on cases worked by hand.
TEST(OutpaintMk2, HistogramMatching) {
    // Source quantiles 0.25, 0.75, 1 against the template's 0.5, 1 (values 0, 1): below the first
    // knot the first value, then NumPy's slope formula, the last knot exactly.
    EXPECT_EQ(imaging::match_cumulative_cdf({0.1, 0.5, 0.5, 0.9}, {0.0, 1.0}), (std::vector<double>{0.0, 0.5, 0.5, 1.0}));
    // Order kept, repeated template values counted.
    EXPECT_EQ(imaging::match_cumulative_cdf({3, 1, 2}, {10, 10, 20}), (std::vector<double>{20, 10, 10}));
    EXPECT_EQ(imaging::numpy_interp(2.5, {1, 2, 3}, {10, 20, 40}), 30.0);
    EXPECT_EQ(imaging::numpy_interp(9, {1, 2, 3}, {10, 20, 40}), 40.0);
    EXPECT_EQ(imaging::numpy_interp(-9, {1, 2, 3}, {10, 20, 40}), 10.0);
    EXPECT_EQ(imaging::numpy_interp(2, {1, 2, 3}, {10, 20, 40}), 20.0);
}

namespace {

struct Mk2Case {
    int w, h, pixels, blur;
    const char* directions;
    int process_w, process_h;
    // side, expand, res w/h, canvas w/h, paste x/y, mask rect, crop, proc w/h, latent rect
    std::vector<std::tuple<imaging::OutpaintSide, int, std::array<int, 6>, std::array<int, 4>, std::array<int, 4>, std::array<int, 2>,
                           std::array<int, 4>>>
        steps;
};

}  // namespace

// Expected values: the script's run() and expand() (A1111 1.10, scripts/outpainting_mk_2.py)
// transcribed into CPython 3.11 for the sizes alone.
TEST(OutpaintMk2, PlanEqualsTheScript) {
    using S = imaging::OutpaintSide;
    const std::vector<Mk2Case> cases = {
        {96, 64, 64, 8, "left right up down", 512, 512,
         {{S::kLeft, 80, {176, 64, 192, 64, 80, 0}, {88, 0, 176, 64}, {0, 0, 176, 64}, {176, 64}, {96, 0, 176, 64}},
          {S::kRight, 80, {256, 64, 256, 64, 0, 0}, {0, 0, 168, 64}, {0, 0, 256, 64}, {256, 64}, {0, 0, 160, 64}},
          {S::kUp, 64, {256, 128, 256, 128, 0, 64}, {0, 72, 256, 128}, {0, 0, 256, 128}, {256, 128}, {0, 80, 256, 128}},
          {S::kDown, 64, {256, 192, 256, 192, 0, 0}, {0, 0, 256, 120}, {0, 0, 256, 192}, {256, 192}, {0, 0, 256, 112}}}},
        {512, 512, 128, 8, "left", 512, 512,
         {{S::kLeft, 128, {640, 512, 640, 512, 128, 0}, {136, 0, 640, 512}, {0, 0, 512, 512}, {512, 512}, {144, 0, 640, 512}}}},
        {200, 136, 24, 3, "right down", 128, 96,
         {{S::kRight, 56, {256, 136, 256, 192, 0, 0}, {0, 0, 197, 136}, {128, 0, 256, 192}, {128, 192}, {0, 0, 66, 136}},
          {S::kDown, 56, {256, 192, 256, 192, 0, 0}, {0, 0, 256, 133}, {0, 96, 256, 192}, {256, 96}, {0, 0, 256, 34}}}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(std::to_string(c.w) + "x" + std::to_string(c.h) + " " + c.directions);
        imaging::OutpaintMk2Settings s;
        s.pixels = c.pixels;
        s.mask_blur = c.blur;
        imaging::set_outpaint_directions(c.directions, &s.sides);
        const auto steps = imaging::plan_outpaint_mk2(c.w, c.h, s, c.process_w, c.process_h);
        ASSERT_EQ(steps.size(), c.steps.size());
        for (size_t i = 0; i < steps.size(); ++i) {
            const auto& st = steps[i];
            const auto& [side, e, sizes, rect, crop, proc, latent] = c.steps[i];
            EXPECT_EQ(st.side, side);
            EXPECT_EQ(st.expand, e);
            EXPECT_EQ((std::array<int, 6>{st.res_w, st.res_h, st.canvas_w, st.canvas_h, st.paste_x, st.paste_y}), sizes) << i;
            EXPECT_EQ(st.mask_rect, rect) << i;
            EXPECT_EQ(st.crop, crop) << i;
            EXPECT_EQ((std::array<int, 2>{st.proc_w, st.proc_h}), proc) << i;
            EXPECT_EQ(st.latent_rect, latent) << i;
        }
    }
    // The masks as PIL draws them, and the strip put back and cut.
    imaging::OutpaintMk2Settings s;
    s.pixels = 64;
    s.sides = {true, false, false, false};
    const auto st = imaging::plan_outpaint_mk2(96, 64, s, 512, 512).at(0);  // the 64-rounding makes it 96: canvas 192x64
    ASSERT_EQ(st.expand, 96);
    const Image img = pattern(96, 64);
    auto [canvas, mask] = imaging::mk2_canvas(img, st);
    ASSERT_EQ(canvas.width, 192);
    EXPECT_EQ(canvas.pixels[96 * 3], img.pixels[0]);
    EXPECT_EQ(canvas.pixels[95 * 3], 0);
    EXPECT_EQ(mask.pixels[103], 255);
    EXPECT_EQ(mask.pixels[104], 0);
    EXPECT_EQ(mask.pixels[191], 0);
    EXPECT_EQ(mask.pixels[192], 255);  // the second row starts new
    auto [strip_mask, latent] = imaging::mk2_strip_masks(mask, st);
    EXPECT_EQ(strip_mask.width, 192);
    EXPECT_EQ(latent.pixels[111], 255);
    EXPECT_EQ(latent.pixels[112], 0);
    const Image strip{192, 64, 3, std::vector<uint8_t>(192 * 64 * 3, 7)};
    const Image done = imaging::mk2_finish(canvas, strip, st);
    EXPECT_EQ(done.width, 192);
    EXPECT_EQ(done.height, 64);
    EXPECT_EQ(done.pixels[0], 7);

    // A strip A1111 cannot run (146 wide), a mask the blur eats, no direction: one sentence each.
    imaging::OutpaintMk2Settings odd;
    odd.pixels = 32;
    odd.sides.up = odd.sides.down = false;
    EXPECT_NE(error_of([&] { (void)imaging::plan_outpaint_mk2(100, 64, odd, 512, 512); }).find("146x64 strip, which is not a multiple of 8"),
              std::string::npos);
    imaging::OutpaintMk2Settings blur;
    blur.pixels = 64;
    blur.mask_blur = 64;
    blur.sides = {false, true, false, false};
    EXPECT_NE(error_of([&] { (void)imaging::plan_outpaint_mk2(64, 64, blur, 512, 512); }).find("too large for outpainting right"), std::string::npos);
    imaging::OutpaintMk2Settings none;
    none.sides = {false, false, false, false};
    EXPECT_NE(error_of([&] { imaging::validate_outpaint_mk2(none); }).find("at least one outpainting direction"), std::string::npos);
    imaging::OutpaintMk2Settings q;
    q.noise_q = 5;
    EXPECT_NE(error_of([&] { imaging::validate_outpaint_mk2(q); }).find("fall-off exponent"), std::string::npos);
}
