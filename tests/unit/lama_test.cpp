// LaMa removal through a TorchScript file, as IOPaint runs big-lama.pt: the tests script a small
// stand-in module themselves (it fills the hole with the mean colour of what it was shown and
// refuses inputs LaMa would not get), save it, and run the engine on it.
#include <gtest/gtest.h>

#include <cstdio>
#include <torch/script.h>
#include <unistd.h>

#include "engine/engine.h"
#include "imaging/removal_box.h"

using namespace sdgimp;

namespace {

const char* kStandIn = R"JIT(
def forward(self, image, mask):
    assert image.size(2) % 8 == 0 and image.size(3) % 8 == 0, "LaMa needs sides that are multiples of 8"
    assert bool(image.min() >= 0.0) and bool(image.max() <= 1.0), "LaMa takes images in [0, 1]"
    assert mask.size(1) == 1 and not bool(((mask != 0.0) & (mask != 1.0)).any()), "LaMa takes a binary mask"
    keep = 1.0 - mask
    fill = (image * keep).sum([2, 3], keepdim=True) / keep.sum([2, 3], keepdim=True)
    return image * keep + fill * mask
)JIT";

std::string write_stand_in() {
    char tmpl[] = "/tmp/gd-lama-XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    torch::jit::Module m("LamaStandIn");
    m.define(kStandIn);
    m.save(dir + "/big-lama.pt");
    return dir + "/big-lama.pt";
}

void remove_file(const std::string& path) {
    std::remove(path.c_str());
    rmdir(path.substr(0, path.rfind('/')).c_str());
}

Image gradient(int w, int h) {
    Image img{w, h, 3, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            uint8_t* p = &img.pixels[(static_cast<size_t>(y) * w + x) * 3];
            p[0] = static_cast<uint8_t>(x * 255 / std::max(1, w - 1));
            p[1] = static_cast<uint8_t>(y * 255 / std::max(1, h - 1));
            p[2] = static_cast<uint8_t>((x + y) % 256);
        }
    return img;
}

Image box_mask(int w, int h, int x0, int y0, int x1, int y1) {
    Image m{w, h, 1, std::vector<uint8_t>(static_cast<size_t>(w) * h, 0)};
    for (int y = y0; y < y1; ++y)
        for (int x = x0; x < x1; ++x) m.pixels[static_cast<size_t>(y) * w + x] = 255;
    return m;
}

}  // namespace

TEST(Lama, RunsTheTorchScriptModelOnPaddedInputAndKeepsTheRest) {
    const std::string path = write_stand_in();
    Engine engine;
    // Odd sizes: the engine must mirror-pad to multiples of 8 (the stand-in refuses anything else).
    const int w = 101, h = 77;
    const Image img = gradient(w, h);
    const Image mask = box_mask(w, h, 40, 30, 60, 50);
    Image out;
    std::string used;
    const Status st = engine.remove_object(img, mask, "LaMa", path, {}, &out, &used);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(used, "LaMa");
    ASSERT_EQ(out.width, w);
    ASSERT_EQ(out.height, h);
    // The expected fill: the mean colour of the unmasked part of the mirror-padded image.
    const Image padded = imaging::pad_symmetric(img, 8), padded_mask = imaging::pad_symmetric(mask, 8);
    double sum[3] = {0, 0, 0};
    int n = 0;
    for (size_t i = 0; i < static_cast<size_t>(padded.width) * padded.height; ++i) {
        if (padded_mask.pixels[i]) continue;
        for (int c = 0; c < 3; ++c) sum[c] += padded.pixels[i * 3 + c] / 255.0;
        ++n;
    }
    int changed_outside = 0, wrong_inside = 0;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) {
            const size_t i = static_cast<size_t>(y) * w + x;
            for (int c = 0; c < 3; ++c) {
                if (!mask.pixels[i]) {
                    changed_outside += out.pixels[i * 3 + c] != img.pixels[i * 3 + c];
                } else {
                    const int want = static_cast<int>(sum[c] / n * 255);  // IOPaint truncates
                    wrong_inside += std::abs(out.pixels[i * 3 + c] - want) > 1;
                }
            }
        }
    EXPECT_EQ(changed_outside, 0);
    EXPECT_EQ(wrong_inside, 0);

    // Auto picks LaMa when the file is there, PatchMatch when it is not.
    ASSERT_TRUE(engine.remove_object(img, mask, "Auto", path, {}, &out, &used).ok);
    EXPECT_EQ(used, "LaMa");
    ASSERT_TRUE(engine.remove_object(img, mask, "Auto", path + ".missing", {}, &out, &used).ok);
    EXPECT_EQ(used, "PatchMatch");
    remove_file(path);
}

TEST(Lama, BigImagesAreCroppedAroundTheMaskAsIOPaintDoes) {
    // IOPaint's crop: the mask box grown by 128 on each side, shifted inside the image at edges.
    EXPECT_EQ(imaging::removal_crop({400, 100, 440, 140}, 1000, 600, 128), (imaging::Box{272, 0, 568, 296}));
    EXPECT_EQ(imaging::removal_crop({10, 10, 20, 20}, 1000, 900, 128), (imaging::Box{0, 0, 266, 266}));
    EXPECT_EQ(imaging::removal_crop({950, 850, 1000, 900}, 1000, 900, 128), (imaging::Box{1000 - 306, 900 - 306, 1000, 900}));

    const std::string path = write_stand_in();
    Engine engine;
    const int w = 1000, h = 300;
    const Image img = gradient(w, h);
    const Image mask = box_mask(w, h, 880, 100, 920, 140);
    Image out;
    ASSERT_TRUE(engine.remove_object(img, mask, "LaMa", path, {}, &out).ok);
    // The stand-in saw only the crop (x from 1000 - 296 = 704), so its fill is that region's mean red,
    // far above the whole image's mean (about 127).
    const int red = out.pixels[(static_cast<size_t>(120) * w + 900) * 3];
    EXPECT_GT(red, 200);
    remove_file(path);
}

TEST(Lama, BadFilesAndMasksGetOneSentence) {
    Engine engine;
    const Image img = gradient(64, 48);
    Image out;
    Status st = engine.remove_object(img, box_mask(64, 48, 10, 10, 20, 20), "LaMa", "/nonexistent/big-lama.pt", {}, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("was not found"), std::string::npos) << st.message;
    // A file that is not TorchScript.
    char tmpl[] = "/tmp/gd-notlama-XXXXXX";
    const int fd = mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, "not a model", 11), 11);
    close(fd);
    st = engine.remove_object(img, box_mask(64, 48, 10, 10, 20, 20), "LaMa", tmpl, {}, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("not a TorchScript LaMa model"), std::string::npos) << st.message;
    std::remove(tmpl);
    // Empty mask, unknown method.
    const std::string path = write_stand_in();
    st = engine.remove_object(img, box_mask(64, 48, 0, 0, 0, 0), "LaMa", path, {}, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("empty"), std::string::npos) << st.message;
    st = engine.remove_object(img, box_mask(64, 48, 10, 10, 20, 20), "Telea", path, {}, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find("Unknown removal method"), std::string::npos) << st.message;
    remove_file(path);
}
