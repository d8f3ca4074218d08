// A1111's Outpainting mk2 noise (get_matched_noise) against its NumPy code transcribed into plain
// CPython (a direct DFT, NumPy's fftshift/interp/unique semantics and default_rng(0) written out):
// the same 8-bit canvas for two fall-off / colour-variation settings; the unmasked pixels kept.
#include <gtest/gtest.h>

#include <cstdlib>

#include "pipeline/matched_noise.h"
#include "status.h"

using namespace sdgimp;

namespace {

// The transcription's input: an 8x12 picture, its left 4 columns and bottom 2 rows masked.
std::pair<Image, Image> canvas() {
    Image img{12, 8, 3, std::vector<uint8_t>(12 * 8 * 3)};
    Image mask{12, 8, 1, std::vector<uint8_t>(12 * 8)};
    for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 12; ++j) {
            for (int c = 0; c < 3; ++c) img.pixels[(static_cast<size_t>(i) * 12 + j) * 3 + c] = static_cast<uint8_t>((i * 31 + j * 17 + c * 55) % 256);
            mask.pixels[static_cast<size_t>(i) * 12 + j] = (j < 4 || i >= 6) ? 255 : 0;
        }
    return {img, mask};
}

}  // namespace

TEST(MatchedNoise, EqualsTheScriptTranscribed) {
    const auto [img, mask] = canvas();
    const std::vector<std::pair<std::pair<double, double>, std::vector<int>>> cases = {
        {{1.0, 0.05}, {1,202,86,7,157,128,21,191,165,119,185,229,68,123,178,85,140,195,102,157,212,119,174,229,136,191,246,153,208,7,170,225,24,187,242,41,68,48,52,38,110,131,85,73,226,181,79,246,99,154,209,116,171,226,133,188,243,150,205,4,167,222,21,184,239,38,201,0,55,218,17,72,215,11,114,209,56,117,187,216,72,178,242,49,130,185,240,147,202,1,164,219,18,181,236,35,198,253,52,215,14,69,232,31,86,249,48,103,147,28,55,69,76,63,102,188,77,150,225,66,161,216,15,178,233,32,195,250,49,212,11,66,229,28,83,246,45,100,7,62,117,24,79,134,4,90,103,52,174,134,170,124,162,201,171,178,192,247,46,209,8,63,226,25,80,243,42,97,4,59,114,21,76,131,38,93,148,55,110,165,86,31,179,99,45,196,136,93,240,133,205,243,223,22,77,240,39,94,1,56,111,18,73,128,35,90,145,52,107,162,69,124,179,86,141,196,167,42,111,116,107,145,55,208,209,161,236,148,212,247,100,229,253,41,246,250,24,249,222,4,232,154,1,218,59,21,195,25,38,184,14,80,18,22,212,35,39,195,130,141,94,164,233,83,198,239,69,226,219,46,243,123,32,240,140,15,223,62,7,192,17,18,153,0,35,24,8,97}},
        {{2.5, 0.3}, {86,76,7,150,14,38,153,17,86,170,56,209,68,123,178,85,140,195,102,157,212,119,174,229,136,191,246,153,208,7,170,225,24,187,242,41,218,8,18,184,11,77,136,45,195,116,110,246,99,154,209,116,171,226,133,188,243,150,205,4,167,222,21,184,239,38,201,0,55,218,17,72,181,0,103,99,48,114,55,140,111,35,239,128,130,185,240,147,202,1,164,219,18,181,236,35,198,253,52,215,14,69,232,31,86,249,48,103,1,59,165,7,124,72,38,225,32,85,253,15,161,216,15,178,233,32,195,250,49,212,11,66,229,28,83,246,45,100,7,62,117,24,79,134,21,154,179,164,222,97,192,247,52,226,250,35,192,247,46,209,8,63,226,25,80,243,42,97,4,59,114,21,76,131,38,93,148,55,110,165,212,191,212,209,216,226,215,205,196,223,157,145,223,22,77,240,39,94,1,56,111,18,73,128,35,90,145,52,107,162,69,124,179,86,141,196,178,208,229,68,185,243,69,123,240,147,79,178,130,39,83,133,22,46,161,28,21,187,62,4,232,107,1,243,171,24,229,202,66,201,219,162,4,141,134,24,90,148,52,42,131,119,25,117,167,31,100,195,73,80,240,93,63,249,174,49,246,233,41,198,242,55,102,236,69,18,188,94}},
    };
    for (const auto& [settings, want] : cases) {
        SCOPED_TRACE(std::to_string(settings.first) + " " + std::to_string(settings.second));
        const Image got = pipeline::matched_noise(img, mask, settings.first, settings.second);
        ASSERT_EQ(got.pixels.size(), want.size());
        int off = 0, worst = 0;
        for (size_t i = 0; i < want.size(); ++i) {
            const int d = std::abs(static_cast<int>(got.pixels[i]) - want[i]);
            off += d != 0;
            worst = std::max(worst, d);
            // Unmasked pixels are the picture's own.
            if (mask.pixels[i / 3] == 0) ASSERT_EQ(got.pixels[i], img.pixels[i]) << i;
        }
        // Two FFT implementations differ in the last bits: a truncation may land one level lower.
        EXPECT_LE(worst, 1);
        EXPECT_LE(off, 3) << "values a level apart";
    }
    // A grey mask and the same mask as RGB give the same fill.
    Image rgb_mask{12, 8, 3, std::vector<uint8_t>(12 * 8 * 3)};
    for (size_t i = 0; i < mask.pixels.size(); ++i)
        for (int c = 0; c < 3; ++c) rgb_mask.pixels[i * 3 + c] = mask.pixels[i];
    EXPECT_EQ(pipeline::matched_noise(img, mask, 1.0, 0.05).pixels, pipeline::matched_noise(img, rgb_mask, 1.0, 0.05).pixels);
}

TEST(MatchedNoise, Refusals) {
    const auto [img, mask] = canvas();
    Image all{12, 8, 1, std::vector<uint8_t>(12 * 8, 255)};
    try {
        (void)pipeline::matched_noise(img, all, 1.0, 0.05);
        ADD_FAILURE() << "a wholly masked canvas was filled";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("some of the image left unmasked"), std::string::npos) << e.what();
    }
    // A black picture: NumPy would divide by zero; here the fill stays finite (black).
    Image black{12, 8, 3, std::vector<uint8_t>(12 * 8 * 3, 0)};
    const Image out = pipeline::matched_noise(black, mask, 1.0, 0.05);
    EXPECT_EQ(out.pixels, black.pixels);
}
