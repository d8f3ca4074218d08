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

const nlohmann::json* at_path(const nlohmann::json* j, std::initializer_list<const char*> path) {
    for (const char* k : path) {
        if (!j || !j->is_object() || !j->contains(k)) return nullptr;
        j = &(*j)[k];
    }
    return j;
}

void infer_unet(const io::TensorMap& t, UNetConfig* u) {
    const std::string p = "model.diffusion_model.";
    const io::RawTensor* in = find(t, p + "input_blocks.0.0.weight");
    u->in_channels = static_cast<int>(in->shape[1]);
    u->model_channels = static_cast<int>(in->shape[0]);
    if (const io::RawTensor* out = find(t, p + "out.2.weight")) u->out_channels = static_cast<int>(out->shape[0]);
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
        if (const io::RawTensor* w = find(t, bp + "0.out_layers.3.weight")) width = static_cast<int>(w->shape[0]);
        ++res_in_level;
        if (find(t, bp + "1.proj_in.weight")) {
            attn_in_level = true;
            u->transformer_depth = count_indexed(t, bp + "1.transformer_blocks.");
            u->use_linear_in_transformer = find(t, bp + "1.proj_in.weight")->shape.size() == 2;
            if (const io::RawTensor* k = find(t, bp + "1.transformer_blocks.0.attn2.to_k.weight"))
                u->context_dim = static_cast<int>(k->shape[1]);
        }
    }
    close_level();
    // Listed as the configs list them: largest downsampling factor first.
    std::sort(u->attention_resolutions.rbegin(), u->attention_resolutions.rend());
}

void infer_vae(const io::TensorMap& t, VAEConfig* v) {
    const std::string p = "first_stage_model.";
    v->ch = static_cast<int>(find(t, p + "encoder.conv_in.weight")->shape[0]);
    v->ch_mult.clear();
    const int levels = count_indexed(t, p + "encoder.down.");
    for (int l = 0; l < levels; ++l)
        if (const io::RawTensor* w = find(t, p + "encoder.down." + std::to_string(l) + ".block.0.conv2.weight"))
            v->ch_mult.push_back(static_cast<int>(w->shape[0]) / v->ch);
    v->num_res_blocks = count_indexed(t, p + "encoder.down.0.block.");
    if (const io::RawTensor* z = find(t, p + "decoder.conv_in.weight")) v->z_channels = static_cast<int>(z->shape[1]);
    if (const io::RawTensor* q = find(t, p + "quant_conv.weight")) v->embed_dim = static_cast<int>(q->shape[0]) / 2;
}

void infer_text(const io::TensorMap& t, TextConfig* c) {
    if (const io::RawTensor* e = find(t, "cond_stage_model.model.token_embedding.weight")) {
        c->kind = TextEncoderKind::kOpenCLIP;
        c->vocab = static_cast<int>(e->shape[0]);
        c->width = static_cast<int>(e->shape[1]);
        c->layers = count_indexed(t, "cond_stage_model.model.transformer.resblocks.");
        if (const io::RawTensor* f = find(t, "cond_stage_model.model.transformer.resblocks.0.mlp.c_fc.weight"))
            c->mlp = static_cast<int>(f->shape[0]);
        if (const io::RawTensor* pe = find(t, "cond_stage_model.model.positional_embedding"))
            c->context_length = static_cast<int>(pe->shape[0]);
        c->penultimate = true;
    } else {
        const std::string p = "cond_stage_model.transformer.text_model.";
        const io::RawTensor* emb = find(t, p + "embeddings.token_embedding.weight");
        c->kind = TextEncoderKind::kHFCLIP;
        c->vocab = static_cast<int>(emb->shape[0]);
        c->width = static_cast<int>(emb->shape[1]);
        c->layers = count_indexed(t, p + "encoder.layers.");
        if (const io::RawTensor* f = find(t, p + "encoder.layers.0.mlp.fc1.weight")) c->mlp = static_cast<int>(f->shape[0]);
        if (const io::RawTensor* pe = find(t, p + "embeddings.position_embedding.weight"))
            c->context_length = static_cast<int>(pe->shape[0]);
        c->penultimate = false;
    }
    // Real CLIP towers use 64-wide heads; a sidecar JSON may say otherwise (tiny test models).
    c->heads = std::max(1, c->width / 64);
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
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

ModelConfig infer_model_config(const io::TensorMap& t, const nlohmann::json* yaml, const nlohmann::json* json) {
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
                if (auto pr = parse_prediction(pz->get<std::string>())) c.prediction = *pr;
            } else {
                c.prediction = Prediction::kEps;  // ldm's default parameterization
            }
            c.prediction_source = "yaml";
            if (const auto* v = at_path(params, {"scale_factor"}); v && v->is_number()) c.scale_factor = v->get<double>();
            if (const auto* v = at_path(params, {"linear_start"}); v && v->is_number()) c.schedule.linear_start = v->get<double>();
            if (const auto* v = at_path(params, {"linear_end"}); v && v->is_number()) c.schedule.linear_end = v->get<double>();
            if (const auto* v = at_path(params, {"timesteps"}); v && v->is_number_integer()) c.schedule.timesteps = v->get<int>();
        }
        if (up) {
            const auto* nh = at_path(up, {"num_heads"});
            const auto* nhc = at_path(up, {"num_head_channels"});
            if (nhc && nhc->is_number_integer() && nhc->get<int>() > 0) { c.unet.num_head_channels = nhc->get<int>(); c.unet.num_heads = -1; }
            else if (nh && nh->is_number_integer() && nh->get<int>() > 0) { c.unet.num_heads = nh->get<int>(); c.unet.num_head_channels = -1; }
            if (const auto* ua = at_path(up, {"upcast_attention"}); ua && ua->is_boolean()) c.unet.upcast_attention = ua->get<bool>();
        }
        c.config_source = "yaml";
    }
    if (json) {
        if (const auto* th = at_path(json, {"text", "heads"}); th && th->is_number_integer() && th->get<int>() > 0)
            c.text.heads = th->get<int>();
    }
    return c;
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
        yaml = io::parse_yaml_lite(read_file(*y), *y);
        yp = &yaml;
        sources = *y;
    }
    if (auto j = find_sidecar(checkpoint_path, ".json")) {
        json = nlohmann::json::parse(read_file(*j), nullptr, false);
        if (!json.is_discarded() && json.is_object()) {
            jp = &json;
            sources += (sources.empty() ? "" : ", ") + *j;
        }
    }
    ModelConfig c = infer_model_config(tensors, yp, jp);
    if (!sources.empty()) c.config_source = sources;
    if (override_prediction) {
        c.prediction = *override_prediction;
        c.prediction_source = "override";
    }
    return c;
}

}  // namespace sdgimp
