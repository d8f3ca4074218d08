// What a checkpoint is: family, prediction type and every network size, worked out from tensor
// shapes, with what shapes cannot tell (head counts, v vs eps) from a sidecar config, as A1111 does.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "io/raw_tensor.h"

namespace sdgimp {

enum class ModelFamily { kSD1, kSD1Inpaint, kSD2, kSD2Inpaint, kPix2Pix, kSDXL, kESRGAN, kVAE, kUnknown };
enum class Prediction { kEps, kV };

const char* family_name(ModelFamily f);   // "sd1", "sd2-inpaint", ...
const char* prediction_name(Prediction p);  // "eps", "v"

struct UNetConfig {
    int in_channels = 4, out_channels = 4, model_channels = 320;
    std::vector<int> channel_mult;
    int num_res_blocks = 2;
    std::vector<int> attention_resolutions;  // downsampling factors with attention
    int transformer_depth = 1;
    int context_dim = 768;
    bool use_linear_in_transformer = false;
    int num_heads = -1;           // SD 1.x style
    int num_head_channels = -1;   // SD 2.x style
    bool upcast_attention = false;
    // ldm's AttentionBlock (self-attention only, num_head_channels per head) where the others have
    // a SpatialTransformer: UNets conditioned by concatenation alone (LDSR).
    bool self_attention_blocks = false;
    int heads_at(int channels) const;  // heads of a transformer with `channels` channels
};

struct VAEConfig {
    int ch = 128;
    std::vector<int> ch_mult;
    int num_res_blocks = 2;
    int z_channels = 4;
    int embed_dim = 4;
};

enum class TextEncoderKind { kOpenCLIP, kHFCLIP };

struct TextConfig {
    TextEncoderKind kind = TextEncoderKind::kHFCLIP;
    int vocab = 49408, width = 768, layers = 12, heads = 12, context_length = 77, mlp = 3072;
    bool penultimate = false;  // OpenCLIP in SD 2.x uses the penultimate layer
};

struct ScheduleConfig {
    double linear_start = 0.00085, linear_end = 0.012;
    int timesteps = 1000;
};

struct ModelConfig {
    ModelFamily family = ModelFamily::kUnknown;
    Prediction prediction = Prediction::kEps;
    std::string prediction_source;  // "yaml", "default", "override"
    std::string config_source;      // sidecar path(s) used, or "shapes"
    bool has_unet = false, has_vae = false, has_text = false;
    UNetConfig unet;
    VAEConfig vae;
    TextConfig text;
    ScheduleConfig schedule;
    double scale_factor = 0.18215;
};

// "sd1", "sd2-v", "sd2-inpaint", ...: the family, with "-v" for v-prediction SD 2.x.
std::string model_kind(const ModelConfig& c);

// The files a config's values came from, named in its errors.
struct ConfigSources {
    std::string checkpoint = "the checkpoint", yaml = "the checkpoint's YAML config", json = "the checkpoint's JSON config";
};

// `yaml` / `json` are the parsed sidecars (null when absent). Shapes or sidecar values no
// Stable Diffusion model has throw sdgimp::Error (kBadFile) naming the file they came from.
ModelConfig infer_model_config(const io::TensorMap& tensors, const nlohmann::json* yaml, const nlohmann::json* json,
                               const ConfigSources& sources = {});

// Finds "<stem>.yaml" / "<stem>.json" next to a checkpoint; a sidecar whose stem is the longest
// prefix of the checkpoint's stem also counts (model-fp16.safetensors uses model.yaml).
std::optional<std::string> find_sidecar(const std::string& checkpoint_path, const std::string& ext);

// Sidecars found and parsed, then infer_model_config; `override_prediction` wins when set.
ModelConfig load_model_config(const std::string& checkpoint_path, const io::TensorMap& tensors,
                              std::optional<Prediction> override_prediction = std::nullopt);

std::optional<Prediction> parse_prediction(const std::string& s);

}  // namespace sdgimp
