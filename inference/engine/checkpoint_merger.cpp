#include "checkpoint_merger.h"

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sys/stat.h>
#include <torch/torch.h>

#include "../io/checkpoint_file.h"
#include "../io/hash_cache.h"
#include "../io/model_hash.h"
#include "../io/safetensors_writer.h"
#include "../io/torch_checkpoint_writer.h"
#include "../models/state_loader.h"
#include "../status.h"
#include "../text/infotext.h"

namespace sdgimp {
namespace {

using Dict = std::vector<std::pair<std::string, torch::Tensor>>;  // A1111's dicts keep their order
using OJson = nlohmann::ordered_json;

bool exists(const std::string& path) {
    struct stat st{};
    return ::stat(path.c_str(), &st) == 0;
}

std::string stem(const std::string& path) {
    std::string name = path.substr(path.find_last_of('/') + 1);
    const size_t dot = name.find_last_of('.');
    return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

std::string file_name(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

std::string folder_of(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? "." : path.substr(0, slash);
}

// Python's round(x, 2) shown as Python prints the float.
std::string round2(double x) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.2f", x);
    return text::python_float_repr(std::strtod(buf, nullptr));
}

// A1111's get_state_dict_from_checkpoint: old SD 1.x text-encoder keys gain "text_model.", SD 2.1
// Turbo's SGM text encoder becomes the LDM one.
std::string a1111_key(const std::string& k, bool turbo) {
    static const std::pair<const char*, const char*> kSd1[] = {
        {"cond_stage_model.transformer.embeddings.", "cond_stage_model.transformer.text_model.embeddings."},
        {"cond_stage_model.transformer.encoder.", "cond_stage_model.transformer.text_model.encoder."},
        {"cond_stage_model.transformer.final_layer_norm.", "cond_stage_model.transformer.text_model.final_layer_norm."}};
    auto replace = [](std::string key, const std::string& from, const std::string& to) {
        return key.rfind(from, 0) == 0 ? to + key.substr(from.size()) : key;
    };
    if (turbo) return replace(k, "conditioner.embedders.0.", "cond_stage_model.");
    std::string out = k;
    for (const auto& [from, to] : kSd1) out = replace(out, from, to);
    return out;
}

struct Loaded {
    Dict tensors;
    std::map<std::string, std::string> metadata;
    std::shared_ptr<const io::MappedFile> file;
};

Loaded read_state_dict(const std::string& path) {
    io::CheckpointFile ck = io::open_checkpoint(path);
    const auto ln = ck.tensors.find("conditioner.embedders.0.model.ln_final.weight");
    const bool turbo = ln != ck.tensors.end() && !ln->second.shape.empty() && ln->second.shape[0] == 1024;
    Loaded l;
    // Views of the mapped file where the layout allows: only what the merge changes takes memory.
    for (const auto& [k, raw] : ck.tensors) l.tensors.emplace_back(a1111_key(k, turbo), models::file_backed(raw));
    l.metadata = ck.metadata;
    l.file = ck.file;
    return l;
}

torch::Tensor* find(Dict& d, const std::string& key) {
    for (auto& kv : d)
        if (kv.first == key) return &kv.second;
    return nullptr;
}

std::map<std::string, size_t> index_of(const Dict& d) {
    std::map<std::string, size_t> idx;
    for (size_t i = 0; i < d.size(); ++i) idx[d[i].first] = i;
    return idx;
}

bool merges(const std::string& key) { return key.find("model") != std::string::npos; }
bool skipped(const std::string& key) { return key == "cond_stage_model.transformer.text_model.embeddings.position_ids"; }

// A1111's arithmetic as PyTorch 2.x computes it on the CPU: float16 / bfloat16 operands in float32,
// a Python-float factor kept as float32 (not rounded to the tensor's type first, as older LibTorch
// does), each result rounded back to the tensor's type.
bool reduced(const torch::Tensor& t) { return t.scalar_type() == torch::kHalf || t.scalar_type() == torch::kBFloat16; }

torch::Tensor times(const torch::Tensor& t, double w) {
    return reduced(t) ? (t.to(torch::kFloat) * w).to(t.scalar_type()) : t * w;
}

torch::Tensor plus(const torch::Tensor& a, const torch::Tensor& b, double sign = 1) {
    if (reduced(a) && a.scalar_type() == b.scalar_type())
        return (sign > 0 ? a.to(torch::kFloat) + b.to(torch::kFloat) : a.to(torch::kFloat) - b.to(torch::kFloat)).to(a.scalar_type());
    return sign > 0 ? a + b : a - b;
}

torch::Tensor to_half(const torch::Tensor& t, bool save_as_half) {
    return save_as_half && t.scalar_type() == torch::kFloat ? t.to(torch::kHalf) : t;
}

const char* safetensors_dtype(torch::ScalarType t) {
    switch (t) {
        case torch::kDouble: return "F64";
        case torch::kFloat: return "F32";
        case torch::kHalf: return "F16";
        case torch::kBFloat16: return "BF16";
        case torch::kLong: return "I64";
        case torch::kInt: return "I32";
        case torch::kShort: return "I16";
        case torch::kChar: return "I8";
        case torch::kByte: return "U8";
        case torch::kBool: return "BOOL";
        default: throw Error(ErrorCode::kInternal, "A merged tensor has a dtype safetensors cannot hold.");
    }
}

// json.dumps as Python writes it: ", " and ": " separators, non-ASCII escaped, floats by repr.
std::string python_json(const OJson& j) {
    switch (j.type()) {
        case OJson::value_t::object: {
            std::string s = "{";
            bool first = true;
            for (auto it = j.begin(); it != j.end(); ++it) {
                s += (first ? "" : ", ") + python_json(OJson(it.key())) + ": " + python_json(it.value());
                first = false;
            }
            return s + "}";
        }
        case OJson::value_t::array: {
            std::string s = "[";
            for (size_t i = 0; i < j.size(); ++i) s += (i ? ", " : "") + python_json(j[i]);
            return s + "]";
        }
        case OJson::value_t::number_float: return text::python_float_repr(j.get<double>());
        case OJson::value_t::string: return j.dump(-1, ' ', true);
        default: return j.dump();
    }
}

// A1111 reads metadata values that look like JSON objects as objects.
OJson metadata_value(const std::map<std::string, std::string>& md, const std::string& key) {
    const auto it = md.find(key);
    if (it == md.end()) return nullptr;
    if (it->second.rfind("{", 0) == 0) {
        try {
            return OJson::parse(it->second);
        } catch (const std::exception&) {
        }
    }
    return it->second;
}

}  // namespace

int parse_config_source(const std::string& name) {
    static const char* kNames[] = {"A, B or C", "B", "C", "Don't"};
    for (int i = 0; i < 4; ++i)
        if (name == kNames[i]) return i;
    throw Error(ErrorCode::kInvalidRequest, "Copy config from is \"A, B or C\", \"B\", \"C\" or \"Don't\", not \"" + name + "\".");
}

void validate_merge(const MergeSettings& s) {
    auto bad = [](const std::string& m) { throw Error(ErrorCode::kInvalidRequest, m); };
    if (s.method != "Weighted sum" && s.method != "Add difference" && s.method != "No interpolation")
        bad("The merge method is \"Weighted sum\", \"Add difference\" or \"No interpolation\", not \"" + s.method + "\".");
    if (s.primary.empty()) bad("Choose the primary model (A) to merge.");
    if (s.method != "No interpolation" && s.secondary.empty()) bad(s.method + " needs a secondary model (B).");
    if (s.method == "Add difference" && s.tertiary.empty()) bad("Add difference needs a tertiary model (C).");
    for (const std::string* p : {&s.primary, &s.secondary, &s.tertiary})
        if (!p->empty() && !exists(*p)) bad("The checkpoint " + *p + " cannot be read; check the path.");
    if (!s.bake_in_vae.empty() && s.bake_in_vae != "None" && !exists(s.bake_in_vae))
        bad("The VAE file " + s.bake_in_vae + " cannot be read; check the path or choose None.");
    if (!(s.multiplier >= -10 && s.multiplier <= 10)) bad("The merge multiplier must be between -10 and 10 (A1111's slider: 0 to 1).");
    if (!s.discard_weights.empty()) {
        try {
            (void)std::regex(s.discard_weights);
        } catch (const std::regex_error&) {
            bad("\"" + s.discard_weights + "\" is not a regular expression; write the keys to discard as one, e.g. ^model_ema\\.");
        }
    }
    if (s.custom_name.find('/') != std::string::npos) bad("The custom name is a file name, without folders.");
    if (s.config_source < 0 || s.config_source > 3) bad("Copy config from is 0 (A, B or C), 1 (B), 2 (C) or 3 (Don't).");
    if (s.checkpoint_format != "safetensors" && s.checkpoint_format != "ckpt")
        bad("The checkpoint format is \"safetensors\" or \"ckpt\", not \"" + s.checkpoint_format + "\".");
}

std::string merged_file_name(const MergeSettings& s, bool inpainting, bool instruct_pix2pix) {
    std::string name = s.custom_name;
    if (name.empty()) {
        if (s.method == "Weighted sum")
            name = round2(1 - s.multiplier) + "(" + stem(s.primary) + ") + " + round2(s.multiplier) + "(" + stem(s.secondary) + ")";
        else if (s.method == "Add difference")
            name = stem(s.primary) + " + " + round2(s.multiplier) + "(" + stem(s.secondary) + " - " + stem(s.tertiary) + ")";
        else
            name = stem(s.primary);
    }
    if (inpainting) name += ".inpainting";
    if (instruct_pix2pix) name += ".instruct-pix2pix";
    return name + "." + s.checkpoint_format;
}

MergeResult merge_checkpoints(const MergeSettings& s, const std::function<void(int, int)>& progress,
                              const std::function<bool()>& cancelled) {
    validate_merge(s);
    torch::NoGradGuard ng;
    const double m = s.multiplier;
    const bool weighted = s.method == "Weighted sum", difference = s.method == "Add difference";
    auto check_cancel = [&] {
        if (cancelled && cancelled()) throw Error(ErrorCode::kCancelled, "The merge was cancelled; nothing was written.");
    };
    MergeResult res;
    Dict theta_1;
    Loaded secondary, tertiary;
    if (weighted || difference) {
        secondary = read_state_dict(s.secondary);
        theta_1 = secondary.tensors;
    }
    if (difference) {
        tertiary = read_state_dict(s.tertiary);
        const auto idx2 = index_of(tertiary.tensors);
        for (auto& [key, t] : theta_1) {
            if (skipped(key) || !merges(key)) continue;
            const auto it = idx2.find(key);
            if (it == idx2.end()) {
                t = torch::zeros_like(t);
                continue;
            }
            const torch::Tensor& c = tertiary.tensors[it->second].second;
            if (c.sizes() != t.sizes())
                throw Error(ErrorCode::kInvalidRequest, "The models B and C differ in shape at " + key + "; choose models of one kind.");
            t = plus(t, c, -1);
        }
        tertiary.tensors.clear();
    }
    Loaded primary = read_state_dict(s.primary);
    Dict& theta_0 = primary.tensors;
    const auto idx1 = index_of(theta_1);
    const int total = static_cast<int>(theta_0.size());
    int done = 0;
    for (auto& [key, a] : theta_0) {
        check_cancel();
        const auto it = theta_1.empty() ? idx1.end() : idx1.find(key);
        if (it != idx1.end() && merges(key) && !skipped(key)) {
            const torch::Tensor& b = theta_1[it->second].second;
            auto combine = [&](const torch::Tensor& x) {
                return weighted ? plus(times(x, 1 - m), times(b, m)) : plus(x, times(b, m));
            };
            if (a.sizes() != b.sizes()) {
                const bool channels = a.dim() == 4 && b.dim() == 4 && a.size(0) == b.size(0) && a.size(2) == b.size(2) && a.size(3) == b.size(3);
                if (!channels) throw Error(ErrorCode::kInvalidRequest, "The models A and B differ in shape at " + key + "; choose models of one kind.");
                if (a.size(1) == 4 && b.size(1) == 9)
                    throw Error(ErrorCode::kInvalidRequest, "When merging an inpainting model with a normal one, A must be the inpainting model.");
                if (a.size(1) == 4 && b.size(1) == 8)
                    throw Error(ErrorCode::kInvalidRequest, "When merging an instruct-pix2pix model with a normal one, A must be the instruct-pix2pix model.");
                if (!((a.size(1) == 8 || a.size(1) == 9) && b.size(1) == 4))
                    throw Error(ErrorCode::kInvalidRequest, "The models A and B differ in shape at " + key + "; choose models of one kind.");
                // Only the four latent channels both have are merged.
                torch::Tensor merged = a.clone();
                merged.slice(1, 0, 4).copy_(combine(a.slice(1, 0, 4)));
                a = merged;
                (a.size(1) == 8 ? res.instruct_pix2pix : res.inpainting) = true;
            } else {
                a = combine(a);
            }
            a = to_half(a, s.save_as_half);
            ++res.merged;
        }
        if (progress) progress(++done, total);
    }
    theta_1.clear();
    secondary.tensors.clear();
    if (!s.bake_in_vae.empty() && s.bake_in_vae != "None") {
        io::CheckpointFile vae = io::open_checkpoint(s.bake_in_vae);
        for (const auto& [k, raw] : vae.tensors) {
            if (k.rfind("loss", 0) == 0 || k == "model_ema.decay" || k == "model_ema.num_updates") continue;
            if (torch::Tensor* t = find(theta_0, "first_stage_model." + k)) *t = to_half(models::to_torch(raw), s.save_as_half);
        }
    }
    if (s.save_as_half && !weighted && !difference)
        for (auto& kv : theta_0) kv.second = to_half(kv.second, true);
    if (!s.discard_weights.empty()) {
        const std::regex re(s.discard_weights);
        Dict kept;
        for (auto& kv : theta_0)
            if (!std::regex_search(kv.first, re)) kept.push_back(std::move(kv));
        theta_0 = std::move(kept);
    }
    check_cancel();

    const std::string dir = s.output_dir.empty() ? folder_of(s.primary) : s.output_dir;
    res.path = dir + "/" + merged_file_name(s, res.inpainting, res.instruct_pix2pix);
    if (exists(res.path)) throw Error(ErrorCode::kInvalidRequest, "The file " + res.path + " exists already; give the merge another name.");
    std::map<std::string, std::string> metadata;
    // As in A1111, the recipe goes only into a .safetensors file (torch.save has no metadata).
    if (s.save_metadata && s.checkpoint_format == "safetensors") {
        metadata["format"] = "pt";
        auto hashes = [](const std::string& path) {
            const auto f = io::MappedFile::open(path);
            return std::make_pair(io::cached_sha256(*f), io::old_model_hash(*f));
        };
        OJson recipe;
        OJson models = OJson::object();
        auto add_model = [&](const std::string& path, const std::map<std::string, std::string>& md, const std::string& sha,
                             const std::string& legacy) {
            OJson entry;
            entry["name"] = file_name(path);
            entry["legacy_hash"] = legacy;
            entry["sd_merge_recipe"] = metadata_value(md, "sd_merge_recipe");
            models[sha] = entry;
            const OJson parents = metadata_value(md, "sd_merge_models");
            if (parents.is_object())
                for (auto it = parents.begin(); it != parents.end(); ++it) models[it.key()] = it.value();
        };
        const auto [sha_a, old_a] = hashes(s.primary);
        std::string sha_b, old_b, sha_c, old_c;
        if (!s.secondary.empty() && (weighted || difference)) std::tie(sha_b, old_b) = hashes(s.secondary);
        if (!s.tertiary.empty() && difference) std::tie(sha_c, old_c) = hashes(s.tertiary);
        recipe["type"] = "webui";
        recipe["primary_model_hash"] = sha_a;
        recipe["secondary_model_hash"] = sha_b.empty() ? OJson(nullptr) : OJson(sha_b);
        recipe["tertiary_model_hash"] = sha_c.empty() ? OJson(nullptr) : OJson(sha_c);
        recipe["interp_method"] = s.method;
        recipe["multiplier"] = m;
        recipe["save_as_half"] = s.save_as_half;
        recipe["custom_name"] = s.custom_name;
        recipe["config_source"] = s.config_source;
        recipe["bake_in_vae"] = s.bake_in_vae.empty() ? std::string("None") : s.bake_in_vae;
        recipe["discard_weights"] = s.discard_weights;
        recipe["is_inpainting"] = res.inpainting;
        recipe["is_instruct_pix2pix"] = res.instruct_pix2pix;
        add_model(s.primary, primary.metadata, sha_a, old_a);
        if (!sha_b.empty()) add_model(s.secondary, secondary.metadata, sha_b, old_b);
        if (!sha_c.empty()) add_model(s.tertiary, tertiary.metadata, sha_c, old_c);
        metadata["sd_merge_recipe"] = python_json(recipe);
        metadata["sd_merge_models"] = python_json(models);
    }
    std::vector<io::RawBytesTensor> out;
    for (auto& kv : theta_0) {
        kv.second = kv.second.contiguous();
        std::vector<int64_t> shape(kv.second.sizes().begin(), kv.second.sizes().end());
        out.push_back({kv.first, safetensors_dtype(kv.second.scalar_type()), shape, static_cast<const uint8_t*>(kv.second.data_ptr()),
                       static_cast<size_t>(kv.second.numel()) * kv.second.element_size()});
    }
    if (s.checkpoint_format == "ckpt") io::write_torch_checkpoint(res.path, out);
    else io::write_safetensors_raw(res.path, out, metadata);
    res.written = static_cast<int>(out.size());
    // A1111's create_config: "<model>.yaml" beside the models the merge used, copied under the result's name.
    auto config_of = [](const std::string& model) {
        const std::string yaml = model.empty() ? "" : model.substr(0, model.size() - file_name(model).size()) + stem(model) + ".yaml";
        return !yaml.empty() && exists(yaml) ? yaml : std::string();
    };
    const std::string b = weighted || difference ? s.secondary : "", c = difference ? s.tertiary : "";
    std::string cfg;
    if (s.config_source == 0) {
        for (const std::string& m : {s.primary, b, c})
            if (cfg.empty()) cfg = config_of(m);
    } else if (s.config_source == 1) {
        cfg = config_of(b);
    } else if (s.config_source == 2) {
        cfg = config_of(c);
    }
    if (!cfg.empty()) {
        res.config = res.path.substr(0, res.path.size() - s.checkpoint_format.size() - 1) + ".yaml";
        std::ifstream in(cfg, std::ios::binary);
        std::ofstream out_cfg(res.config, std::ios::binary);
        out_cfg << in.rdbuf();
        if (!out_cfg) throw Error(ErrorCode::kBadFile, "The merged model was written, but its config could not be copied to " + res.config + ".");
    }
    return res;
}

}  // namespace sdgimp
