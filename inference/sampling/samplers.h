// k-diffusion samplers as small functions over a denoiser callable and a sigma list.
#pragma once

#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <torch/torch.h>
#include <vector>

#include "noise.h"

namespace sdgimp::sampling {

// denoised = D(x, sigma); sigma is a float32 vector with one entry per batch row.
using Denoiser = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& sigma)>;
// One more noise draw shaped like the latent batch (A1111's ImageRNG.next()).
using NoiseFn = std::function<torch::Tensor()>;
// After each step: step index, step count, the current denoised estimate. May throw Cancelled.
using StepCallback = std::function<void(int step, int steps, const torch::Tensor& denoised)>;

enum class SamplerKind { kEulerA, kEuler, kLMS, kHeun, kDPM2, kDPM2A, kDPMPP2SA, kDPMPP2M, kDPMPPSDE, kDPMPP2MSDE,
                         kDPMPP2MSDEHeun, kDPMPP3MSDE, kLCM, kRestart, kDPMFast, kDPMAdaptive, kDDIM, kDDIMCFGPP,
                         kPLMS, kUniPC };

struct SamplerInfo {
    SamplerKind kind;
    const char* name;        // A1111's name: "Euler a", "DPM++ 2M", ...
    const char* automatic;   // what "Automatic" means: "Uniform", "Karras", "Exponential"
    bool second_order;       // A1111 doubles steps for prompt schedules of these
    bool discard_next_to_last_sigma;
    bool timesteps = false;  // DDIM-style: integer timesteps over alphas_cumprod, no sigma list
    bool brownian = false;   // draws its noise from per-image Brownian trees, not from the image generators
    int min_steps = 1;       // fewer steps fail in A1111 itself; the engine refuses them with a sentence
};

const std::vector<SamplerInfo>& sampler_table();
std::optional<SamplerInfo> find_sampler(const std::string& a1111_name);
const SamplerInfo& find_sampler_kind(SamplerKind kind);

struct SamplerOptions {
    double eta = 1.0, s_noise = 1.0;
    // Karras churn for Euler, Heun and DPM2 (A1111's "sigma churn", "sigma tmin", "sigma tmax").
    double s_churn = 0, s_tmin = 0, s_tmax = std::numeric_limits<double>::infinity();
    // The batch's image seeds and random source: the SDE samplers' Brownian trees are seeded with them.
    std::vector<uint64_t> seeds;
    NoiseSource source = NoiseSource::kCPU;
    // DPM fast / DPM adaptive integrate between these (A1111 passes the model's range for txt2img,
    // the trimmed schedule's for img2img); 0 = the ends of the sigma list.
    double sigma_min = 0, sigma_max = 0;
};

torch::Tensor sample(SamplerKind kind, const Denoiser& model, torch::Tensor x, const torch::Tensor& sigmas,
                     const NoiseFn& noise, const StepCallback& callback, const SamplerOptions& opt = {});

}  // namespace sdgimp::sampling
