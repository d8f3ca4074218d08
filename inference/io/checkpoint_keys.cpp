#include "checkpoint_keys.h"

#include <set>

namespace sdgimp::io {

TensorMap normalize_sd_keys(TensorMap tensors, int* dropped) {
    static const std::string kOldClip = "cond_stage_model.transformer.";
    static const std::string kNewClip = "cond_stage_model.transformer.text_model.";
    TensorMap out;
    int n_dropped = 0;
    for (auto& kv : tensors) {
        std::string key = kv.first;
        if (key.rfind("model_ema.", 0) == 0) { ++n_dropped; continue; }
        if (key.rfind(kOldClip, 0) == 0 && key.rfind(kNewClip, 0) != 0) key = kNewClip + key.substr(kOldClip.size());
        out[key] = std::move(kv.second);
    }
    if (dropped) *dropped = n_dropped;
    return out;
}

bool is_known_non_module_key(const std::string& key) {
    static const std::set<std::string> kSchedule = {
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod",
        "posterior_variance", "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2",
        "model_ema.decay", "model_ema.num_updates", "logvar", "cond_stage_model.model.attn_mask"};
    return kSchedule.count(key) > 0;
}

bool is_optional_module_key(const std::string& key) {
    return key == "cond_stage_model.transformer.text_model.embeddings.position_ids";
}

}  // namespace sdgimp::io
