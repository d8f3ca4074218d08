// The resident engine as the plug-in uses it: started on demand, the model kept between calls,
// progress events, cancel within a step, and a fresh engine after a crash. Torch-free client side.
#include <gtest/gtest.h>

#include <cstdlib>
#include <unistd.h>

#include "client/engine_client.h"
#include "support/oracle.h"
#include "support/vocab.h"

using namespace sdgimp;

namespace {

std::string cli() { return std::getenv("GIMP_DIFFUSION_CLI") ? std::getenv("GIMP_DIFFUSION_CLI") : "gimp-diffusion-cli"; }

wire::Message op(const std::string& name) {
    wire::Message m;
    m.header = {{"op", name}};
    return m;
}

wire::Message txt2img(const std::string& model, int steps) {
    wire::Message m = op("txt2img");
    GenerateRequest r;
    r.prompt = "a lighthouse";
    r.steps = steps;
    r.width = r.height = 64;
    r.seed = 3;
    m.header["request"] = wire::request_to_json(r);
    m.header["model"] = {{"path", model}, {"vocab", test::vocab_path()}};
    m.header["preview_every"] = 2;
    return m;
}

}  // namespace

TEST(EngineServer, ResidentCancelCrashRestart) {
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const std::string model = models.front().checkpoints.front();
    setenv("GIMP_DIFFUSION_ALLOW_TEST_CRASH", "1", 1);
    client::ClientConfig cfg;
    cfg.engine_path = cli();
    cfg.socket_path = "/tmp/gd-test-" + std::to_string(getpid()) + ".sock";
    cfg.parent_pid = getpid();
    client::EngineClient c(cfg);

    wire::Message res;
    ASSERT_TRUE(c.call(op("ping"), {}, {}, &res).ok);
    const int pid1 = res.header["pid"];
    EXPECT_EQ(res.header["model_loads"], 0);

    int progress = 0, previews = 0;
    auto on_event = [&](const wire::Message& ev) {
        if (ev.header["event"] == "progress") progress = ev.header["done"];
        if (ev.header["event"] == "preview") {
            const Image img = wire::image_from(ev.header["image"], ev);
            EXPECT_EQ(img.width, 8);
            ++previews;
        }
    };
    Status st = c.call(txt2img(model, 4), on_event, {}, &res);
    ASSERT_TRUE(st.ok) << st.message;
    EXPECT_EQ(progress, 4);
    EXPECT_EQ(previews, 2);
    ASSERT_EQ(res.header["images"].size(), 1u);
    const Image img = wire::image_from(res.header["images"][0], res);
    EXPECT_EQ(img.width, 64);
    EXPECT_NE(res.header["images"][0]["infotext"].get<std::string>().find("Seed: 3,"), std::string::npos);

    // A second call does not load the model again.
    ASSERT_TRUE(c.call(txt2img(model, 2), {}, {}, &res).ok);
    EXPECT_EQ(res.header["model_loads"], 1);

    // Cancel after the second step: the run stops and says so.
    progress = 0;
    st = c.call(txt2img(model, 20), on_event, [&] { return progress >= 2; }, &res);
    EXPECT_FALSE(st.ok);
    EXPECT_EQ(st.code, ErrorCode::kCancelled);
    EXPECT_LE(progress, 4);

    // Bad input comes back as one sentence; the engine stays up.
    wire::Message bad = txt2img(model, 2);
    bad.header["request"]["width"] = 100;
    st = c.call(bad, {}, {}, &res);
    EXPECT_EQ(st.code, ErrorCode::kInvalidRequest);
    EXPECT_NE(st.message.find("multiples of 8"), std::string::npos);

    // img2img with colour correction: a colour reference in the message (Loopback's first image)
    // is what the results match; the init image as reference is the same as none.
    Image init{64, 64, 3, std::vector<uint8_t>(64 * 64 * 3)};
    for (size_t i = 0; i < init.pixels.size(); ++i) init.pixels[i] = static_cast<uint8_t>((i * 13 + i / 97) % 239);
    Image warm{32, 32, 3, std::vector<uint8_t>(32 * 32 * 3)};
    for (size_t i = 0; i < warm.pixels.size(); ++i) warm.pixels[i] = static_cast<uint8_t>(i % 3 == 0 ? 200 + i % 40 : 40 + i % 50);
    auto i2i = [&](const Image* reference) {
        wire::Message m = txt2img(model, 3);
        m.header["op"] = "img2img";
        m.header["request"]["img2img_color_correction"] = true;
        m.header["image"] = wire::attach_image(&m, init);
        if (reference) m.header["color_reference"] = wire::attach_image(&m, *reference);
        wire::Message out;
        const Status s = c.call(m, {}, {}, &out);
        EXPECT_TRUE(s.ok) << s.message;
        return s.ok ? wire::image_from(out.header["images"][0], out).pixels : std::vector<uint8_t>();
    };
    const auto own = i2i(nullptr);
    ASSERT_FALSE(own.empty());
    EXPECT_EQ(i2i(&init), own);
    EXPECT_NE(i2i(&warm), own);

    // The Upscale procedure's LDSR steps travel with the request (read before any upscaler runs).
    wire::Message up = op("upscale");
    up.header["upscaler"] = "Lanczos";
    up.header["scale"] = 2.0;
    up.header["image"] = wire::attach_image(&up, warm);
    ASSERT_TRUE(c.call(up, {}, {}, &res).ok);
    EXPECT_EQ(wire::image_from(res.header["image"], res).width, 64);
    up.header["ldsr_steps"] = 0;
    st = c.call(up, {}, {}, &res);
    EXPECT_EQ(st.code, ErrorCode::kInvalidRequest);
    EXPECT_NE(st.message.find("LDSR steps must be between 1 and 1000"), std::string::npos) << st.message;

    // Restore Faces: its folders and visibility travel with the request (the first folder named
    // where the files go when none holds them; the full run is in face-restore and gimp-workflow).
    wire::Message faces = op("restore-faces");
    const std::string nowhere = "/tmp/gd-no-faces-" + std::to_string(getpid());
    faces.header["model_dirs"] = {nowhere};
    faces.header["restorer"] = "GFPGAN";
    faces.header["visibility"] = 0.5;
    faces.header["image"] = wire::attach_image(&faces, warm);
    st = c.call(faces, {}, {}, &res);
    EXPECT_EQ(st.code, ErrorCode::kModelNotFound);
    EXPECT_EQ(st.message, "GFPGAN was not found: put GFPGANv1.4.pth (TencentARC's release) in " + nowhere + ".");
    faces.header["visibility"] = 2.0;
    st = c.call(faces, {}, {}, &res);
    EXPECT_EQ(st.message, "GFPGAN visibility must be between 0 and 1.");
    faces.header.erase("restorer");  // CodeFormer, A1111's default, and its weight
    faces.header["visibility"] = 1.0;
    st = c.call(faces, {}, {}, &res);
    EXPECT_EQ(st.message, "CodeFormer was not found: put codeformer-v0.1.0.pth (sczhou's release) in " + nowhere + ".");
    faces.header["codeformer_weight"] = -0.5;
    st = c.call(faces, {}, {}, &res);
    EXPECT_EQ(st.message, "CodeFormer weight must be between 0 and 1.");

    // Interrogate DeepBooru: its folders and A1111's settings travel with the request (the tagging
    // itself is in deepbooru and gimp-workflow).
    wire::Message booru = op("interrogate-deepbooru");
    st = c.call(booru, {}, {}, &res);
    EXPECT_EQ(st.message, "interrogate-deepbooru needs an image.");
    booru.header["model_dirs"] = {nowhere};
    booru.header["image"] = wire::attach_image(&booru, warm);
    st = c.call(booru, {}, {}, &res);
    EXPECT_EQ(st.code, ErrorCode::kModelNotFound);
    EXPECT_EQ(st.message, "DeepBooru was not found: put model-resnet_custom_v3.pt (AUTOMATIC1111's TorchDeepDanbooru release) in " + nowhere + ".");
    booru.header["threshold"] = "high";
    st = c.call(booru, {}, {}, &res);
    EXPECT_EQ(st.message, "The field \"threshold\" must be a number.");
    booru.header["threshold"] = 1.5;
    st = c.call(booru, {}, {}, &res);
    EXPECT_EQ(st.message, "The DeepBooru score threshold must be between 0 and 1.");
    booru.header["threshold"] = 0.5;
    booru.header["escape"] = 1;
    st = c.call(booru, {}, {}, &res);
    EXPECT_EQ(st.message, "The field \"escape\" must be true or false.");

    // A crash costs that call only; the next one starts a fresh engine.
    st = c.call(op("crash-for-test"), {}, {}, &res);
    EXPECT_FALSE(st.ok);
    EXPECT_EQ(st.code, ErrorCode::kBackendUnavailable);
    ASSERT_TRUE(c.call(op("ping"), {}, {}, &res).ok);
    EXPECT_NE(res.header["pid"].get<int>(), pid1);
    ASSERT_TRUE(c.call(txt2img(model, 2), {}, {}, &res).ok);

    ASSERT_TRUE(c.call(op("shutdown"), {}, {}, &res).ok);
    EXPECT_EQ(res.header["event"], "bye");
}
