// A1111's "Interrogate DeepBooru" (modules/deepbooru.py and deepbooru_model.py, 1.10): the tag text
// against A1111's tag_multi worked in CPython (thresholds, "rating:" tags, both sort orders, the
// filter, spaces, escapes and ranks); DeepDanbooru's network against A1111's forward transcribed op
// by op on a narrow model in the release layout; the 512-pixel letterbox input; the file found,
// read with its tag list, kept and read again when replaced; missing and damaged files named.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "io/mapped_file.h"
#include "io/torch_pickle_checkpoint.h"
#include "models/deepdanbooru.h"
#include "pipeline/deepbooru.h"
#include "status.h"
#include "support/deepbooru_models.h"
#include "support/error_text.h"
#include "text/deepbooru_tags.h"

using namespace sdgimp;
using namespace sdgimp::test;

namespace {

std::string temp_dir() {
    char tmpl[] = "/tmp/gd-booru-XXXXXX";
    const char* d = mkdtemp(tmpl);
    return d ? d : "";
}

Image solid(int w, int h, int channels, std::vector<uint8_t> value) {
    Image img{w, h, channels, {}};
    for (int i = 0; i < w * h; ++i) img.pixels.insert(img.pixels.end(), value.begin(), value.end());
    return img;
}

text::DeepBooruOptions options(double threshold, bool alpha, bool spaces, bool escape, bool ranks, std::string filter = "") {
    text::DeepBooruOptions o;
    o.threshold = threshold, o.sort_alpha = alpha, o.use_spaces = spaces, o.escape = escape, o.include_ranks = ranks;
    o.filter_tags = std::move(filter);
    return o;
}

}  // namespace

// Expected strings: A1111's tag_multi run in CPython on these float32 scores.
TEST(DeepBooruText, FollowsA1111sTagMulti) {
    const std::vector<std::string> tags = {"1girl", "solo", "long_hair", "smile", "rating:safe", "hat_(object)", "back\\slash",
                                           "open_mouth", "zzz_tail", "Alpha", "blue_eyes", "thr_35"};
    const std::vector<float> p = {0.97f, 0.5f, 0.49999997f, 0.8f, 0.99f, 0.75f, 0.6f, 0.8f, 0.51f, 0.65f, 0.3f, 0.35f};
    EXPECT_EQ(text::deepbooru_text(tags, p, text::DeepBooruOptions{}),
              "1girl, Alpha, back\\\\slash, hat \\(object\\), open mouth, smile, solo, zzz tail");
    // By score, ties in the file's order; underscores and brackets kept; ranks to three places.
    EXPECT_EQ(text::deepbooru_text(tags, p, options(0.5, false, false, false, true)),
              "(1girl:0.970), (smile:0.800), (open_mouth:0.800), (hat_(object):0.750), (Alpha:0.650), (back\\slash:0.600), "
              "(zzz_tail:0.510), (solo:0.500)");
    // The filter's names stripped and spelled with underscores; float32(0.35) is below 0.35 in
    // NumPy 1.26's float64 comparison.
    EXPECT_EQ(text::deepbooru_text(tags, p, options(0.35, true, true, true, false, " long hair , smile,zzz_tail")),
              "1girl, Alpha, back\\\\slash, hat \\(object\\), open mouth, solo");
    EXPECT_EQ(text::deepbooru_text(tags, p, options(0.0, false, true, true, true)),
              "(1girl:0.970), (smile:0.800), (open mouth:0.800), (hat \\(object\\):0.750), (Alpha:0.650), (back\\\\slash:0.600), "
              "(zzz tail:0.510), (solo:0.500), (long hair:0.500), (thr 35:0.350), (blue eyes:0.300)");
    EXPECT_EQ(text::deepbooru_text(tags, p, options(1.0, true, true, true, false)), "");
    // A tag listed twice is one dict entry: its first place, its last passing score.
    EXPECT_EQ(text::deepbooru_text({"a", "b", "a"}, {0.9f, 0.6f, 0.7f}, options(0.5, false, true, true, true)), "(a:0.700), (b:0.600)");
    EXPECT_EQ(text::deepbooru_text({"a", "b", "a"}, {0.9f, 0.6f, 0.3f}, options(0.5, false, true, true, true)), "(a:0.900), (b:0.600)");
    for (double bad : {-0.1, 1.5, std::nan("")})
        EXPECT_EQ(error_of([&] { text::validate_deepbooru_options(options(bad, true, true, true, false)); }),
                  "The DeepBooru score threshold must be between 0 and 1.");
}

TEST(DeepDanbooru, IsA1111sForwardWithTheReleaseNumbering) {
    int blocks = 0;
    for (const auto& r : models::DeepDanbooru::runs()) blocks += r.blocks;
    EXPECT_EQ(blocks, static_cast<int>(danbooru_blocks().size()));
    torch::manual_seed(3);
    const auto m = small_danbooru(7);
    std::vector<std::string> tags;
    for (int i = 0; i < 7; ++i) tags.push_back("tag_" + std::to_string(i));
    const auto net = models::DeepDanbooru::from_tensors(m, tags, "small.pt");
    EXPECT_EQ(net.tags(), tags);
    const torch::Tensor x = torch::rand({1, 512, 512, 3});
    std::vector<int64_t> head;
    const torch::Tensor want = danbooru_reference(m, x, &head);
    EXPECT_EQ(head, (std::vector<int64_t>{1, 7, 4, 4}));  // 512 halved seven times
    const torch::Tensor got = net.forward(x);
    ASSERT_EQ(got.sizes().vec(), std::vector<int64_t>{7});
    EXPECT_LT((got - want).abs().max().item<double>(), 1e-5);
    // The scores depend on the picture (the random weights reach the head).
    EXPECT_GT((net.forward(torch::rand({1, 512, 512, 3})) - got).abs().max().item<double>(), 1e-4);
}

TEST(DeepDanbooru, NamesWhatIsMissingOrMisShaped) {
    torch::manual_seed(4);
    const auto good = small_danbooru(3);
    const std::vector<std::string> tags = {"a", "b", "c"};
    auto without = [&](const std::string& key) {
        auto m = good;
        m.erase(key);
        return error_of([&] { models::DeepDanbooru::from_tensors(m, tags, "/x/db.pt"); });
    };
    EXPECT_EQ(without("n_Conv_98.bias"),
              "/x/db.pt: has no n_Conv_98.bias; the file is damaged or not DeepDanbooru's model-resnet_custom_v3.pt.");
    EXPECT_NE(without("n_Conv_0.weight").find("is not a DeepDanbooru tagger"), std::string::npos);
    auto m = good;
    m["n_Conv_40.weight"] = torch::zeros({3, 12, 1, 1});
    EXPECT_NE(error_of([&] { models::DeepDanbooru::from_tensors(m, tags, "/x/db.pt"); }).find("has n_Conv_40.bias of shape [4] where [3] fits"), std::string::npos);
    m["n_Conv_40.bias"] = torch::zeros({3});
    EXPECT_NE(error_of([&] { models::DeepDanbooru::from_tensors(m, tags, "/x/db.pt"); })
                  .find("has n_Conv_41.weight of shape [4, 4, 3, 3] where a 3x3 convolution over 3 channels fits"),
              std::string::npos);
    m = good;
    m["n_Conv_100.weight"] = torch::zeros({8, 12, 1, 1});
    m["n_Conv_100.bias"] = torch::zeros({8});
    EXPECT_NE(error_of([&] { models::DeepDanbooru::from_tensors(m, tags, "/x/db.pt"); }).find("n_Conv_100 of 8 channels where its block gives 12"),
              std::string::npos);
    EXPECT_NE(error_of([&] { models::DeepDanbooru::from_tensors(good, {"a", "b"}, "/x/db.pt"); }).find("has 2 tags for 3 scores"), std::string::npos);
    m = good;
    m["n_Conv_178.bias"] = torch::zeros({3});
    EXPECT_NE(error_of([&] { models::DeepDanbooru::from_tensors(m, tags, "/x/db.pt"); }).find("bias on n_Conv_178"), std::string::npos);
    // Any key dropped or given another shape ends in a sentence naming the file, never a LibTorch error.
    std::vector<std::string> keys;
    for (const auto& kv : good) keys.push_back(kv.first);
    std::srand(11);
    for (int trial = 0; trial < 300; ++trial) {
        auto d = good;
        const std::string& key = keys[static_cast<size_t>(std::rand()) % keys.size()];
        if (trial % 2) d.erase(key);
        else {
            std::vector<int64_t> shape = d[key].sizes().vec();
            shape[static_cast<size_t>(std::rand()) % shape.size()] += 1 + std::rand() % 3;
            d[key] = torch::zeros(shape);
        }
        try {
            models::DeepDanbooru::from_tensors(d, tags, "/x/db.pt");
            ADD_FAILURE() << "accepted a damaged " << key;
        } catch (const Error& e) {
            EXPECT_NE(std::string(e.what()).find("/x/db.pt"), std::string::npos) << e.what();
        } catch (const std::exception& e) {
            ADD_FAILURE() << key << ": " << e.what();
        }
    }
}

TEST(DeepBooruInput, LetterboxesTheRgbPictureInto512) {
    // Alpha is dropped, not composited (PIL's convert("RGB")); a gray picture spreads to RGB.
    for (const Image& img : {solid(300, 120, 4, {200, 100, 50, 0}), solid(97, 333, 3, {200, 100, 50})}) {
        const torch::Tensor x = pipeline::deepbooru_input(img);
        ASSERT_EQ(x.sizes().vec(), (std::vector<int64_t>{1, 512, 512, 3}));
        EXPECT_EQ(x.scalar_type(), torch::kFloat);
        for (int c = 0; c < 3; ++c)
            EXPECT_EQ((x.select(3, c) - (c == 0 ? 200.f : c == 1 ? 100.f : 50.f) / 255.f).abs().max().item<float>(), 0.f);
    }
    const torch::Tensor g = pipeline::deepbooru_input(solid(64, 64, 2, {77, 255}));
    EXPECT_EQ((g - 77.f / 255.f).abs().max().item<float>(), 0.f);
    // A wide picture: white above black; the fill repeats its first row above and its last below.
    Image wide = solid(512, 256, 3, {255, 255, 255});
    for (size_t i = wide.pixels.size() / 2; i < wide.pixels.size(); ++i) wide.pixels[i] = 0;
    const torch::Tensor w = pipeline::deepbooru_input(wide);
    EXPECT_EQ(w[0][0][100][1].item<float>(), 1.f);
    EXPECT_EQ(w[0][200][100][1].item<float>(), 1.f);
    EXPECT_EQ(w[0][300][100][1].item<float>(), 0.f);
    EXPECT_EQ(w[0][511][100][1].item<float>(), 0.f);
    EXPECT_EQ(error_of([] { pipeline::deepbooru_input(Image{}); }), "DeepBooru needs a picture; the image is empty.");
    EXPECT_EQ(error_of([] { pipeline::deepbooru_input(solid(1, 1000, 3, {1, 2, 3})); }),
              "The picture (1x1000) is too narrow for DeepBooru's 512x512 input; select a part closer to square.");
    EXPECT_EQ(pipeline::deepbooru_input(solid(1, 512, 3, {1, 2, 3})).size(2), 512);  // one pixel wide still fits
}

TEST(DeepBooruTagger, ReadsTheReleaseFileAndTagsThroughTheEngine) {
    const std::string dir = temp_dir();
    ASSERT_FALSE(dir.empty());
    ASSERT_EQ(::mkdir((dir + "/DeepDanbooru").c_str(), 0755), 0);
    const std::string file = dir + "/DeepDanbooru/model-resnet_custom_v3.pt";
    const std::vector<std::string> tags = {"1girl", "rating:safe", "smile", "hat_(object)", "blue_eyes"};
    write_danbooru(file, fixed_danbooru({0.9f, 0.99f, 0.6f, 0.75f, 0.2f}), tags);
    // The tag list reads back from the pickle as torch.load gives it.
    const io::PickleTree tree = io::read_torch_tree(io::MappedFile::open(file));
    ASSERT_TRUE(tree.values.count("tags.3"));
    EXPECT_EQ(tree.values.at("tags.3").text, "hat_(object)");

    Engine engine;
    DeepBooruSettings s;
    s.model_dirs = {dir + "/DeepDanbooru"};
    std::string out;
    const Image picture = solid(200, 150, 3, {10, 20, 30});
    Status st = engine.interrogate_deepbooru(picture, s, RunCallbacks{}, &out);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(out, "1girl, hat \\(object\\), smile");
    s.options.include_ranks = true, s.options.sort_alpha = false;
    ASSERT_TRUE(engine.interrogate_deepbooru(picture, s, RunCallbacks{}, &out).ok);
    EXPECT_EQ(out, "(1girl:0.900), (hat \\(object\\):0.750), (smile:0.600)");

    // Found through the environment's folder too, and read again once replaced on disk.
    ::setenv("GIMP_DIFFUSION_DEEPBOORU_DIR", (dir + "/DeepDanbooru").c_str(), 1);
    s.model_dirs.clear();
    s.options = {};
    ::usleep(20000);
    write_danbooru(file, fixed_danbooru({0.9f, 0.99f, 0.6f, 0.75f, 0.7f, 0.8f}), {"1girl", "rating:safe", "smile", "hat", "blue_eyes", "a_b"});
    st = engine.interrogate_deepbooru(picture, s, RunCallbacks{}, &out);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(out, "1girl, a b, blue eyes, hat, smile");
    ::unsetenv("GIMP_DIFFUSION_DEEPBOORU_DIR");

    // Refusals: each one sentence.
    const std::string empty = temp_dir();
    s.model_dirs = {empty};
    st = engine.interrogate_deepbooru(picture, s, RunCallbacks{}, &out);
    EXPECT_EQ(st.code, ErrorCode::kModelNotFound);
    EXPECT_EQ(st.message, "DeepBooru was not found: put model-resnet_custom_v3.pt (AUTOMATIC1111's TorchDeepDanbooru release) in " + empty + ".");
    s.model_dirs = {dir + "/DeepDanbooru"};
    s.options.threshold = 2;
    st = engine.interrogate_deepbooru(picture, s, RunCallbacks{}, &out);
    EXPECT_EQ(st.code, ErrorCode::kInvalidRequest);
    EXPECT_EQ(st.message, "The DeepBooru score threshold must be between 0 and 1.");
    s.options = {};
    EXPECT_EQ(engine.interrogate_deepbooru(Image{}, s, RunCallbacks{}, &out).message, "Cannot interrogate an empty image.");
    // No tag list; a tag that is not text; weights that are not numbers; a cut-off file.
    const std::string odd = empty + "/odd.pt";
    auto m = fixed_danbooru({0.9f, 0.2f});
    write_danbooru(odd, m, {});
    s.model_dirs = {empty};
    st = engine.interrogate_deepbooru(picture, s, RunCallbacks{}, &out);
    EXPECT_EQ(st.message, odd + ": has no tag list; the file is damaged or not DeepDanbooru's model-resnet_custom_v3.pt.");
    m[dconv(178) + ".weight"].fill_(std::nan(""));
    write_danbooru(odd, m, {"x", "y"});
    st = engine.interrogate_deepbooru(picture, s, RunCallbacks{}, &out);
    EXPECT_EQ(st.code, ErrorCode::kBadFile);
    EXPECT_NE(st.message.find("gave scores that are not numbers"), std::string::npos) << st.message;
    {
        std::ifstream in(odd, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        std::ofstream cut(odd, std::ios::binary | std::ios::trunc);
        cut.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
    }
    st = engine.interrogate_deepbooru(picture, s, RunCallbacks{}, &out);
    EXPECT_FALSE(st.ok);
    EXPECT_NE(st.message.find(odd), std::string::npos) << st.message;
    EXPECT_EQ(st.message.find('\n'), std::string::npos);
    std::system(("rm -rf '" + dir + "' '" + empty + "'").c_str());
}
