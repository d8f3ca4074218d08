// UniPC (Zhao et al. 2023) as A1111 runs it: multistep predictor-corrector in data-prediction form
// over the model's discrete VP schedule (piecewise-linear log alpha), guided eps from the CFG
// denoiser at model time (t - 1/1000) * 1000.
#pragma once

#include <optional>
#include <string>
#include <torch/torch.h>

#include "samplers.h"

namespace sdgimp::sampling {

struct UniPCOptions {
    std::string variant = "bh1";            // "bh1" or "bh2" (A1111's uni_pc_variant)
    int order = 3;                          // uni_pc_order
    std::string skip_type = "time_uniform"; // "time_uniform", "time_quadratic" or "logSNR"
    bool lower_order_final = true;          // uni_pc_lower_order_final
};

// Refuses options A1111 itself cannot run (order above the step count) or we do not offer, with a sentence.
void check_unipc(const UniPCOptions& o, int steps);

// eps(x, t) is the guided noise prediction at model time t (one value per row). x starts as pure
// noise (txt2img) or the noised init latent; t_start (img2img) = the last timestep / 1000 + 1/1000.
torch::Tensor sample_unipc(const Denoiser& eps, torch::Tensor x, int steps, const torch::Tensor& alphas_cumprod,
                           const UniPCOptions& o, const StepCallback& cb, std::optional<torch::Tensor> t_start = std::nullopt);

}  // namespace sdgimp::sampling
