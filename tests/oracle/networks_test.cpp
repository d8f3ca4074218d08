// Text encoders, UNet and VAE of every oracle model against the original code's outputs.
#include <gtest/gtest.h>

#include <cmath>

#include "io/checkpoint_file.h"
#include "io/checkpoint_keys.h"
#include "models/latent_diffusion.h"
#include "models/state_loader.h"
#include "support/oracle.h"
#include "support/tensor_file.h"

using namespace sdgimp;

namespace {

struct Loaded {
    ModelConfig cfg;
    models::LatentDiffusion model{nullptr};
};

Loaded load(const std::string& ckpt) {
    io::CheckpointFile ck = io::open_checkpoint(ckpt);
    io::TensorMap t = io::normalize_sd_keys(std::move(ck.tensors));
    Loaded l;
    l.cfg = load_model_config(ckpt, t);
    l.model = models::LatentDiffusion(l.cfg);
    models::LoadReport r = models::load_state(*l.model, t, "");
    EXPECT_TRUE(r.ok()) << r.missing.size() << " missing, " << r.unexpected.size() << " unexpected";
    l.model->eval();
    return l;
}

constexpr double kTol = 1e-4;

}  // namespace

TEST(OracleNets, TextEncoders) {
    torch::NoGradGuard ng;
    int checked = 0;
    for (const auto& m : test::oracle_models()) {
        const std::string ref_path = m.dir + "/ref_text.safetensors";
        if (!test::file_exists(ref_path)) continue;
        auto ref = test::load_tensor_file(ref_path);
        for (const auto& ck : m.checkpoints) {
            SCOPED_TRACE(ck);
            Loaded l = load(ck);
            auto z = l.model->text->forward(ref["tokens"]);
            EXPECT_TRUE(test::all_close(z, ref["z"], kTol, kTol)) << "max diff " << test::max_abs_diff(z, ref["z"]);
            if (ref.has("z_last_layer")) {
                // Clip skip 0 for OpenCLIP = every layer: run all blocks then ln_final.
                auto zl = l.model->text->open_clip->forward(ref["tokens"], l.cfg.text.layers);
                EXPECT_TRUE(test::all_close(zl, ref["z_last_layer"], kTol, kTol));
            }
            ++checked;
        }
    }
    EXPECT_GT(checked, 0);
}

TEST(OracleNets, UNet) {
    torch::NoGradGuard ng;
    int checked = 0;
    for (const auto& m : test::oracle_models()) {
        const std::string ref_path = m.dir + "/ref_unet.safetensors";
        if (!test::file_exists(ref_path)) continue;
        auto ref = test::load_tensor_file(ref_path);
        for (const auto& ck : m.checkpoints) {
            Loaded l = load(ck);
            for (int c = 0; ref.has("case" + std::to_string(c) + ".x"); ++c) {
                const std::string p = "case" + std::to_string(c) + ".";
                SCOPED_TRACE(ck + " " + p);
                auto out = l.model->unet->forward(ref[p + "x"], ref[p + "t"], ref[p + "context"]);
                EXPECT_TRUE(test::all_close(out, ref[p + "out"], kTol, kTol)) << "max diff " << test::max_abs_diff(out, ref[p + "out"]);
                ++checked;
            }
        }
    }
    EXPECT_GT(checked, 0);
}

TEST(OracleNets, VAE) {
    torch::NoGradGuard ng;
    int checked = 0;
    for (const auto& m : test::oracle_models()) {
        const std::string ref_path = m.dir + "/ref_vae.safetensors";
        if (!test::file_exists(ref_path)) continue;
        auto ref = test::load_tensor_file(ref_path);
        for (const auto& ck : m.checkpoints) {
            Loaded l = load(ck);
            for (int i = 0; ref.has("enc" + std::to_string(i) + ".image"); ++i) {
                const std::string p = "enc" + std::to_string(i) + ".";
                SCOPED_TRACE(ck + " " + p);
                auto moments = l.model->vae->encode_moments(ref[p + "image"]);
                EXPECT_TRUE(test::all_close(moments, ref[p + "moments"], kTol, kTol)) << test::max_abs_diff(moments, ref[p + "moments"]);
                ++checked;
            }
            for (int i = 0; ref.has("dec" + std::to_string(i) + ".z"); ++i) {
                const std::string p = "dec" + std::to_string(i) + ".";
                SCOPED_TRACE(ck + " " + p);
                auto img = l.model->vae->decode(ref[p + "z"]);
                EXPECT_TRUE(test::all_close(img, ref[p + "image"], kTol, kTol)) << test::max_abs_diff(img, ref[p + "image"]);
                ++checked;
            }
            if (ref.has("dfs.latent")) {
                const double sf = ref["scale_factor"].item<double>();
                auto img = l.model->vae->decode(ref["dfs.latent"] / sf);
                EXPECT_TRUE(test::all_close(img, ref["dfs.image"], kTol, kTol)) << test::max_abs_diff(img, ref["dfs.image"]);
            }
        }
    }
    EXPECT_GT(checked, 0);
}

// What a GPU run leaves in host memory (TextEncoder::keep_on_host) is either looked up there and
// carried over, in whatever type it is kept in, or never run at all.
TEST(OracleNets, TextEncoderPartsKeptOnTheHost) {
    torch::NoGradGuard ng;
    int checked = 0;
    for (const auto& m : test::oracle_models()) {
        const std::string ref_path = m.dir + "/ref_text.safetensors";
        if (!test::file_exists(ref_path) || m.checkpoints.empty()) continue;
        SCOPED_TRACE(m.checkpoints[0]);
        auto ref = test::load_tensor_file(ref_path);
        Loaded l = load(m.checkpoints[0]);
        auto& text = l.model->text;
        const auto z = text->forward(ref["tokens"]);
        text->keep_on_host();
        EXPECT_TRUE(torch::equal(text->forward(ref["tokens"]), z));
        // A token table of another type than the blocks (float64 holds float32 exactly).
        auto table = text->open_clip ? text->open_clip->token_embedding : text->hf->token_embedding;
        table->to(torch::kDouble);
        const auto z2 = text->forward(ref["tokens"]);
        EXPECT_EQ(z2.scalar_type(), torch::kFloat);
        EXPECT_TRUE(torch::equal(z2, z));
        if (text->open_clip && l.cfg.text.penultimate) {
            // The last block never runs for SD 2.x's penultimate-layer conditioning.
            for (auto& p : text->open_clip->resblocks[l.cfg.text.layers - 1]->parameters()) p.fill_(std::nanf(""));
            EXPECT_TRUE(torch::equal(text->forward(ref["tokens"]), z));
        }
        ++checked;
    }
    EXPECT_GT(checked, 0);
}
