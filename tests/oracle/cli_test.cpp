// gimp-diffusion-cli as a user runs it: txt2img on the tiny checkpoints must write the reference
// PNGs (within one level of rounding) with A1111's parameters text; bad input exits with one sentence.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <unistd.h>

#include "imaging/color_correction.h"
#include "imaging/inpaint_prep.h"
#include "io/png_file.h"
#include "support/deepbooru_models.h"
#include "support/oracle.h"
#include "support/tensor_file.h"
#include "support/vocab.h"

using namespace sdgimp;

namespace {

std::string cli() { return std::getenv("GIMP_DIFFUSION_CLI") ? std::getenv("GIMP_DIFFUSION_CLI") : "gimp-diffusion-cli"; }

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

int run(const std::string& cmd, std::string* output) {
    FILE* p = popen((cmd + " 2>&1").c_str(), "r");
    char buf[4096];
    output->clear();
    while (size_t n = fread(buf, 1, sizeof buf, p)) output->append(buf, n);
    const int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

std::string tmpdir() {
    char tmpl[] = "/tmp/gd-cli-XXXXXX";
    return mkdtemp(tmpl);
}

}  // namespace

TEST(Cli, Txt2ImgWritesTheReferencePngs) {
    const std::string dir = tmpdir();
    int runs = 0;
    for (const auto& mdl : test::oracle_models()) {
        const std::string ref_path = mdl.dir + "/ref_t2i_euler_euler_a.safetensors";
        if (!test::file_exists(ref_path)) continue;
        auto ref = test::load_tensor_file(ref_path);
        const auto seeds = nlohmann::json::parse(ref.meta.at("seeds")).get<std::vector<int64_t>>();
        const std::string out = dir + "/" + mdl.name + ".png";
        const std::string cmd = cli() + " txt2img --quiet --model " + quote(mdl.checkpoints.front()) + " --vocab " +
                                quote(test::vocab_path()) + " --prompt " + quote(ref.meta.at("prompt")) +
                                " --steps " + ref.meta.at("steps") + " --sampler 'Euler a' --cfg-scale " +
                                ref.meta.at("cfg_scale") + " --seed " + std::to_string(seeds[0]) + " --batch-size " +
                                std::to_string(seeds.size()) + " --width " + ref.meta.at("width") + " --height " +
                                ref.meta.at("height") + " --rng cpu -o " + quote(out) + " --save-latents " +
                                quote(dir + "/latents.safetensors");
        std::string log;
        ASSERT_EQ(run(cmd, &log), 0) << log;
        // --save-latents: the sampler's output of every image, before the VAE, as the reference's samples.
        const auto lat = test::load_tensor_file(dir + "/latents.safetensors");
        const auto& want_samples = ref["samples"];
        for (size_t i = 0; i < seeds.size(); ++i) {
            const std::string key = "latent/" + std::to_string(i) + "/seed_" + std::to_string(seeds[i]);
            ASSERT_TRUE(lat.has(key)) << key;
            EXPECT_TRUE(test::all_close(lat[key], want_samples[static_cast<int64_t>(i)], 1e-3, 1e-3))
                << key << " max diff " << test::max_abs_diff(lat[key], want_samples[static_cast<int64_t>(i)]);
        }
        std::remove((dir + "/latents.safetensors").c_str());
        for (size_t i = 0; i < seeds.size(); ++i) {
            const std::string got_path = dir + "/" + mdl.name + "-" + std::to_string(i) + ".png";
            const auto got = io::read_png(got_path);
            const auto want = io::read_png(mdl.dir + "/ref_t2i_euler_euler_a_" + std::to_string(i) + ".png");
            ASSERT_EQ(got.image.width, want.image.width);
            ASSERT_EQ(got.image.height, want.image.height);
            int worst = 0;
            for (int p = 0; p < got.image.width * got.image.height; ++p)
                for (int c = 0; c < 3; ++c)
                    worst = std::max(worst, std::abs(got.image.pixels[static_cast<size_t>(p * got.image.channels + c)] -
                                                     want.image.pixels[static_cast<size_t>(p * want.image.channels + c)]));
            EXPECT_LE(worst, 1) << got_path;
            const std::string params = got.text.at("parameters");
            EXPECT_EQ(params.rfind(ref.meta.at("prompt") + "\nSteps: " + ref.meta.at("steps") + ", Sampler: Euler a, ", 0), 0u) << params;
            EXPECT_NE(params.find("Seed: " + std::to_string(seeds[i]) + ","), std::string::npos) << params;
            std::remove(got_path.c_str());
        }
        ++runs;
    }
    EXPECT_GT(runs, 0);
    for (const auto& m : test::oracle_models()) std::remove((dir + "/" + m.name + ".png").c_str());
    rmdir(dir.c_str());
}

TEST(Cli, ParametersTextReproducesTheImage) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const auto& mdl = models.front();
    const std::string dir = tmpdir();
    std::string log;
    const std::string base = cli() + " txt2img --quiet --model " + quote(mdl.checkpoints.front()) + " --vocab " + quote(test::vocab_path());
    ASSERT_EQ(run(base + " --prompt 'a (red:1.2) boat [at dusk:at dawn:0.5]' --steps 6 --sampler 'DPM++ 2M' --schedule Karras"
                         " --width 64 --height 64 --seed 42 --variation-seed 7 --variation-strength 0.1 -o " + dir + "/a.png", &log), 0) << log;
    const auto a = io::read_png(dir + "/a.png");
    const std::string params = a.text.at("parameters");
    ASSERT_EQ(run(base + " --parameters " + quote(params) + " -o " + dir + "/b.png", &log), 0) << log;
    const auto b = io::read_png(dir + "/b.png");
    EXPECT_EQ(a.image.pixels, b.image.pixels);
    EXPECT_EQ(b.text.at("parameters"), params);
    // Straight from the image file, as A1111's PNG Info reads it.
    ASSERT_EQ(run(base + " --parameters-from " + quote(dir + "/a.png") + " -o " + dir + "/c.png", &log), 0) << log;
    EXPECT_EQ(io::read_png(dir + "/c.png").image.pixels, a.image.pixels);
    // A JPEG's EXIF comment as piexif writes it ("UNICODE" and UTF-16BE in an APP1 after the start marker).
    std::string comment = std::string("UNICODE", 8);
    for (unsigned char ch : params) comment += {'\0', static_cast<char>(ch)};  // the text is ASCII
    std::string tiff = std::string("MM\0*\0\0\0\x08", 8);
    auto be = [&](uint32_t v, int bytes) {
        for (int s = 8 * (bytes - 1); s >= 0; s -= 8) tiff += static_cast<char>((v >> s) & 0xff);
    };
    be(1, 2), be(0x8769, 2), be(4, 2), be(1, 4), be(26, 4), be(0, 4);
    be(1, 2), be(0x9286, 2), be(7, 2), be(static_cast<uint32_t>(comment.size()), 4), be(44, 4), be(0, 4);
    const std::string app1 = std::string("Exif\0\0", 6) + tiff + comment;
    const size_t len = app1.size() + 2;
    {
        std::ofstream jpg(dir + "/a.jpg", std::ios::binary);
        jpg << std::string("\xFF\xD8\xFF\xE1", 4) << static_cast<char>(len >> 8) << static_cast<char>(len & 0xff) << app1 << "\xFF\xD9";
    }
    ASSERT_EQ(run(cli() + " infotext --image " + quote(dir + "/a.jpg"), &log), 0) << log;
    EXPECT_NE(log.find("\"Seed\":\"42\""), std::string::npos) << log;
    ASSERT_EQ(run(base + " --parameters-from " + quote(dir + "/a.jpg") + " -o " + dir + "/d.png", &log), 0) << log;
    EXPECT_EQ(io::read_png(dir + "/d.png").image.pixels, a.image.pixels);
    // A file without one is one sentence.
    io::write_png(dir + "/plain.png", Image{1, 1, 3, {0, 0, 0}}, {});
    EXPECT_NE(run(base + " --parameters-from " + quote(dir + "/plain.png"), &log), 0);
    EXPECT_EQ(log, "error: " + dir + "/plain.png carries no A1111 parameters text (no PNG \"parameters\" chunk or JPEG/WebP EXIF comment).\n");
    for (const char* f : {"/a.png", "/b.png", "/c.png", "/d.png", "/a.jpg", "/plain.png"}) std::remove((dir + f).c_str());
    rmdir(dir.c_str());
}

// A1111's token merging from the command line: a different image, recorded, and pasting the text
// makes the same image again; with Hires. fix the second pass merges at its own ratio.
TEST(Cli, TokenMergingIsRecordedAndReproduced) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const std::string dir = tmpdir();
    std::string log;
    const std::string base = cli() + " txt2img --quiet --model " + quote(models.front().checkpoints.front()) + " --vocab " +
                             quote(test::vocab_path()) + " --prompt 'a red boat' --steps 4 --width 64 --height 64 --seed 11";
    ASSERT_EQ(run(base + " -o " + dir + "/plain.png", &log), 0) << log;
    ASSERT_EQ(run(base + " --token-merging-ratio 0.5 -o " + dir + "/tome.png", &log), 0) << log;
    const auto plain = io::read_png(dir + "/plain.png"), tome = io::read_png(dir + "/tome.png");
    EXPECT_NE(plain.image.pixels, tome.image.pixels);
    const std::string params = tome.text.at("parameters");
    EXPECT_NE(params.find("Token merging ratio: 0.5"), std::string::npos) << params;
    EXPECT_EQ(plain.text.at("parameters").find("Token merging"), std::string::npos);
    ASSERT_EQ(run(base + " --parameters " + quote(params) + " -o " + dir + "/again.png", &log), 0) << log;
    EXPECT_EQ(io::read_png(dir + "/again.png").image.pixels, tome.image.pixels);

    const std::string hires = base + " --enable-hr 1 --hr-scale 1.5 --denoising-strength 0.5";
    ASSERT_EQ(run(hires + " -o " + dir + "/h0.png", &log), 0) << log;
    ASSERT_EQ(run(hires + " --token-merging-ratio-hr 0.5 -o " + dir + "/h1.png", &log), 0) << log;
    const auto h0 = io::read_png(dir + "/h0.png"), h1 = io::read_png(dir + "/h1.png");
    EXPECT_NE(h0.image.pixels, h1.image.pixels);
    const std::string hp = h1.text.at("parameters");
    EXPECT_NE(hp.find("Token merging ratio hr: 0.5"), std::string::npos) << hp;
    EXPECT_EQ(hp.find("Token merging ratio: "), std::string::npos) << hp;
    EXPECT_NE(run(base + " --token-merging-ratio 1.5 -o " + dir + "/bad.png", &log), 0);
    EXPECT_NE(log.find("Token merging ratios must be between 0 (none) and 0.9."), std::string::npos) << log;
    for (const char* f : {"plain", "tome", "again", "h0", "h1"}) ::unlink((dir + "/" + f + ".png").c_str());
    ::rmdir(dir.c_str());
}

// A1111's Hypertile from the command line at a size where it tiles: a different image, recorded,
// and the text makes the same image again (its tile counts are drawn from the seed).
TEST(Cli, HypertileIsRecordedAndReproduced) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const std::string dir = tmpdir();
    std::string log;
    const std::string base = cli() + " txt2img --quiet --model " + quote(models.front().checkpoints.front()) + " --vocab " +
                             quote(test::vocab_path()) + " --prompt 'a red boat' --steps 3 --width 256 --height 256 --seed 5";
    ASSERT_EQ(run(base + " -o " + dir + "/plain.png", &log), 0) << log;
    // Tiles of at most 128 px: a 256 px image has 2x2 choices at the latent's own size.
    ASSERT_EQ(run(base + " --hypertile-unet 1 --hypertile-unet-max-tile 128 --hypertile-vae 1 -o " + dir + "/tiled.png", &log), 0) << log;
    const auto plain = io::read_png(dir + "/plain.png"), tiled = io::read_png(dir + "/tiled.png");
    EXPECT_NE(plain.image.pixels, tiled.image.pixels);
    const std::string params = tiled.text.at("parameters");
    EXPECT_NE(params.find("Hypertile U-Net: True, Hypertile U-Net max tile size: 128, Hypertile VAE: True"), std::string::npos) << params;
    ASSERT_EQ(run(base + " --parameters " + quote(params) + " -o " + dir + "/again.png", &log), 0) << log;
    EXPECT_EQ(io::read_png(dir + "/again.png").image.pixels, tiled.image.pixels);
    for (const char* f : {"plain", "tiled", "again"}) ::unlink((dir + "/" + f + ".png").c_str());
    ::rmdir(dir.c_str());
}

// remove (PatchMatch here; the LaMa path has its own tests), sd-upscale and outpaint from the command line.
TEST(Cli, RemoveAndSdUpscale) {
    const std::string dir = tmpdir();
    Image img{64, 48, 3, std::vector<uint8_t>(64 * 48 * 3)};
    for (int y = 0; y < 48; ++y)
        for (int x = 0; x < 64; ++x)
            for (int c = 0; c < 3; ++c) img.pixels[(static_cast<size_t>(y) * 64 + x) * 3 + c] = static_cast<uint8_t>((x * 4 + y * (c + 1)) % 256);
    Image mask{64, 48, 1, std::vector<uint8_t>(64 * 48, 0)};
    for (int y = 20; y < 30; ++y)
        for (int x = 25; x < 35; ++x) mask.pixels[static_cast<size_t>(y) * 64 + x] = 255;
    io::write_png(dir + "/in.png", img);
    io::write_png(dir + "/mask.png", mask);
    std::string log;
    ASSERT_EQ(run(cli() + " remove --quiet --method PatchMatch --init-image " + dir + "/in.png --mask " + dir + "/mask.png -o " +
                      dir + "/out.png", &log), 0) << log;
    const Image out = io::read_png(dir + "/out.png").image;
    ASSERT_EQ(out.width, 64);
    ASSERT_EQ(out.height, 48);
    int changed_outside = 0, changed_inside = 0;
    for (size_t i = 0; i < mask.pixels.size(); ++i)
        for (int c = 0; c < 3; ++c) {
            const bool diff = out.pixels[i * out.channels + c] != img.pixels[i * 3 + c];
            (mask.pixels[i] ? changed_inside : changed_outside) += diff;
        }
    EXPECT_EQ(changed_outside, 0);
    EXPECT_GT(changed_inside, 0);
    EXPECT_NE(run(cli() + " remove --init-image " + dir + "/in.png --mask " + dir + "/in.png --method Telea", &log), 0);
    EXPECT_NE(log.find("Unknown removal method"), std::string::npos) << log;
    // A1111's Extras upscale: its sizes and its text under the PNG's "postprocessing" key.
    ASSERT_EQ(run(cli() + " extras --quiet --init-image " + dir + "/in.png --upscaler-1 Lanczos --upscaler-2 Nearest" +
                      " --upscaler-2-visibility 0.25 --scale-to 100x80 -o " + dir + "/ex.png", &log), 0) << log;
    const auto ex = io::read_png(dir + "/ex.png");
    EXPECT_EQ(ex.image.width, 100);
    EXPECT_EQ(ex.image.height, 80);
    EXPECT_EQ(ex.text.at("postprocessing"),
              "Postprocess upscale to: 100x80, Postprocess crop to: 100x80, Postprocess upscaler: Lanczos, Postprocess upscaler 2: Nearest");
    std::remove((dir + "/ex.png").c_str());
    EXPECT_NE(run(cli() + " extras --init-image " + dir + "/in.png --scale-to 100 -o " + dir + "/ex.png", &log), 0);
    EXPECT_NE(log.find("--scale-to takes WIDTHxHEIGHT"), std::string::npos) << log;

    int runs = 0;
    for (const auto& mdl : test::oracle_models()) {
        if (mdl.name != "tiny-sd1") continue;
        ASSERT_EQ(run(cli() + " sd-upscale --quiet --model " + quote(mdl.checkpoints.front()) + " --vocab " + quote(test::vocab_path()) +
                          " --init-image " + dir + "/in.png --upscaler Lanczos --scale 2 --width 64 --height 64 --overlap 16" +
                          " --steps 4 --seed 5 --prompt detailed -o " + dir + "/up.png", &log), 0) << log;
        const auto up = io::read_png(dir + "/up.png");
        EXPECT_EQ(up.image.width, 128);
        EXPECT_EQ(up.image.height, 96);
        EXPECT_NE(up.text.at("parameters").find("Denoising strength: 0.3"), std::string::npos) << up.text.at("parameters");
        std::remove((dir + "/up.png").c_str());
        // Poor man's outpainting upwards: 48 + 16 rows, the new rows painted.
        ASSERT_EQ(run(cli() + " outpaint --quiet --model " + quote(mdl.checkpoints.front()) + " --vocab " + quote(test::vocab_path()) +
                          " --init-image " + dir + "/in.png --directions up --pixels 16 --width 64 --height 64" +
                          " --steps 2 --seed 5 --prompt sky -o " + dir + "/wide.png", &log), 0) << log;
        const auto wide = io::read_png(dir + "/wide.png");
        EXPECT_EQ(wide.image.width, 64);
        EXPECT_EQ(wide.image.height, 64);
        EXPECT_NE(wide.text.at("parameters").find("Mask blur: 8, Masked content: fill"), std::string::npos) << wide.text.at("parameters");
        int painted = 0;
        for (size_t i = 0; i < 64 * 8 * 3; ++i) painted += wide.image.pixels[i] != 0;
        EXPECT_GT(painted, 0) << "the new rows stayed black";
        EXPECT_NE(run(cli() + " outpaint --quiet --model " + quote(mdl.checkpoints.front()) + " --init-image " + dir +
                          "/in.png --directions sideways -o " + dir + "/wide.png", &log), 0);
        EXPECT_NE(log.find("Unknown outpainting direction \"sideways\""), std::string::npos) << log;
        // Outpainting mk2 downwards, two images.
        ASSERT_EQ(run(cli() + " outpaint --mk2 1 --quiet --model " + quote(mdl.checkpoints.front()) + " --vocab " + quote(test::vocab_path()) +
                          " --init-image " + dir + "/in.png --directions down --pixels 16 --outpaint-mask-blur 2 --width 64 --height 64" +
                          " --batch-size 2 --steps 2 --seed 5 --prompt ground -o " + dir + "/mk2.png", &log), 0) << log;
        for (const char* f : {"/mk2-0.png", "/mk2-1.png"}) {
            const auto m = io::read_png(dir + f);
            EXPECT_EQ(m.image.width, 64);
            EXPECT_EQ(m.image.height, 64);
            EXPECT_NE(m.text.at("parameters").find("Mask blur: 8, Version"), std::string::npos) << m.text.at("parameters");
            std::remove((dir + f).c_str());
        }
        std::remove((dir + "/wide.png").c_str());
        // img2img with A1111's colour correction: the plain result matched to the init image.
        Image sq{64, 64, 3, std::vector<uint8_t>(64 * 64 * 3)};
        for (size_t i = 0; i < sq.pixels.size(); ++i) sq.pixels[i] = static_cast<uint8_t>((i * 11 + i / 190) % 247);
        io::write_png(dir + "/sq.png", sq);
        const std::string i2i = cli() + " img2img --quiet --model " + quote(mdl.checkpoints.front()) + " --vocab " +
                                quote(test::vocab_path()) + " --init-image " + dir + "/sq.png --steps 3 --seed 5 --prompt moss" +
                                " --denoising-strength 0.5 -o ";
        ASSERT_EQ(run(i2i + dir + "/plain.png", &log), 0) << log;
        ASSERT_EQ(run(i2i + dir + "/cc.png --color-correction 1", &log), 0) << log;
        const Image plain = io::read_png(dir + "/plain.png").image, cc = io::read_png(dir + "/cc.png").image;
        EXPECT_EQ(cc.pixels, imaging::apply_color_correction(imaging::color_correction_target(sq), imaging::to_rgb(plain)).pixels);
        EXPECT_NE(cc.pixels, imaging::to_rgb(plain).pixels);
        for (const char* f : {"/plain.png", "/cc.png", "/sq.png"}) std::remove((dir + f).c_str());
        ++runs;
    }
    EXPECT_EQ(runs, 1);
    for (const char* f : {"/in.png", "/mask.png", "/out.png"}) std::remove((dir + f).c_str());
    rmdir(dir.c_str());
}

TEST(Cli, BadInputGivesOneSentence) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    std::string log;
    const std::string model = quote(models.front().checkpoints.front());
    struct Case { std::string args; std::string expect; };
    for (const Case& c : std::vector<Case>{
             {"txt2img --prompt x", "--model"},
             {"txt2img --model /nonexistent.safetensors --prompt x", "/nonexistent.safetensors"},
             {"txt2img --model " + model + " --width 100", "multiples of 8"},
             {"txt2img --model " + model + " --sampler Bogus", "Unknown sampler"},
             {"txt2img --model " + model + " --bogus 1", "Unknown option --bogus"},
             {"txt2img --model " + model + " --steps many", "needs a number"},
             {"img2img --model " + model, "--init-image"},
             {"tokenize", "one prompt"}}) {
        SCOPED_TRACE(c.args);
        const int rc = run(cli() + " " + c.args + " --vocab " + quote(test::vocab_path()), &log);
        EXPECT_NE(rc, 0);
        EXPECT_NE(log.find("error: "), std::string::npos) << log;
        EXPECT_NE(log.find(c.expect), std::string::npos) << log;
        EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
    }
}

// interrogate: A1111's Interrogate DeepBooru text on stdout, its settings as options; a missing
// tagger or an unknown option is one sentence.
TEST(Cli, InterrogatePrintsDeepBooruTags) {
    const std::string dir = tmpdir();
    test::write_danbooru(dir + "/model-resnet_custom_v3.pt", test::fixed_danbooru({0.9f, 0.99f, 0.7f, 0.2f}),
                         {"pebbles", "rating:safe", "grey_stone", "sky"});
    const std::string png = dir + "/in.png";
    io::write_png(png, Image{16, 8, 3, std::vector<uint8_t>(16 * 8 * 3, 120)}, {});
    std::string out;
    ASSERT_EQ(run(cli() + " interrogate --init-image " + quote(png) + " --deepbooru-dir " + quote(dir), &out), 0) << out;
    EXPECT_EQ(out, "grey stone, pebbles\n");
    ASSERT_EQ(run(cli() + " interrogate --init-image " + quote(png) + " --deepbooru-dir " + quote(dir) +
                      " --sort-alpha 0 --include-ranks 1 --use-spaces 0 --threshold 0.75",
                  &out),
              0)
        << out;
    EXPECT_EQ(out, "(pebbles:0.900)\n");
    EXPECT_EQ(run(cli() + " interrogate --init-image " + quote(png) + " --deepbooru-dir " + quote(dir + "/none"), &out), 1);
    EXPECT_EQ(out, "error: DeepBooru was not found: put model-resnet_custom_v3.pt (AUTOMATIC1111's TorchDeepDanbooru release) in " + dir +
                       "/none.\n");
    EXPECT_NE(run(cli() + " interrogate --init-image " + quote(png) + " --clip 1", &out), 0);
    EXPECT_NE(out.find("Unknown option --clip for interrogate"), std::string::npos) << out;
    std::system(("rm -rf " + quote(dir)).c_str());
}

// --styles merges A1111 styles into the prompts the image records; an unknown name is one sentence.
TEST(Cli, StylesMergeIntoTheRecordedPrompts) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const std::string dir = tmpdir();
    {
        std::FILE* f = std::fopen((dir + "/styles.csv").c_str(), "wb");
        ASSERT_NE(f, nullptr);
        std::fputs("name,prompt,negative_prompt\nFilm,\"{prompt}, film grain\",digital\nSharp,sharp focus,\n", f);
        std::fclose(f);
    }
    const std::string base = cli() + " txt2img --model " + quote(models.front().checkpoints.front()) + " --vocab " +
                             quote(test::vocab_path()) + " --steps 1 --width 64 --height 64 --quiet --styles-file " +
                             quote(dir + "/styles.csv");
    std::string log;
    ASSERT_EQ(run(base + " --prompt 'a house' --negative-prompt ugly --styles Film,Sharp -o " + quote(dir + "/s.png"), &log), 0) << log;
    const std::string params = io::read_png(dir + "/s.png").text.at("parameters");
    EXPECT_EQ(params.rfind("a house, film grain, sharp focus\nNegative prompt: ugly, digital\n", 0), 0u) << params;
    EXPECT_NE(run(base + " --prompt x --styles Nope", &log), 0);
    EXPECT_NE(log.find("error: The style \"Nope\" is not in " + dir + "/styles.csv; use one of its names or another --styles-file."),
              std::string::npos) << log;
    ::unlink((dir + "/s.png").c_str());
    ::unlink((dir + "/styles.csv").c_str());
    ::rmdir(dir.c_str());
}

TEST(Cli, TextCommandsAnswerInJson) {
    std::string out;
    ASSERT_EQ(run(cli() + " tokenize --family sd2 --vocab " + quote(test::vocab_path()) + " 'a (red:1.2) boat BREAK at dusk'", &out), 0) << out;
    auto j = nlohmann::json::parse(out);
    EXPECT_EQ(j["token_count"], 77);  // "a red boat" closes a chunk at BREAK (75), then "at dusk" (2)
    EXPECT_EQ(j["counter"], "77/150");
    ASSERT_EQ(j["chunks"].size(), 2u);
    EXPECT_EQ(j["chunks"][0]["multipliers"][2], 1.2);
    EXPECT_EQ(j["chunks"][0]["transformer_tokens"][5], 0);  // SD 2.x pads with 0 after the end token

    ASSERT_EQ(run(cli() + " parse-prompt --steps 10 'a [dog:cat:0.5] AND a tree :0.5 <lora:x:0.8>'", &out), 0) << out;
    j = nlohmann::json::parse(out);
    EXPECT_EQ(j["extra_networks"]["lora"][0], (nlohmann::json{"x", "0.8"}));
    ASSERT_EQ(j["subprompts"].size(), 2u);
    EXPECT_EQ(j["subprompts"][0]["schedule"][0]["end_at_step"], 5);
    EXPECT_EQ(j["subprompts"][0]["schedule"][1]["text"], "a cat");
    EXPECT_EQ(j["subprompts"][1]["weight"], 0.5);

    const std::string text = "a cat\nNegative prompt: dog\nSteps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 5, Size: 512x768, Hires upscale: 2, ADetailer model: face_yolov8n.pt";
    ASSERT_EQ(run("printf '%s' " + quote(text) + " | " + cli() + " infotext", &out), 0) << out;
    j = nlohmann::json::parse(out);
    EXPECT_EQ(j["Prompt"], "a cat");
    EXPECT_EQ(j["Size-2"], "768");
    EXPECT_EQ(j["_ignored"], (nlohmann::json{"ADetailer model"}));  // hires keys are used (Hires. fix)

    ASSERT_EQ(run(cli() + " infotext --build --prompt 'a cat' --steps 20 --seed 5 --cfg-scale 7 --width 512 --height 768", &out), 0) << out;
    EXPECT_EQ(out, "a cat\nSteps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7.0, Seed: 5, Size: 512x768, Version: v1.10.1\n");
    // A run that restores faces says so where A1111 does.
    ASSERT_EQ(run(cli() + " infotext --build --prompt 'a cat' --steps 20 --seed 5 --cfg-scale 7 --width 512 --height 768 --face-restoration GFPGAN", &out), 0) << out;
    EXPECT_EQ(out, "a cat\nSteps: 20, Sampler: Euler a, Schedule type: Automatic, CFG scale: 7.0, Seed: 5, Face restoration: GFPGAN, Size: 512x768, Version: v1.10.1\n");
}
