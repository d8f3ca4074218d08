// A1111's "FP8 weight": the float8_e4m3fn rounding against a reference built from the format's bit
// layout, which layers it touches (the UNet's and text encoder's convolutions and linear layers,
// as A1111's isinstance(Conv2d, Linear) walk), LoRA merging under it, and the engine's runs:
// a run with it equals a run of a checkpoint whose weights were rounded beforehand, its record
// and paste, and the weights coming back whole when it is turned off.
#include <gtest/gtest.h>

#include <algorithm>
#include <clocale>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <unistd.h>

#include "engine/engine.h"
#include "io/safetensors_writer.h"
#include "models/fp8_weights.h"
#include "models/lora.h"
#include "pipeline/sd_model.h"
#include "request.h"
#include "status.h"
#include "support/checkpoint_variant.h"
#include "support/error_text.h"
#include "support/oracle.h"
#include "support/synthetic_lora.h"
#include "support/vocab.h"
#include "text/infotext.h"
#include "wire.h"

using namespace sdgimp;

namespace {

// Every finite non-negative float8_e4m3fn value in code order: 4 exponent bits (bias 7) and 3
// mantissa bits, subnormal at exponent 0; code 0x7F is NaN, so 0x7E (448) is the largest.
std::vector<double> e4m3fn_values() {
    std::vector<double> v;
    for (int code = 0; code < 0x7F; ++code) {
        const int e = code >> 3, m = code & 7;
        v.push_back(e == 0 ? std::ldexp(m, -9) : std::ldexp(8 + m, e - 10));
    }
    return v;
}

// The nearest value, a tie going to the even code; beyond 448 by more than half a step (the
// would-be next value 480 is the NaN code) NaN.
float reference_round(float x) {
    static const std::vector<double> values = e4m3fn_values();
    if (std::isnan(x)) return x;
    const double a = std::fabs(static_cast<double>(x));
    if (a > 464.0) return std::numeric_limits<float>::quiet_NaN();
    double r = 448;
    const auto hi = std::lower_bound(values.begin(), values.end(), a);
    if (hi != values.end()) {
        r = *hi;
        if (hi != values.begin()) {
            const double lo = *(hi - 1);
            const auto lo_code = hi - 1 - values.begin();
            if (a - lo < *hi - a || (a - lo == *hi - a && lo_code % 2 == 0)) r = lo;
        }
    }
    return static_cast<float>(std::copysign(r, static_cast<double>(x)));
}

// The same memory (a parameter and a detached view of it are different tensor objects).
bool same_tensor(const torch::Tensor& a, const torch::Tensor& b) {
    return a.data_ptr() == b.data_ptr() && a.sizes() == b.sizes() && a.strides() == b.strides() && a.scalar_type() == b.scalar_type();
}

bool same_float(float a, float b) {
    return (std::isnan(a) && std::isnan(b)) || (a == b && std::signbit(a) == std::signbit(b));
}

// A1111's rounded layers as the checkpoint's keys show them: a 2-D or 4-D ".weight" of the UNet or
// the text encoder (convolutions and linear layers; its embeddings aside) and that layer's bias.
// OpenCLIP's in_proj_weight belongs to nn.MultiheadAttention itself, not to a Linear.
std::set<std::string> rounded_keys(pipeline::SDModel& m) {
    std::set<std::string> keys;
    const auto params = m.net->named_parameters(true);
    for (const auto& p : params) {
        const std::string& k = p.key();
        const bool part = k.rfind("model.diffusion_model.", 0) == 0 || k.rfind("cond_stage_model.", 0) == 0;
        if (!part || !test::ends_with(k, ".weight") || k.find("embedding") != std::string::npos) continue;
        if (p.value().dim() != 2 && p.value().dim() != 4) continue;
        keys.insert(k);
        const std::string bias = k.substr(0, k.size() - 7) + ".bias";
        if (params.contains(bias)) keys.insert(bias);
    }
    return keys;
}

torch::Tensor reference_rounded(const torch::Tensor& t) {
    torch::Tensor f = t.detach().to(torch::kFloat).contiguous().clone();
    float* p = f.data_ptr<float>();
    for (int64_t i = 0; i < f.numel(); ++i) p[i] = reference_round(p[i]);
    return f;
}

std::string temp_dir() {
    char tmpl[] = "/tmp/gd-fp8-XXXXXX";
    EXPECT_NE(::mkdtemp(tmpl), nullptr);
    return tmpl;
}

GenerateRequest small_request() {
    GenerateRequest r;
    r.prompt = "a red cube on a table";
    r.negative_prompt = "blurry";
    r.sampler = "Euler a";
    r.steps = 4;
    r.width = r.height = 64;
    r.seed = 7;
    return r;
}

}  // namespace

TEST(Fp8Round, EqualsTheNearestValueOfTheFormat) {
    EXPECT_EQ(models::e4m3fn_round(0.1f), 0.1015625f);
    EXPECT_EQ(models::e4m3fn_round(1.0f / 3), 0.34375f);
    EXPECT_EQ(models::e4m3fn_round(std::ldexp(1.0f, -10)), 0.0f);              // half the smallest step: tie to 0
    EXPECT_EQ(models::e4m3fn_round(std::ldexp(3.0f, -10)), std::ldexp(1.0f, -8));  // 1.5 steps: tie to 2
    EXPECT_EQ(models::e4m3fn_round(464.0f), 448.0f);
    EXPECT_TRUE(std::isnan(models::e4m3fn_round(std::nextafter(464.0f, 500.0f))));
    EXPECT_TRUE(std::isnan(models::e4m3fn_round(-std::numeric_limits<float>::infinity())));
    EXPECT_TRUE(std::signbit(models::e4m3fn_round(-1e-30f)));
    std::vector<float> xs;
    const std::vector<double> values = e4m3fn_values();
    for (size_t i = 0; i < values.size(); ++i) {
        const float v = static_cast<float>(values[i]);
        xs.insert(xs.end(), {v, std::nextafter(v, 0.0f), std::nextafter(v, 1000.0f)});
        if (i + 1 < values.size()) {
            const float mid = static_cast<float>((values[i] + values[i + 1]) / 2);
            xs.insert(xs.end(), {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1000.0f)});
        }
    }
    std::mt19937 gen(3);
    std::uniform_real_distribution<float> log2a(-14.0f, 9.0f);
    for (int i = 0; i < 200000; ++i) xs.push_back(std::exp2(log2a(gen)));
    int checked = 0;
    for (const float x : xs)
        for (const float s : {x, -x}) {
            ASSERT_TRUE(same_float(models::e4m3fn_round(s), reference_round(s))) << s;
            ++checked;
        }
    EXPECT_GT(checked, 400000);
}

TEST(Fp8Round, TensorsKeepTheirTypeAndLayoutAndTheOriginalStays) {
    torch::manual_seed(1);
    const torch::Tensor x = torch::randn({8, 6, 3, 3}) * 3;
    const torch::Tensor keep = x.clone();
    for (const auto dtype : {torch::kFloat, torch::kBFloat16, torch::kHalf}) {
        const torch::Tensor t = x.to(dtype).contiguous(at::MemoryFormat::ChannelsLast);
        const torch::Tensor r = models::e4m3fn_rounded(t);
        EXPECT_EQ(r.scalar_type(), dtype);
        EXPECT_TRUE(r.is_contiguous(at::MemoryFormat::ChannelsLast));
        EXPECT_TRUE(r.to(torch::kFloat).equal(reference_rounded(t))) << dtype;
    }
    EXPECT_TRUE(x.equal(keep));
}

// Every Conv2d and Linear of the UNet and text encoder is rounded, nothing else (the VAE, norms,
// embeddings, OpenCLIP's in_proj), and restore() puts the very tensors back.
TEST(Fp8Weights, RoundsTheLayersA1111RoundsAndRestores) {
    int models_checked = 0;
    for (const auto& mdl : test::oracle_models()) {
        if (mdl.checkpoints.empty()) continue;
        SCOPED_TRACE(mdl.name);
        auto m = pipeline::load_sd_model(mdl.checkpoints.front());
        const std::set<std::string> keys = rounded_keys(*m);
        auto params = m->net->named_parameters(true);
        std::map<std::string, torch::Tensor> before;
        for (const auto& p : params) before[p.key()] = p.value().detach();
        models::Fp8Weights fp8;
        fp8.apply(m->net);
        EXPECT_TRUE(fp8.on());
        int rounded = 0;
        for (const auto& p : params) {
            const bool want = keys.count(p.key()) > 0;
            if (want) {
                EXPECT_TRUE(p.value().to(torch::kFloat).equal(reference_rounded(before[p.key()]))) << p.key();
                ASSERT_NE(fp8.original_of(p.value()), nullptr) << p.key();
                EXPECT_TRUE(same_tensor(*fp8.original_of(p.value()), before[p.key()]));
                ++rounded;
            } else {
                EXPECT_TRUE(same_tensor(p.value(), before[p.key()])) << p.key();
                EXPECT_EQ(fp8.original_of(p.value()), nullptr) << p.key();
            }
        }
        EXPECT_GT(rounded, 50);
        fp8.restore();
        EXPECT_FALSE(fp8.on());
        for (const auto& p : params) EXPECT_TRUE(same_tensor(p.value(), before[p.key()])) << p.key();
        // A weight the format cannot hold: one sentence naming the layer, nothing rounded.
        const std::string big = "model.diffusion_model.out.2.weight";
        torch::Tensor w = params[big];
        {
            torch::NoGradGuard ng;
            torch::Tensor changed = before[big].clone();
            changed.view({-1})[0] = 600.0f;
            w.set_data(changed);
        }
        const std::string message = [&] {
            try {
                fp8.apply(m->net);
            } catch (const Error& e) {
                return std::string(e.what());
            }
            return std::string();
        }();
        EXPECT_EQ(message, "FP8 weight cannot hold the layer model.diffusion_model.out.2.weight (its values reach beyond 464); turn FP8 weight off for this checkpoint.");
        EXPECT_FALSE(fp8.on());
        for (const auto& p : params)
            EXPECT_TRUE(p.key() == big || same_tensor(p.value(), before[p.key()])) << p.key();
        ++models_checked;
    }
    EXPECT_GT(models_checked, 0);
}

// LoRA under FP8 weight, as A1111's network_apply_weights: the merged weight is rounded again; with
// "Cache FP16 weight for LoRA" it merges into the unrounded weight in float16. Layers outside the
// rounded set (OpenCLIP's in_proj) merge unrounded.
TEST(Fp8Weights, LoraMergesIntoRoundedWeights) {
    const std::string dir = temp_dir();
    int checked = 0;
    for (const auto& mdl : test::oracle_models()) {
        if (mdl.checkpoints.empty()) continue;
        SCOPED_TRACE(mdl.name);
        auto m = pipeline::load_sd_model(mdl.checkpoints.front());
        const test::SyntheticLora lora = test::synthetic_lora(*m);
        const std::string file = dir + "/" + mdl.name + ".safetensors";
        io::write_safetensors(file, lora.tensors);
        auto params = m->net->named_parameters(true);
        std::map<std::string, torch::Tensor> original;
        for (const auto& p : params) original[p.key()] = p.value().detach().to(torch::kFloat).clone();
        const std::set<std::string> keys = rounded_keys(*m);
        models::Fp8Weights fp8;
        fp8.apply(m->net);
        models::LoraCall call;
        call.name = mdl.name;
        call.path = file;
        call.te = 0.7;
        call.unet = 0.4;
        const bool sd2 = m->cfg.text.kind == TextEncoderKind::kOpenCLIP;
        for (const bool cache16 : {false, true}) {
            SCOPED_TRACE(cache16 ? "cache fp16" : "no cache");
            models::LoraWeights w;
            w.apply(m->net, {call}, sd2, &fp8, cache16);
            std::map<std::string, torch::Tensor> want;
            for (const auto& [key, change] : lora.changes) {
                const std::string name = key.substr(0, key.find('#'));
                const int64_t row0 = std::stoll(key.substr(key.find('#') + 1));
                const double mult = name.rfind("cond_stage_model.", 0) == 0 ? 0.7 : 0.4;
                if (!want.count(name)) {
                    const bool r = keys.count(name) > 0;
                    want[name] = !r ? original[name].clone() : cache16 ? original[name].to(torch::kHalf).to(torch::kFloat)
                                                                       : reference_rounded(original[name]);
                }
                want[name].slice(0, row0, row0 + change.size(0)) += change * mult;
            }
            for (auto& [name, t] : want) {
                const torch::Tensor got = params[name].to(torch::kFloat);
                if (keys.count(name)) {
                    EXPECT_TRUE(got.equal(reference_rounded(t))) << name;
                } else {
                    EXPECT_LT((got - t).abs().max().item<double>(), 1e-6) << name;
                }
                ++checked;
            }
            w.restore();
            for (const auto& name : keys) EXPECT_TRUE(params[name].to(torch::kFloat).equal(reference_rounded(original[name]))) << name;
        }
        fp8.restore();
        for (const auto& p : params) EXPECT_TRUE(p.value().to(torch::kFloat).equal(original[p.key()])) << p.key();
    }
    EXPECT_GT(checked, 0);
}

// The engine with FP8 weight: the image of a checkpoint rounded beforehand, its record, and the
// model whole again afterwards ("Disable" and "Enable for SDXL" leave the weights as they are).
TEST(Fp8Weights, EngineRunsEqualARoundedCheckpoint) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const std::string dir = temp_dir();
    int runs = 0;
    for (const auto& mdl : test::oracle_models()) {
        if (mdl.checkpoints.empty()) continue;
        SCOPED_TRACE(mdl.name);
        std::set<std::string> keys;
        {
            auto m = pipeline::load_sd_model(mdl.checkpoints.front());
            keys = rounded_keys(*m);
        }
        const std::string rounded_path = test::write_changed(mdl, dir, mdl.name + "-rounded", [&](const std::string& key, const torch::Tensor& t) {
            return keys.count(key) ? reference_rounded(t) : t;
        });
        auto image = [&](Engine& e, const GenerateRequest& r, std::string* text) {
            std::vector<GeneratedImage> out;
            const Status st = e.txt2img(r, {}, &out);
            EXPECT_TRUE(st.ok) << st.message;
            if (!st.ok) return std::vector<uint8_t>{};
            if (text) *text = out[0].infotext;
            return out[0].image.pixels;
        };
        Engine engine, reference;
        ASSERT_TRUE(engine.load_model({mdl.checkpoints.front(), "", test::vocab_path()}).ok);
        ASSERT_TRUE(reference.load_model({rounded_path, "", test::vocab_path()}).ok);
        GenerateRequest r = small_request();
        std::string text;
        const auto plain = image(engine, r, &text);
        EXPECT_EQ(text.find("FP8"), std::string::npos) << text;
        r.fp8_weight = "Enable";
        const auto fp8 = image(engine, r, &text);
        EXPECT_NE(text.find(", FP8 weight: Enable, Cache FP16 weight for LoRA: False, "), std::string::npos) << text;
        EXPECT_LT(text.find("Model: "), text.find("FP8 weight"));
        GenerateRequest pasted;
        EXPECT_TRUE(apply_parameters(text, &pasted).empty());
        EXPECT_EQ(pasted.fp8_weight, "Enable");
        EXPECT_FALSE(pasted.cache_fp16_weight);
        GenerateRequest off = small_request();
        const auto want = image(reference, off, nullptr);
        EXPECT_EQ(fp8, want);
        EXPECT_NE(fp8, plain);
        // Img2img and inpainting round the same weights.
        {
            Image init{64, 64, 3, std::vector<uint8_t>(64 * 64 * 3)};
            for (size_t i = 0; i < init.pixels.size(); ++i) init.pixels[i] = static_cast<uint8_t>(i * 7 % 251);
            GenerateRequest q = r;
            q.denoising_strength = 0.6;
            std::vector<GeneratedImage> a, b;
            ASSERT_TRUE(engine.img2img(q, init, {}, &a).ok);
            q.fp8_weight = "Disable";
            ASSERT_TRUE(reference.img2img(q, init, {}, &b).ok);
            EXPECT_EQ(a[0].image.pixels, b[0].image.pixels);
        }
        r.fp8_weight = "Enable for SDXL";
        EXPECT_EQ(image(engine, r, &text), plain);
        EXPECT_EQ(text.find("FP8"), std::string::npos) << text;
        r.fp8_weight = "Enable";
        r.cache_fp16_weight = true;
        EXPECT_EQ(image(engine, r, &text), fp8);  // no networks: the cache changes nothing
        EXPECT_NE(text.find("FP8 weight: Enable, Cache FP16 weight for LoRA: True"), std::string::npos) << text;
        r.fp8_weight = "Disable";
        EXPECT_EQ(image(engine, r, nullptr), plain);
        r.fp8_weight = "fp8";
        std::vector<GeneratedImage> out;
        const Status st = engine.txt2img(r, {}, &out);
        EXPECT_FALSE(st.ok);
        EXPECT_EQ(st.message, "FP8 weight must be \"Disable\", \"Enable for SDXL\" or \"Enable\", not \"fp8\".");
        ++runs;
    }
    EXPECT_GT(runs, 0);
}

// A LoRA in the prompt while FP8 weight goes on and off: the networks come off, the weights change,
// the networks merge again, and turning it off gives the first image back.
TEST(Fp8Weights, EngineKeepsPromptLorasAcrossTheSetting) {
    std::setlocale(LC_CTYPE, "C.UTF-8");
    const auto models = test::oracle_models();
    ASSERT_FALSE(models.empty());
    const auto& mdl = models.front();
    const std::string dir = temp_dir();
    {
        auto m = pipeline::load_sd_model(mdl.checkpoints.front());
        io::write_safetensors(dir + "/detail.safetensors", test::synthetic_lora(*m).tensors);
    }
    Engine engine;
    ModelRequest mr{mdl.checkpoints.front(), "", test::vocab_path()};
    mr.lora_dirs = {dir};
    ASSERT_TRUE(engine.load_model(mr).ok);
    GenerateRequest r = small_request();
    r.prompt += " <lora:detail:8>";
    auto run = [&]() {
        std::vector<GeneratedImage> out;
        const Status st = engine.txt2img(r, {}, &out);
        EXPECT_TRUE(st.ok) << st.message;
        return st.ok ? out[0].image.pixels : std::vector<uint8_t>{};
    };
    const auto lora = run();
    r.fp8_weight = "Enable";
    const auto lora_fp8 = run();
    r.cache_fp16_weight = true;
    const auto lora_fp8_cache = run();
    r.fp8_weight = "Disable";
    EXPECT_EQ(run(), lora);
    r.prompt = small_request().prompt;
    r.fp8_weight = "Enable";
    const auto fp8_alone = run();
    EXPECT_NE(lora_fp8, lora);
    EXPECT_NE(lora_fp8, fp8_alone);
    EXPECT_NE(lora_fp8_cache, fp8_alone);
    r.prompt += " <lora:detail:8>";
    r.cache_fp16_weight = false;
    EXPECT_EQ(run(), lora_fp8);
}

// The request: paste, its unknown values, the wire.
TEST(Fp8Request, PasteValidateAndWire) {
    GenerateRequest r;
    EXPECT_TRUE(apply_parameters("a cat\nSteps: 20, Seed: 1, Size: 512x512, FP8 weight: Enable, Cache FP16 weight for LoRA: True", &r).empty());
    EXPECT_EQ(r.fp8_weight, "Enable");
    EXPECT_TRUE(r.cache_fp16_weight);
    const GenerateRequest back = wire::request_from_json(wire::request_to_json(r));
    EXPECT_EQ(back.fp8_weight, "Enable");
    EXPECT_TRUE(back.cache_fp16_weight);
    EXPECT_EQ(apply_parameters("a cat\nSteps: 20, Seed: 1, Size: 512x512, FP8 weight: Maybe", &r), std::vector<std::string>{"FP8 weight"});
    EXPECT_EQ(r.fp8_weight, "Disable");  // the text's parser default
    EXPECT_FALSE(r.cache_fp16_weight);
    apply_parameters("a cat\nSteps: 20, Seed: 1, Size: 512x512", &r);
    EXPECT_EQ(r.fp8_weight, "Disable");
}
