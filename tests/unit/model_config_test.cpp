// What a checkpoint's shapes and its sidecar configs turn into: a small but complete SD 2.x key
// list is read right, and every size or schedule value no Stable Diffusion model has (a damaged
// header, a YAML typo, a hostile file) is one sentence naming the file it came from, never an
// index past a shape, a division by zero or a stack exhausted by nesting.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "io/yaml_lite.h"
#include "model_config.h"
#include "status.h"

using namespace sdgimp;

namespace {

// A two-level SD 2.x layout at toy sizes: 32 -> 64 channels, attention on both levels, a 16-wide
// OpenCLIP tower with two layers.
io::TensorMap small_sd2() {
    const std::string u = "model.diffusion_model.";
    const std::vector<std::pair<std::string, std::vector<int64_t>>> keys = {
        {u + "input_blocks.0.0.weight", {32, 4, 3, 3}},
        {u + "input_blocks.1.0.out_layers.3.weight", {32, 32, 3, 3}},
        {u + "input_blocks.1.1.proj_in.weight", {32, 32}},
        {u + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", {32, 16}},
        {u + "input_blocks.2.0.op.weight", {32, 32, 3, 3}},
        {u + "input_blocks.3.0.out_layers.3.weight", {64, 64, 3, 3}},
        {u + "input_blocks.3.1.proj_in.weight", {64, 64}},
        {u + "input_blocks.3.1.transformer_blocks.0.attn2.to_k.weight", {64, 16}},
        {u + "out.2.weight", {4, 32, 3, 3}},
        {"first_stage_model.encoder.conv_in.weight", {32, 3, 3, 3}},
        {"first_stage_model.encoder.down.0.block.0.conv2.weight", {32, 32, 3, 3}},
        {"first_stage_model.encoder.down.1.block.0.conv2.weight", {64, 64, 3, 3}},
        {"first_stage_model.decoder.conv_in.weight", {64, 4, 3, 3}},
        {"first_stage_model.quant_conv.weight", {8, 8, 1, 1}},
        {"cond_stage_model.model.token_embedding.weight", {49408, 16}},
        {"cond_stage_model.model.positional_embedding", {77, 16}},
        {"cond_stage_model.model.transformer.resblocks.0.mlp.c_fc.weight", {64, 16}},
        {"cond_stage_model.model.transformer.resblocks.1.mlp.c_fc.weight", {64, 16}},
    };
    io::TensorMap t;
    for (const auto& [key, shape] : keys) t[key].shape = shape;
    return t;
}

const char* kYaml = R"(model:
  params:
    parameterization: v
    linear_start: 0.00085
    linear_end: 0.012
    timesteps: 1000
    scale_factor: 0.18215
    unet_config:
      params:
        num_head_channels: 8
)";

ConfigSources names() {
    ConfigSources n;
    n.checkpoint = "toy.safetensors";
    n.yaml = "toy.yaml";
    n.json = "toy.json";
    return n;
}

// The error infer_model_config gives, "" when it accepts.
std::string error_of(const io::TensorMap& t, const std::string& yaml_text = "", const std::string& json_text = "") {
    try {
        nlohmann::json y, j;
        if (!yaml_text.empty()) y = io::parse_yaml_lite(yaml_text, "toy.yaml");
        if (!json_text.empty()) j = nlohmann::json::parse(json_text);
        (void)infer_model_config(t, yaml_text.empty() ? nullptr : &y, json_text.empty() ? nullptr : &j, names());
    } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kBadFile) << e.what();
        return e.what();
    }
    return "";
}

std::string replaced(std::string s, const std::string& from, const std::string& to) {
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
}

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

}  // namespace

TEST(ModelConfig, SmallSd2LayoutIsReadFromShapesAndSidecars) {
    nlohmann::json y = io::parse_yaml_lite(kYaml, "toy.yaml");
    nlohmann::json j = nlohmann::json::parse(R"({"text": {"heads": 2}})");
    const ModelConfig c = infer_model_config(small_sd2(), &y, &j, names());
    EXPECT_EQ(c.family, ModelFamily::kSD2);
    EXPECT_EQ(c.prediction, Prediction::kV);
    EXPECT_EQ(c.unet.model_channels, 32);
    EXPECT_EQ(c.unet.channel_mult, (std::vector<int>{1, 2}));
    EXPECT_EQ(c.unet.attention_resolutions, (std::vector<int>{2, 1}));
    EXPECT_EQ(c.unet.context_dim, 16);
    EXPECT_EQ(c.unet.num_head_channels, 8);
    EXPECT_EQ(c.vae.ch, 32);
    EXPECT_EQ(c.vae.ch_mult, (std::vector<int>{1, 2}));
    EXPECT_EQ(c.vae.embed_dim, 4);
    EXPECT_EQ(c.text.width, 16);
    EXPECT_EQ(c.text.layers, 2);
    EXPECT_EQ(c.text.heads, 2);
    EXPECT_EQ(c.text.context_length, 77);
    // Without its YAML the stock SD 2.x settings apply: 64-channel heads, wider than this toy's first level.
    EXPECT_EQ(error_of(small_sd2()), "toy.safetensors: the UNet's 32 channels do not split into heads of 64 channels as the "
                                     "stock config has it; put the model's YAML config next to it.");
}

TEST(ModelConfig, ShapesNoNetworkHasNameTheTensor) {
    const std::string in = "model.diffusion_model.input_blocks.0.0.weight";
    struct Case {
        std::string key;
        std::vector<int64_t> shape;
    };
    const std::vector<Case> cases = {
        {in, {32}},                   // one dimension where four are read
        {in, {0, 4, 3, 3}},           // no channels: the level widths divide by it
        {in, {1 << 21, 4, 3, 3}},     // a network of terabytes
        {"first_stage_model.encoder.conv_in.weight", {0, 3, 3, 3}},
        {"first_stage_model.decoder.conv_in.weight", {64}},
        {"cond_stage_model.model.token_embedding.weight", {49408}},
        {"model.diffusion_model.input_blocks.1.0.out_layers.3.weight", {-3, 32, 3, 3}},
        {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", {32}},
    };
    for (const Case& k : cases) {
        io::TensorMap t = small_sd2();
        t[k.key].shape = k.shape;
        const std::string e = error_of(t);
        SCOPED_TRACE(k.key);
        EXPECT_TRUE(starts_with(e, "toy.safetensors: its tensor " + k.key + " has shape [")) << e;
        EXPECT_NE(e.find("not a Stable Diffusion 1.x/2.x checkpoint."), std::string::npos) << e;
    }
}

TEST(ModelConfig, SizesNoNetworkHasAreRefused) {
    io::TensorMap narrow = small_sd2();  // a level narrower than the first: a multiplier of 0
    narrow["model.diffusion_model.input_blocks.3.0.out_layers.3.weight"].shape = {16, 16, 3, 3};
    EXPECT_TRUE(starts_with(error_of(narrow), "toy.safetensors: its UNet's sizes")) << error_of(narrow);

    io::TensorMap vae = small_sd2();
    vae["first_stage_model.quant_conv.weight"].shape = {1, 8, 1, 1};  // an embedding of 0 channels
    EXPECT_TRUE(starts_with(error_of(vae), "toy.safetensors: its VAE's sizes")) << error_of(vae);

    io::TensorMap one_layer = small_sd2();  // SD 2.x conditions on the penultimate layer
    one_layer.erase("cond_stage_model.model.transformer.resblocks.1.mlp.c_fc.weight");
    EXPECT_TRUE(starts_with(error_of(one_layer), "toy.safetensors: its text encoder's sizes")) << error_of(one_layer);

    io::TensorMap short_context = small_sd2();
    short_context["cond_stage_model.model.positional_embedding"].shape = {20, 16};
    EXPECT_NE(error_of(short_context).find("20 positions, 77 needed"), std::string::npos) << error_of(short_context);
}

TEST(ModelConfig, YamlValuesNoModelHasNameTheYaml) {
    const std::vector<std::pair<std::string, std::string>> edits = {
        {"timesteps: 1000", "timesteps: 0"},
        {"timesteps: 1000", "timesteps: 1"},
        {"timesteps: 1000", "timesteps: 99999999999999"},
        {"linear_end: 0.012", "linear_end: 1.5"},
        {"linear_start: 0.00085", "linear_start: -1"},
        {"linear_start: 0.00085", "linear_start: 0.5"},  // past linear_end
        {"scale_factor: 0.18215", "scale_factor: 0"},
        {"scale_factor: 0.18215", "scale_factor: -0.18215"},
    };
    for (const auto& [from, to] : edits) {
        SCOPED_TRACE(to);
        const std::string e = error_of(small_sd2(), replaced(kYaml, from, to));
        EXPECT_TRUE(starts_with(e, "toy.yaml: its ")) << e;
    }
    EXPECT_EQ(error_of(small_sd2(), replaced(kYaml, "parameterization: v", "parameterization: x0")),
              "toy.yaml: its parameterization \"x0\" is not one this engine runs (eps or v); fix the YAML config or remove it.");
    // Heads wider than an attention level's channels; a count that does not divide them is an
    // ldm layout of its own (the weights' shapes then say whether the file has it).
    const std::string e100 = error_of(small_sd2(), replaced(kYaml, "num_head_channels: 8", "num_heads: 100"));
    EXPECT_EQ(e100, "toy.yaml: the UNet's 64 channels do not split into 100 heads; fix num_heads / num_head_channels in the YAML config or remove it.");
    const std::string e64 = error_of(small_sd2(), replaced(kYaml, "num_head_channels: 8", "num_head_channels: 64"));
    EXPECT_TRUE(starts_with(e64, "toy.yaml: the UNet's 32 channels do not split into heads of 64 channels")) << e64;
    EXPECT_EQ(error_of(small_sd2(), replaced(kYaml, "num_head_channels: 8", "num_heads: 7")), "");
    EXPECT_EQ(error_of(small_sd2(), replaced(kYaml, "num_head_channels: 8", "num_head_channels: 16")), "");
}

TEST(ModelConfig, JsonTextHeadsMustDivideTheWidth) {
    EXPECT_EQ(error_of(small_sd2(), kYaml, R"({"text": {"heads": 3}})"),
              "toy.json: the text encoder's width 16 does not split into 3 heads; give text.heads a divisor of the width in the JSON config.");
    EXPECT_EQ(error_of(small_sd2(), kYaml, R"({"text": {"heads": 4}})"), "");
    EXPECT_EQ(error_of(small_sd2(), kYaml, R"({"text": {"heads": 4294967297}})"), "");  // out of range: ignored
}

TEST(ModelConfig, DeeplyNestedYamlIsRefusedWithoutExhaustingTheStack) {
    std::string deep;
    for (int i = 0; i < 1000; ++i) deep += std::string(i, ' ') + "k:\n";
    try {
        (void)io::parse_yaml_lite(deep, "deep.yaml");
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("deep.yaml: line 66: nesting deeper than any model config has"), std::string::npos) << e.what();
    }
    // Flow lists nested past the limit stay text instead of recursing further.
    const std::string flow = "a: " + std::string(100000, '[') + std::string(100000, ']') + "\n";
    const nlohmann::json j = io::parse_yaml_lite(flow, "flow.yaml");
    const nlohmann::json* v = &j["a"];
    int depth = 0;
    while (v->is_array() && !v->empty()) v = &(*v)[0], ++depth;
    EXPECT_EQ(depth, 16);
    EXPECT_TRUE(v->is_string());
}

TEST(ModelConfig, OversizedSidecarIsRefused) {
    char tmpl[] = "/tmp/gd-model-config-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    {
        std::ofstream(dir + "/toy.safetensors") << "x";
        std::ofstream y(dir + "/toy.yaml");
        y << kYaml;
    }
    EXPECT_EQ(load_model_config(dir + "/toy.safetensors", small_sd2()).config_source, dir + "/toy.yaml");
    ASSERT_EQ(::truncate((dir + "/toy.yaml").c_str(), (16 << 20) + 1), 0);  // sparse: no 16 MiB written
    try {
        (void)load_model_config(dir + "/toy.safetensors", small_sd2());
        ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()), dir + "/toy.yaml: is over 16 MiB, too large to be a model config; move it away from the checkpoint.");
    }
    ::unlink((dir + "/toy.yaml").c_str());
    ::unlink((dir + "/toy.safetensors").c_str());
    ::rmdir(dir.c_str());
}
