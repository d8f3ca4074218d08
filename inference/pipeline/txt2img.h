// Text-to-image and image-to-image sampling over prepared conditioning (latents in, latents out).
#pragma once

#include <cstdint>
#include <functional>
#include <torch/torch.h>
#include <vector>

#include "../sampling/noise.h"
#include "../sampling/samplers.h"
#include "../sampling/unipc.h"
#include "../sampling/schedules.h"
#include "sd_model.h"

namespace sdgimp::pipeline {

struct SamplingSettings {
    sampling::SamplerKind sampler = sampling::SamplerKind::kEulerA;
    sampling::ScheduleKind schedule = sampling::ScheduleKind::kAutomatic;
    int steps = 20;
    double cfg_scale = 7.0;
    sampling::NoiseSource noise = sampling::NoiseSource::kCPU;
    int64_t eta_noise_seed_delta = 0;
    double eta = 1.0;       // ancestral samplers (A1111's eta_ancestral)
    double eta_ddim = 0.0;  // DDIM (A1111's eta_ddim)
    bool img2img_fix_steps = false;  // A1111's "do exactly the amount of steps the slider specifies"
    // Settings A1111 keeps on its Sampler parameters page (defaults = off).
    double s_churn = 0, s_tmin = 0, s_tmax = 0, s_noise = 1.0;  // s_tmax 0 = no upper bound
    double skip_early_cond = 0, s_min_uncond = 0;
    bool s_min_uncond_all = false;
    bool sgm_noise_multiplier = false;
    sampling::ScheduleOverrides schedule_overrides;  // A1111's schedule min/max sigma, rho, Beta alpha/beta
    bool always_discard_next_to_last_sigma = false;
    double noise_multiplier = 1.0, extra_noise = 0.0;  // img2img only (A1111's "Noise multiplier", "Extra noise")
    double image_cfg_scale = 1.0;  // InstructPix2Pix models (8 input channels) only
    sampling::UniPCOptions unipc;
};

// A1111's img2img step set-up: the schedule length and how many of its steps run.
struct Img2ImgSteps {
    int steps;  // the schedule is made for this many steps
    int t_enc;  // the sampler runs the last t_enc of them
};
Img2ImgSteps img2img_steps(int steps, double strength, bool fix_steps);

// The sampler steps an img2img run of these settings reports through its callback: t_enc + 1 for
// the k-diffusion samplers (A1111 hands them t_enc + 2 sigmas), t_enc for the timestep ones.
int img2img_callback_steps(const SamplingSettings& s, double strength);

// The sigma list the sampler receives, with A1111's "Automatic" mapping and discards.
torch::Tensor sampler_sigmas(const SamplingSettings& s, const sampling::ModelSchedule& model, int steps);

// The noised start latent: noise * sigma0, or noise * sqrt(1 + sigma0^2) with the SGM noise multiplier.
torch::Tensor initial_latent(const SamplingSettings& s, const torch::Tensor& noise, const torch::Tensor& sigma0);

// Copies the guidance skips (Skip Early CFG, NGMS) into g for a run of `steps` sampler steps.
void apply_guidance_skips(const SamplingSettings& s, int steps, sampling::Guidance* g);

// The k-diffusion sampler options of these settings for a batch with these image seeds.
sampling::SamplerOptions sampler_options(const SamplingSettings& s, const std::vector<uint64_t>& seeds);

// A1111's "Refiner" in one pass: the denoiser moves to another checkpoint (its UNet and its own
// encoding of the prompts; the call count and the guidance skips carry on) at the first call whose
// sigma is nearest a timestep t of the model's table with (999 - t) / 1000 >= switch_at, and stays.
struct RefinerRun {
    LatentModel lm;
    ImageCodec codec;                // decodes what the pass ends with once it has switched
    sampling::GuidanceAt guidance;   // the prompts as the refiner's text encoder reads them
    double switch_at = 0.8;
    bool by_steps = false;           // A1111's "Refiner switch by sampling steps": model calls / total steps
    bool switched = false;           // set by the pass that switched
};

// The fraction of the model's 1000 timesteps a denoiser call has passed, as A1111's apply_refiner
// reads it: the table entry nearest the largest sigma, or for the timestep samplers (table
// undefined) the timestep itself truncated; float32 as there.
float refiner_completed_ratio(const torch::Tensor& sigma_table, const torch::Tensor& sigma);

// Samples a (B, 4, H/8, W/8) batch from noise of the given per-image seeds.
torch::Tensor txt2img_latents(const LatentModel& m, const sampling::GuidanceAt& g, const std::vector<uint64_t>& seeds,
                              int width, int height, const SamplingSettings& s,
                              const sampling::StepCallback& cb = {}, const sampling::Variation& var = {},
                              const torch::Tensor& concat = {}, RefinerRun* refiner = nullptr);

// Inpainting's latent blend: after every denoiser call and at the end, the kept area (mask = 1)
// is put back from the init latent.
struct LatentBlend {
    torch::Tensor init, mask, nmask;  // (B, 4, h, w); mask + nmask = 1
    // Set: each step's blend of (current latent, the sigma the denoiser gets) instead of the
    // linear one, and the final latent is left as sampled (soft inpainting).
    std::function<torch::Tensor(const torch::Tensor& current, const torch::Tensor& sigma)> step;
    torch::Tensor at_step(const torch::Tensor& current, const torch::Tensor& sigma) const {
        return step ? step(current, sigma) : init * mask + nmask * current;
    }
    torch::Tensor at_end(const torch::Tensor& samples) const { return step ? samples : samples * nmask + init * mask; }
};

// A1111's img2img step set-up: t_enc = int(strength * steps); the sampler runs the last
// t_enc + 1 sigmas of a `steps` schedule from init_latent + noise * sigma.
torch::Tensor img2img_latents(const LatentModel& m, const sampling::GuidanceAt& g, const torch::Tensor& init_latent,
                              const std::vector<uint64_t>& seeds, double strength, const SamplingSettings& s,
                              const sampling::StepCallback& cb = {}, const sampling::Variation& var = {},
                              const torch::Tensor& concat = {}, const LatentBlend* blend = nullptr,
                              RefinerRun* refiner = nullptr);

}  // namespace sdgimp::pipeline
