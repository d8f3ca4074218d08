#include "model_info.h"

#include <cstdlib>

#include <nlohmann/json.hpp>
#include <thread>
#include <torch/torch.h>

#include "../io/checkpoint_file.h"
#include "../io/checkpoint_keys.h"
#include "../io/hash_cache.h"
#include "../io/model_hash.h"
#include "../models/latent_diffusion.h"
#include "../models/state_loader.h"
#include "host_memory.h"

namespace sdgimp {

void init_torch_threads() {
    // $GIMP_DIFFUSION_THREADS caps the engine's threads (cores left to GIMP, or test programs that
    // run side by side: OpenMP threads of two processes on the same cores wait on each other at
    // every parallel step, which made small-model tests 50x slower).
    int threads = static_cast<int>(std::thread::hardware_concurrency());
    if (const char* e = std::getenv("GIMP_DIFFUSION_THREADS")) {
        const int n = std::atoi(e);
        if (n > 0) threads = n;
    }
    if (threads > 0) at::set_num_threads(threads);
    keep_freed_memory_in_process();
}

ModelInfo inspect_model(const std::string& path, std::optional<Prediction> prediction, bool with_hashes) {
    ModelInfo info;
    info.path = path;
    io::CheckpointFile ck = io::open_checkpoint(path);
    info.format = ck.format;
    io::TensorMap tensors = io::normalize_sd_keys(std::move(ck.tensors));
    info.tensors = static_cast<int>(tensors.size());
    info.config = load_model_config(path, tensors, prediction);
    if (info.config.has_unet) {
        models::LatentDiffusion ld(info.config);
        models::LoadReport r = models::load_state(*ld, tensors, "");
        info.missing_keys = r.missing;
        info.unexpected_keys = r.unexpected;
        info.mismatched_keys = r.mismatched;
    }
    if (with_hashes) {
        // The whole-file hash through the cache the engine's loads share (multi-GB files hash once).
        info.sha256 = io::cached_sha256(*ck.file);
        info.hash_new = info.sha256.substr(0, 10);
        info.hash_old = io::old_model_hash(*ck.file);
    }
    return info;
}

std::string model_info_json(const ModelInfo& info) {
    const ModelConfig& c = info.config;
    nlohmann::json j;
    j["path"] = info.path;
    j["format"] = info.format;
    j["family"] = family_name(c.family);
    j["kind"] = model_kind(c);
    j["prediction"] = prediction_name(c.prediction);
    j["prediction_source"] = c.prediction_source;
    j["config_source"] = c.config_source;
    j["in_channels"] = c.unet.in_channels;
    j["context_dim"] = c.unet.context_dim;
    j["model_channels"] = c.unet.model_channels;
    j["channel_mult"] = c.unet.channel_mult;
    j["text_encoder"] = c.text.kind == TextEncoderKind::kOpenCLIP ? "open_clip" : "hf_clip";
    j["tensors"] = info.tensors;
    j["missing_keys"] = info.missing_keys;
    j["unexpected_keys"] = info.unexpected_keys;
    j["mismatched_keys"] = info.mismatched_keys;
    j["hash_old"] = info.hash_old;
    j["hash_new"] = info.hash_new;
    j["sha256"] = info.sha256;
    return j.dump(1);
}

}  // namespace sdgimp
