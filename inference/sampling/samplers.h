// k-diffusion samplers as small functions over a denoiser callable and a sigma list.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <torch/torch.h>

namespace sdgimp::sampling {

// denoised = D(x, sigma); sigma is a float32 vector with one entry per batch row.
using Denoiser = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& sigma)>;
// One more noise draw shaped like the latent batch (A1111's ImageRNG.next()).
using NoiseFn = std::function<torch::Tensor()>;
// After each step: step index, step count, the current denoised estimate. May throw Cancelled.
using StepCallback = std::function<void(int step, int steps, const torch::Tensor& denoised)>;

enum class SamplerKind { kEulerA, kEuler, kLMS, kHeun, kDPM2, kDPM2A, kDPMPP2SA, kDPMPP2M, kLCM, kRestart, kDPMFast, kDDIM, kDDIMCFGPP, kPLMS };

struct SamplerInfo {
    SamplerKind kind;
    const char* name;        // A1111's name: "Euler a", "DPM++ 2M", ...
    const char* automatic;   // what "Automatic" means: "Uniform", "Karras", "Exponential"
    bool second_order;       // A1111 doubles steps for prompt schedules of these
    bool discard_next_to_last_sigma;
    bool timesteps = false;  // DDIM-style: integer timesteps over alphas_cumprod, no sigma list
};

const std::vector<SamplerInfo>& sampler_table();
std::optional<SamplerInfo> find_sampler(const std::string& a1111_name);
const SamplerInfo& find_sampler_kind(SamplerKind kind);

struct SamplerOptions {
    double eta = 1.0, s_noise = 1.0;
};

torch::Tensor sample(SamplerKind kind, const Denoiser& model, torch::Tensor x, const torch::Tensor& sigmas,
                     const NoiseFn& noise, const StepCallback& callback, const SamplerOptions& opt = {});

}  // namespace sdgimp::sampling
