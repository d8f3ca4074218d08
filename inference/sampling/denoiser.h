// A1111's model wrapping: k-diffusion's CompVis eps / v scalings around the UNet, and the
// CFGDenoiser batching (all cond rows, then one uncond row per image) with AND weights.
#pragma once

#include <functional>
#include <memory>
#include <torch/torch.h>
#include <utility>
#include <vector>

#include "../model_config.h"
#include "samplers.h"
#include "schedules.h"

namespace sdgimp::sampling {

// The raw network: UNet output (eps or v) for scaled input, float timesteps, conditioning rows.
using ModelFn = std::function<torch::Tensor(const torch::Tensor& x_in, const torch::Tensor& t, const torch::Tensor& cond)>;

// CompVisDenoiser / CompVisVDenoiser: denoised estimate from the raw network.
torch::Tensor compvis_denoise(const ModelFn& model, const ModelSchedule& sched, Prediction pred,
                              const torch::Tensor& x, const torch::Tensor& sigma, const torch::Tensor& cond);

struct Guidance {
    torch::Tensor cond;    // (rows, tokens, dim): image 0's sub-prompts, then image 1's, ...
    torch::Tensor uncond;  // (batch, tokens, dim)
    std::vector<std::vector<std::pair<int, double>>> conds_list;  // per image: (cond row, AND weight)
    double cfg_scale = 7.0;
    // A1111's guidance skips (uncond rows dropped, scale 1): "Skip Early CFG" for the first fraction
    // of total_steps model calls, and "NGMS" on odd calls below sigma s_min_uncond. 0 = off.
    double skip_early_cond = 0, s_min_uncond = 0;
    bool s_min_uncond_all = false;  // "NGMS all steps": every call below s_min_uncond, not every other
    int total_steps = 0;  // expected model calls (steps, doubled for second-order samplers)
    // A1111's "Pad prompt/negative prompt": a prompt and negative prompt of different lengths share
    // one batch, the shorter padded with `empty` (the empty prompt's encoding, (tokens, dim)) as
    // often as needed; its older "v0" form instead repeats the negative prompt's last vector, or cuts
    // it, to the prompt's length. Without either they run apart. `padded` (shared by a run's passes)
    // ends a pass set when its last call padded, or when it was set before the pass.
    enum class Pad { kNone, kEmpty, kV0 };
    Pad pad = Pad::kNone;
    torch::Tensor empty;
    std::shared_ptr<bool> padded;
    // Set when a call skipped the uncond pass for NGMS (A1111 notes "NGMS" only then).
    std::shared_ptr<bool> ngms_skipped;
    // InstructPix2Pix's image guidance (A1111's is_edit_model, an Image CFG scale other than 1):
    // with `edit` the inner denoiser gets [prompt rows, negative rows, negative rows] (the last without the
    // image) and the result is uncond + cfg (cond - image) + image_cfg (image - uncond).
    bool edit = false;
    double image_cfg_scale = 1.0;
};

// A1111's LCM wrapper: eps at the LCM's integer timesteps (eps even for v models, as A1111 does),
// then the consistency scaling (sigma_data 0.5, timestep x 10).
torch::Tensor lcm_denoise(const ModelFn& model, const LcmSchedule& lcm, const torch::Tensor& x, const torch::Tensor& sigma,
                          const torch::Tensor& cond);

// Denoised estimate of rows x at sigma under conditioning rows cond.
using InnerDenoiser = std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& sigma, const torch::Tensor& cond)>;

// The guidance for a 0-based model call counter (prompt schedules switch conditioning by it).
using GuidanceAt = std::function<Guidance(int call)>;

// One sampler-facing denoiser with classifier-free guidance.
Denoiser make_cfg_denoiser(ModelFn model, const ModelSchedule& sched, Prediction pred, Guidance g);
Denoiser make_cfg_denoiser(ModelFn model, const ModelSchedule& sched, Prediction pred, GuidanceAt guidance);
// last_uncond, when given, receives the unconditional rows of every call (DDIM CFG++ steers with them).
Denoiser make_cfg_denoiser(InnerDenoiser inner, GuidanceAt guidance, std::shared_ptr<torch::Tensor> last_uncond = nullptr);

// Guidance with one prompt per image (weight 1): cond rows 0..B-1.
Guidance simple_guidance(const torch::Tensor& cond, const torch::Tensor& uncond, double cfg_scale);

}  // namespace sdgimp::sampling
