#include "model_config.h"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "io/yaml_lite.h"
#include "status.h"

namespace sdgimp {
namespace {

const io::RawTensor* find(const io::TensorMap& t, const std::string& key) {
    auto it = t.find(key);
    return it == t.end() ? nullptr : &it->second;
}

bool has_prefix(const io::TensorMap& t, const std::string& prefix) {
    auto it = t.lower_bound(prefix);
    return it != t.end() && it->first.compare(0, prefix.size(), prefix) == 0;
}

int count_indexed(const io::TensorMap& t, const std::string& prefix) {
    int n = 0;
    while (has_prefix(t, prefix + std::to_string(n) + ".")) ++n;
    return n;
}

// Sizes above these are no Stable Diffusion network; a damaged or hostile header would otherwise
// size a network of terabytes.
constexpr int64_t kMaxDim = 1 << 20;

// Dimension i of a tensor whose shape sizes a network: every size below comes from one, and a
// damaged file must get a sentence, not an index past a shape or a division by zero.
struct BadShape {
    std::string problem;
};
struct BadYaml {
    std::string problem;
};

// An integer a config may hold, where one of a sane size is there.
std::optional<int> small_int(const nlohmann::json* v) {
    if (!v || !v->is_number_integer()) return std::nullopt;
    if (v->is_number_unsigned() ? v->get<uint64_t>() > (1u << 30) : std::abs(v->get<int64_t>()) > (1 << 30)) return std::nullopt;
    const int64_t i = v->get<int64_t>();
    return static_cast<int>(i);
}

int dim(const io::TensorMap& t, const std::string& key, size_t i) {
    const io::RawTensor& r = t.at(key);
    if (r.shape.size() <= i || r.shape[i] < 1 || r.shape[i] > kMaxDim)
        throw BadShape{"its tensor " + key + " has shape " + io::shape_text(r.shape) + ", which no Stable Diffusion checkpoint has"};
    return static_cast<int>(r.shape[i]);
}

const nlohmann::json* at_path(const nlohmann::json* j, std::initializer_list<const char*> path) {
    for (const char* k : path) {
        if (!j || !j->is_object() || !j->contains(k)) return nullptr;
        j = &(*j)[k];
    }
    return j;
}

void infer_unet(const io::TensorMap& t, UNetConfig* u) {
    const std::string p = "model.diffusion_model.";
    u->in_channels = dim(t, p + "input_blocks.0.0.weight", 1);
    u->model_channels = dim(t, p + "input_blocks.0.0.weight", 0);
    if (find(t, p + "out.2.weight")) u->out_channels = dim(t, p + "out.2.weight", 0);
    u->channel_mult.clear();
    u->attention_resolutions.clear();
    int level = 0, res_in_level = 0, width = u->model_channels;
    bool attn_in_level = false;
    u->num_res_blocks = 0;
    const int nblocks = count_indexed(t, p + "input_blocks.");
    auto close_level = [&]() {
        u->channel_mult.push_back(width / u->model_channels);
        if (attn_in_level) u->attention_resolutions.push_back(1 << level);
        u->num_res_blocks = std::max(u->num_res_blocks, res_in_level);
        ++level;
        res_in_level = 0;
        attn_in_level = false;
    };
    for (int b = 1; b < nblocks; ++b) {
        const std::string bp = p + "input_blocks." + std::to_string(b) + ".";
        if (find(t, bp + "0.op.weight")) { close_level(); continue; }
        if (find(t, bp + "0.out_layers.3.weight")) width = dim(t, bp + "0.out_layers.3.weight", 0);
        ++res_in_level;
        if (find(t, bp + "1.proj_in.weight")) {
            attn_in_level = true;
            u->transformer_depth = count_indexed(t, bp + "1.transformer_blocks.");
            u->use_linear_in_transformer = find(t, bp + "1.proj_in.weight")->shape.size() == 2;
            if (find(t, bp + "1.transformer_blocks.0.attn2.to_k.weight"))
                u->context_dim = dim(t, bp + "1.transformer_blocks.0.attn2.to_k.weight", 1);
        }
    }
    close_level();
    // Listed as the configs list them: largest downsampling factor first.
    std::sort(u->attention_resolutions.rbegin(), u->attention_resolutions.rend());
}

void infer_vae(const io::TensorMap& t, VAEConfig* v) {
    const std::string p = "first_stage_model.";
    v->ch = dim(t, p + "encoder.conv_in.weight", 0);
    v->ch_mult.clear();
    const int levels = count_indexed(t, p + "encoder.down.");
    for (int l = 0; l < levels; ++l)
        if (const std::string k = p + "encoder.down." + std::to_string(l) + ".block.0.conv2.weight"; find(t, k))
            v->ch_mult.push_back(dim(t, k, 0) / v->ch);
    v->num_res_blocks = count_indexed(t, p + "encoder.down.0.block.");
    if (find(t, p + "decoder.conv_in.weight")) v->z_channels = dim(t, p + "decoder.conv_in.weight", 1);
    if (find(t, p + "quant_conv.weight")) v->embed_dim = dim(t, p + "quant_conv.weight", 0) / 2;
}

void infer_text(const io::TensorMap& t, TextConfig* c) {
    // Looked up where present: optional keys keep the defaults, and loading reports them missing.
    auto size_of = [&](const std::string& key, size_t i, int* out) { if (find(t, key)) *out = dim(t, key, i); };
    if (const std::string e = "cond_stage_model.model.token_embedding.weight"; find(t, e)) {
        c->kind = TextEncoderKind::kOpenCLIP;
        c->vocab = dim(t, e, 0);
        c->width = dim(t, e, 1);
        c->layers = count_indexed(t, "cond_stage_model.model.transformer.resblocks.");
        size_of("cond_stage_model.model.transformer.resblocks.0.mlp.c_fc.weight", 0, &c->mlp);
        size_of("cond_stage_model.model.positional_embedding", 0, &c->context_length);
        c->penultimate = true;
    } else {
        const std::string p = "cond_stage_model.transformer.text_model.";
        c->kind = TextEncoderKind::kHFCLIP;
        c->vocab = dim(t, p + "embeddings.token_embedding.weight", 0);
        c->width = dim(t, p + "embeddings.token_embedding.weight", 1);
        c->layers = count_indexed(t, p + "encoder.layers.");
        size_of(p + "encoder.layers.0.mlp.fc1.weight", 0, &c->mlp);
        size_of(p + "embeddings.position_embedding.weight", 0, &c->context_length);
        c->penultimate = false;
    }
    // Real CLIP towers use 64-wide heads; a sidecar JSON may say otherwise (tiny test models).
    c->heads = std::max(1, c->width / 64);
}

// A config next to a checkpoint: a few kB; anything past 16 MiB is not one.
std::string read_sidecar(const std::string& path) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    const std::streamoff size = f ? static_cast<std::streamoff>(f.tellg()) : 0;
    if (size > (16 << 20)) throw_bad_file(path, "is over 16 MiB, too large to be a model config; move it away from the checkpoint.");
    std::string s(static_cast<size_t>(std::max<std::streamoff>(size, 0)), '\0');
    f.seekg(0);
    f.read(s.data(), static_cast<std::streamsize>(s.size()));
    s.resize(static_cast<size_t>(std::max<std::streamsize>(f.gcount(), 0)));
    return s;
}

std::string dir_of(const std::string& p) {
    size_t s = p.find_last_of('/');
    return s == std::string::npos ? "." : p.substr(0, s);
}

std::string stem_of(const std::string& p) {
    size_t s = p.find_last_of('/');
    std::string base = s == std::string::npos ? p : p.substr(s + 1);
    size_t dot = base.find_last_of('.');
    return dot == std::string::npos ? base : base.substr(0, dot);
}

}  // namespace

const char* family_name(ModelFamily f) {
    switch (f) {
        case ModelFamily::kSD1: return "sd1";
        case ModelFamily::kSD1Inpaint: return "sd1-inpaint";
        case ModelFamily::kSD2: return "sd2";
        case ModelFamily::kSD2Inpaint: return "sd2-inpaint";
        case ModelFamily::kPix2Pix: return "instruct-pix2pix";
        case ModelFamily::kSDXL: return "sdxl";
        case ModelFamily::kESRGAN: return "esrgan";
        case ModelFamily::kVAE: return "vae";
        case ModelFamily::kUnknown: return "unknown";
    }
    return "unknown";
}

std::string model_kind(const ModelConfig& c) {
    std::string k = family_name(c.family);
    if (c.family == ModelFamily::kSD2 && c.prediction == Prediction::kV) k += "-v";
    return k;
}

const char* prediction_name(Prediction p) { return p == Prediction::kV ? "v" : "eps"; }

std::optional<Prediction> parse_prediction(const std::string& s) {
    if (s == "v" || s == "v-prediction" || s == "v_prediction") return Prediction::kV;
    if (s == "eps" || s == "epsilon") return Prediction::kEps;
    return std::nullopt;
}

int UNetConfig::heads_at(int channels) const {
    if (num_head_channels > 0) return std::max(1, channels / num_head_channels);
    return num_heads > 0 ? num_heads : 8;
}

namespace {

ModelConfig infer_from(const io::TensorMap& t, const nlohmann::json* yaml, const nlohmann::json* json, bool* heads_from_json) {
    ModelConfig c;
    c.config_source = "shapes";
    const bool unet = find(t, "model.diffusion_model.input_blocks.0.0.weight") != nullptr;
    c.has_unet = unet;
    c.has_vae = find(t, "first_stage_model.encoder.conv_in.weight") && find(t, "first_stage_model.decoder.conv_in.weight");
    const bool openclip = find(t, "cond_stage_model.model.token_embedding.weight") != nullptr;
    const bool hfclip = find(t, "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight") != nullptr;
    c.has_text = openclip || hfclip;
    if (has_prefix(t, "conditioner.embedders.")) { c.family = ModelFamily::kSDXL; return c; }
    if (find(t, "conv_first.weight") || find(t, "model.0.weight") || find(t, "RRDB_trunk.0.RDB1.conv1.weight")) { c.family = ModelFamily::kESRGAN; return c; }
    if (!unet) {
        if (find(t, "encoder.conv_in.weight") && find(t, "decoder.conv_in.weight")) c.family = ModelFamily::kVAE;
        return c;
    }
    infer_unet(t, &c.unet);
    if (c.has_vae) infer_vae(t, &c.vae);
    if (c.has_text) infer_text(t, &c.text);
    const int in = c.unet.in_channels;
    if (openclip) c.family = in == 9 ? ModelFamily::kSD2Inpaint : ModelFamily::kSD2;
    else c.family = in == 9 ? ModelFamily::kSD1Inpaint : in == 8 ? ModelFamily::kPix2Pix : ModelFamily::kSD1;
    const bool sd2 = c.family == ModelFamily::kSD2 || c.family == ModelFamily::kSD2Inpaint;
    // What the webui's stock configs say when no YAML sits next to the file.
    if (sd2) { c.unet.num_head_channels = 64; c.unet.upcast_attention = c.family == ModelFamily::kSD2; }
    else c.unet.num_heads = 8;
    c.prediction = Prediction::kEps;
    c.prediction_source = "default";
    if (c.family == ModelFamily::kSD2) {
        // A1111 probes the UNet here; the 768-v release is what SD 2.x users bring, so v is the default.
        c.prediction = Prediction::kV;
    }

    if (yaml) {
        const nlohmann::json* params = at_path(yaml, {"model", "params"});
        const nlohmann::json* up = at_path(yaml, {"model", "params", "unet_config", "params"});
        if (params) {
            if (const nlohmann::json* pz = at_path(params, {"parameterization"}); pz && pz->is_string()) {
                auto pr = parse_prediction(pz->get<std::string>());
                if (!pr) throw BadYaml{"its parameterization \"" + pz->get<std::string>() + "\" is not one this engine runs (eps or v)"};
                c.prediction = *pr;
            } else {
                c.prediction = Prediction::kEps;  // ldm's default parameterization
            }
            c.prediction_source = "yaml";
            if (const auto* v = at_path(params, {"scale_factor"}); v && v->is_number()) c.scale_factor = v->get<double>();
            if (const auto* v = at_path(params, {"linear_start"}); v && v->is_number()) c.schedule.linear_start = v->get<double>();
            if (const auto* v = at_path(params, {"linear_end"}); v && v->is_number()) c.schedule.linear_end = v->get<double>();
            if (const auto* v = at_path(params, {"timesteps"}); v && v->is_number_integer())
                c.schedule.timesteps = small_int(v).value_or(-1);  // out of range: refused below
        }
        if (up) {
            const auto nh = small_int(at_path(up, {"num_heads"})), nhc = small_int(at_path(up, {"num_head_channels"}));
            if (nhc && *nhc > 0) { c.unet.num_head_channels = *nhc; c.unet.num_heads = -1; }
            else if (nh && *nh > 0) { c.unet.num_heads = *nh; c.unet.num_head_channels = -1; }
            if (const auto* ua = at_path(up, {"upcast_attention"}); ua && ua->is_boolean()) c.unet.upcast_attention = ua->get<bool>();
        }
        c.config_source = "yaml";
    }
    if (json) {
        if (auto th = small_int(at_path(json, {"text", "heads"})); th && *th > 0) {
            c.text.heads = *th;
            *heads_from_json = true;
        }
    }
    return c;
}

// The sizes the networks are built from and the schedule, whichever source gave them: values no
// Stable Diffusion model has (a damaged header, a typo in a YAML) get a sentence here instead of a
// failed allocation, a division by zero or a NaN image later.
void check_config(const ModelConfig& c, const ConfigSources& n, bool heads_from_json) {
    const std::string damaged = "; the file is damaged or not a Stable Diffusion 1.x/2.x checkpoint.";
    auto levels_ok = [](const std::vector<int>& mult) {
        if (mult.empty() || mult.size() > 8) return false;
        for (int m : mult) if (m < 1 || m > 16) return false;
        return true;
    };
    const UNetConfig& u = c.unet;
    if (c.has_unet && (u.in_channels > 64 || u.out_channels > 64 || u.model_channels > 8192 || u.context_dim > 16384 ||
                       !levels_ok(u.channel_mult) || u.num_res_blocks < 1 || u.num_res_blocks > 16 || u.transformer_depth > 64))
        throw_bad_file(n.checkpoint, "its UNet's sizes are not a Stable Diffusion UNet's" + damaged);
    const VAEConfig& v = c.vae;
    if (c.has_vae && (v.ch > 1024 || !levels_ok(v.ch_mult) || v.num_res_blocks < 1 || v.num_res_blocks > 16 ||
                      v.z_channels > 64 || v.embed_dim < 1 || v.embed_dim > 64))
        throw_bad_file(n.checkpoint, "its VAE's sizes are not a Stable Diffusion VAE's" + damaged);
    const TextConfig& x = c.text;
    if (c.has_text && (x.width > 16384 || x.layers < (x.penultimate ? 2 : 1) || x.layers > 128 || x.mlp > 65536 ||
                       x.context_length < 77))
        throw_bad_file(n.checkpoint, "its text encoder's sizes are not CLIP's (" + std::to_string(x.layers) + " layers, " +
                                         std::to_string(x.context_length) + " positions, 77 needed)" + damaged);
    if (c.has_text && (x.heads < 1 || x.width % x.heads != 0))
        throw_bad_file(heads_from_json ? n.json : n.checkpoint,
                       "the text encoder's width " + std::to_string(x.width) + " does not split into " + std::to_string(x.heads) +
                           " heads; give text.heads a divisor of the width in the JSON config.");
    if (c.has_unet) {
        for (int f : u.attention_resolutions) {
            size_t level = 0;
            while ((1 << level) < f) ++level;
            if (level >= u.channel_mult.size()) continue;
            const int ch = u.model_channels * u.channel_mult[level];
            const int heads = u.heads_at(ch);
            const int head_width = u.num_head_channels > 0 ? u.num_head_channels : ch / heads;
            // A head count that does not divide the channels is a valid (if odd) ldm layout whose
            // weights say so; a head wider than the channels builds attention of zero width.
            if (head_width >= 1 && heads * head_width >= 1 && head_width <= ch) continue;
            const std::string split = u.num_head_channels > 0 ? "heads of " + std::to_string(u.num_head_channels) + " channels"
                                                              : std::to_string(heads) + " heads";
            if (c.config_source == "yaml")
                throw_bad_file(n.yaml, "the UNet's " + std::to_string(ch) + " channels do not split into " + split +
                                           "; fix num_heads / num_head_channels in the YAML config or remove it.");
            throw_bad_file(n.checkpoint, "the UNet's " + std::to_string(ch) + " channels do not split into " + split +
                                             " as the stock config has it; put the model's YAML config next to it.");
        }
    }
    const ScheduleConfig& sc = c.schedule;
    if (!(sc.linear_start > 0 && sc.linear_start <= sc.linear_end && sc.linear_end < 1) || sc.timesteps < 2 || sc.timesteps > 100000)
        throw_bad_file(n.yaml, "its noise schedule (linear_start " + std::to_string(sc.linear_start) + ", linear_end " +
                                   std::to_string(sc.linear_end) + ", timesteps " + std::to_string(sc.timesteps) +
                                   ") is not a usable one; Stable Diffusion's is 0.00085, 0.012, 1000.");
    if (!(c.scale_factor > 0 && c.scale_factor <= 100))
        throw_bad_file(n.yaml, "its scale_factor " + std::to_string(c.scale_factor) +
                                   " is not a latent scale; SD 1.x/2.x use 0.18215.");
}

}  // namespace

ModelConfig infer_model_config(const io::TensorMap& t, const nlohmann::json* yaml, const nlohmann::json* json,
                               const ConfigSources& names) {
    try {
        bool heads_from_json = false;
        ModelConfig c = infer_from(t, yaml, json, &heads_from_json);
        check_config(c, names, heads_from_json);
        return c;
    } catch (const BadShape& b) {
        throw_bad_file(names.checkpoint, b.problem + "; the file is damaged or not a Stable Diffusion 1.x/2.x checkpoint.");
    } catch (const BadYaml& b) {
        throw_bad_file(names.yaml, b.problem + "; fix the YAML config or remove it.");
    }
}

std::optional<std::string> find_sidecar(const std::string& checkpoint_path, const std::string& ext) {
    const std::string dir = dir_of(checkpoint_path), stem = stem_of(checkpoint_path);
    std::string exact = dir + "/" + stem + ext;
    if (std::ifstream(exact).good()) return exact;
    std::optional<std::string> best;
    size_t best_len = 0;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) {
            std::string name = e->d_name;
            if (name.size() <= ext.size() || name.compare(name.size() - ext.size(), ext.size(), ext) != 0) continue;
            std::string s = name.substr(0, name.size() - ext.size());
            // Only a prefix that ends at a word boundary: "model" for "model-fp16", not "mod".
            if (s.size() < stem.size() && stem.compare(0, s.size(), s) == 0 &&
                (stem[s.size()] == '-' || stem[s.size()] == '_' || stem[s.size()] == '.') && s.size() > best_len) {
                best = dir + "/" + name;
                best_len = s.size();
            }
        }
        closedir(d);
    }
    return best;
}

ModelConfig load_model_config(const std::string& checkpoint_path, const io::TensorMap& tensors,
                              std::optional<Prediction> override_prediction) {
    nlohmann::json yaml, json;
    std::string sources;
    const nlohmann::json* yp = nullptr;
    const nlohmann::json* jp = nullptr;
    if (auto y = find_sidecar(checkpoint_path, ".yaml")) {
        yaml = io::parse_yaml_lite(read_sidecar(*y), *y);
        yp = &yaml;
        sources = *y;
    }
    if (auto j = find_sidecar(checkpoint_path, ".json")) {
        json = nlohmann::json::parse(read_sidecar(*j), nullptr, false);
        if (!json.is_discarded() && json.is_object()) {
            jp = &json;
            sources += (sources.empty() ? "" : ", ") + *j;
        }
    }
    ConfigSources names;
    names.checkpoint = checkpoint_path;
    if (auto y = find_sidecar(checkpoint_path, ".yaml")) names.yaml = *y;
    if (auto j = find_sidecar(checkpoint_path, ".json")) names.json = *j;
    ModelConfig c = infer_model_config(tensors, yp, jp, names);
    if (!sources.empty()) c.config_source = sources;
    if (override_prediction) {
        c.prediction = *override_prediction;
        c.prediction_source = "override";
    }
    return c;
}

}  // namespace sdgimp
