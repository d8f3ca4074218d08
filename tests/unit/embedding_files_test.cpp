// Textual-inversion files found without torch (what the dialogs' token counters use): A1111's
// layout rule, vector counts and widths, a name's first folder winning, other files left out.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sys/stat.h>
#include <unistd.h>

#include "io/embedding_files.h"
#include "io/folder_files.h"
#include "io/safetensors_writer.h"
#include "upscalers.h"

using namespace sdgimp;

namespace {

io::FloatTensor tensor(const std::string& name, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return {name, shape, std::vector<float>(static_cast<size_t>(n), 0.5f)};
}

}  // namespace

TEST(EmbeddingFiles, LayoutCountsAndOrder) {
    char tmpl[] = "/tmp/gd-emb-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string a = std::string(tmpl) + "/a", b = std::string(tmpl) + "/b";
    ASSERT_EQ(::mkdir(a.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir(b.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir((a + "/sub").c_str(), 0700), 0);
    io::write_safetensors(a + "/EasyNegative.safetensors", {tensor("emb_params", {8, 768})});
    io::write_safetensors(a + "/sub/one-vector.safetensors", {tensor("emb_params", {1024})});
    io::write_safetensors(a + "/two-tensors.safetensors", {tensor("x", {2, 768}), tensor("y", {2, 768})});
    io::write_safetensors(a + "/too-many.safetensors", {tensor("emb_params", {76, 768})});
    io::write_safetensors(b + "/EasyNegative.safetensors", {tensor("emb_params", {3, 768})});  // a's wins
    io::write_safetensors(b + "/style.safetensors", {tensor("emb_params", {4, 1024})});
    { std::ofstream(b + "/broken.pt") << "not a pickle"; }
    const auto found = io::list_embeddings({a, "/nonexistent", b});
    ASSERT_EQ(found.size(), 3u);
    EXPECT_EQ(found[0].name, "EasyNegative");
    EXPECT_EQ(found[0].vectors, 8);
    EXPECT_EQ(found[0].width, 768);
    EXPECT_EQ(found[0].path, a + "/EasyNegative.safetensors");
    EXPECT_EQ(found[1].name, "one-vector");
    EXPECT_EQ(found[1].vectors, 1);
    EXPECT_EQ(found[1].width, 1024);
    EXPECT_EQ(found[2].name, "style");
    EXPECT_EQ(found[2].vectors, 4);
    for (const char* f : {"/a/EasyNegative.safetensors", "/a/sub/one-vector.safetensors", "/a/two-tensors.safetensors",
                          "/a/too-many.safetensors", "/b/EasyNegative.safetensors", "/b/style.safetensors", "/b/broken.pt"})
        std::remove((std::string(tmpl) + f).c_str());
    for (const std::string& d : std::vector<std::string>{a + "/sub", a, b, std::string(tmpl)}) ::rmdir(d.c_str());
}

TEST(EmbeddingFiles, SearchDirsFollowA1111sLayout) {
    setenv("GIMP_DIFFUSION_TEST_DIRS", "/x:/y::", 1);
    setenv("HOME", "/home/u", 1);
    const auto dirs = io::search_dirs({"/mine"}, "/sd/models/Stable-diffusion/v1.safetensors", "embeddings", {"/", "/../../"},
                                      "GIMP_DIFFUSION_TEST_DIRS");
    const std::vector<std::string> want = {"/mine", "/sd/models/Stable-diffusion/embeddings", "/sd/models/Stable-diffusion/../../embeddings",
                                           "/x", "/y", "/home/u/.local/share/gimp-diffusion/models/embeddings"};
    EXPECT_EQ(dirs, want);
}

// Upscalers by A1111's names: a file's name, or Real-ESRGAN's and SwinIR's menu names for their files.
TEST(UpscalerFiles, A1111NamesFindTheirFiles) {
    char tmpl[] = "/tmp/gd-ups-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string esr = std::string(tmpl) + "/ESRGAN", real = std::string(tmpl) + "/RealESRGAN", swin = std::string(tmpl) + "/SwinIR";
    ASSERT_EQ(::mkdir(esr.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir(real.c_str(), 0700), 0);
    ASSERT_EQ(::mkdir(swin.c_str(), 0700), 0);
    { std::ofstream(esr + "/4x-UltraSharp.pth") << "x"; }
    { std::ofstream(real + "/RealESRGAN_x4plus.pth") << "x"; }
    { std::ofstream(real + "/RealESRGAN_x4plus_anime_6B.pth") << "x"; }
    { std::ofstream(real + "/realesr-general-x4v3.pth") << "x"; }
    const std::vector<std::string> dirs = {esr, real, swin};
    EXPECT_EQ(find_upscaler_file("4x-UltraSharp", dirs), esr + "/4x-UltraSharp.pth");
    EXPECT_EQ(find_upscaler_file("R-ESRGAN 4x+", dirs), real + "/RealESRGAN_x4plus.pth");
    EXPECT_EQ(find_upscaler_file("R-ESRGAN 4x+ Anime6B", dirs), real + "/RealESRGAN_x4plus_anime_6B.pth");
    EXPECT_EQ(find_upscaler_file("R-ESRGAN 2x+", dirs), "");
    EXPECT_EQ(find_upscaler_file("SwinIR 4x", dirs), "");
    // A1111 saves its SwinIR download as models/SwinIR/SwinIR_4x.pth.
    { std::ofstream(swin + "/SwinIR_4x.pth") << "x"; }
    EXPECT_EQ(find_upscaler_file("SwinIR 4x", dirs), swin + "/SwinIR_4x.pth");
    EXPECT_EQ(find_upscaler_file("ScuNET GAN", dirs), "");
    { std::ofstream(swin + "/scunet_color_real_psnr.pth") << "x"; }  // ScuNET's release names
    EXPECT_EQ(find_upscaler_file("ScuNET PSNR", dirs), swin + "/scunet_color_real_psnr.pth");
    EXPECT_EQ(find_upscaler_file("R-ESRGAN General 4xV3", dirs), real + "/realesr-general-x4v3.pth");
    EXPECT_EQ(find_upscaler_file("R-ESRGAN AnimeVideo", dirs), "");
    EXPECT_EQ(find_upscaler_file("DAT x4", dirs), "");
    { std::ofstream(swin + "/DAT_x4.pth") << "x"; }  // A1111's DAT download name
    EXPECT_EQ(find_upscaler_file("DAT x4", dirs), swin + "/DAT_x4.pth");
    EXPECT_EQ(upscaler_file_names(dirs), (std::vector<std::string>{"4x-UltraSharp", "DAT x4", "R-ESRGAN 4x+", "R-ESRGAN 4x+ Anime6B",
                                                                   "R-ESRGAN General 4xV3", "ScuNET PSNR", "SwinIR 4x"}));
    setenv("HOME", "/home/u", 1);
    unsetenv("GIMP_DIFFUSION_ESRGAN_DIR");
    const auto found = upscaler_file_dirs({"/mine"}, "/sd/models/Stable-diffusion/v1.safetensors");
    const std::vector<std::string> want = {"/mine", "/sd/models/Stable-diffusion/../ESRGAN", "/home/u/.local/share/gimp-diffusion/models/ESRGAN",
                                           "/sd/models/Stable-diffusion/../RealESRGAN", "/home/u/.local/share/gimp-diffusion/models/RealESRGAN",
                                           "/sd/models/Stable-diffusion/../SwinIR", "/home/u/.local/share/gimp-diffusion/models/SwinIR",
                                           "/sd/models/Stable-diffusion/../ScuNET", "/home/u/.local/share/gimp-diffusion/models/ScuNET",
                                           "/sd/models/Stable-diffusion/../DAT", "/home/u/.local/share/gimp-diffusion/models/DAT",
                                           "/sd/models/Stable-diffusion/../LDSR", "/home/u/.local/share/gimp-diffusion/models/LDSR"};
    EXPECT_EQ(found, want);
    for (const std::string& f : std::vector<std::string>{esr + "/4x-UltraSharp.pth", real + "/RealESRGAN_x4plus.pth", real + "/RealESRGAN_x4plus_anime_6B.pth",
                                                         real + "/realesr-general-x4v3.pth", swin + "/SwinIR_4x.pth",
                                                         swin + "/scunet_color_real_psnr.pth", swin + "/DAT_x4.pth"})
        std::remove(f.c_str());
    for (const std::string& d : std::vector<std::string>{esr, real, swin, std::string(tmpl)}) ::rmdir(d.c_str());
}
