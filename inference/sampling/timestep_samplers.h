// A1111's "timesteps" samplers (DDIM): the UNet gives eps at integer timesteps, no sigma scaling;
// the sampler walks alphas_cumprod. The schedule type does not apply to them.
#pragma once

#include <memory>
#include <torch/torch.h>

#include "../model_config.h"
#include "denoiser.h"
#include "samplers.h"

namespace sdgimp::sampling {

// alphas_cumprod below is float32, or float16 for A1111's "Downcast alphas_cumprod": its samplers
// then do part of their arithmetic in float16 (1 - a and its square root, the v-to-eps weights, the
// reciprocal in DDIM's eta term), and so do these (alphas_dtype_arith).

// clip(range(0, T, T // steps) + 1, 0, T - 1), ascending (consumed from the end).
torch::Tensor ddim_timesteps(int steps, int64_t T = 1000);

// The result of an operation on values of alphas_cumprod as A1111's tensor of that dtype gives it:
// float32 as it is, float16 rounded (each float16 operation rounds its float32 result).
torch::Tensor alphas_dtype_arith(const torch::Tensor& alphas_cumprod, const torch::Tensor& result);

// The CFG denoiser's inner call for timestep samplers: the raw UNet output as eps (v models are
// turned into eps: sqrt(a_t) v + sqrt(1 - a_t) x). "sigma" carries the timestep of each row.
InnerDenoiser timestep_eps(ModelFn model, const torch::Tensor& alphas_cumprod, Prediction pred);

// eps: a CFG denoiser returning eps for (x, timesteps). x is the initial latent (pure noise for
// txt2img, no scaling). Every step draws one noise tensor (multiplied by 0 when eta is 0).
torch::Tensor sample_ddim(const Denoiser& eps, torch::Tensor x, const torch::Tensor& timesteps,
                          const torch::Tensor& alphas_cumprod, double eta, const NoiseFn& noise, const StepCallback& cb);

// DDIM CFG++: DDIM whose direction term uses the unconditional eps (last_uncond, filled by the CFG
// denoiser built with cfg_scale / 12.5).
torch::Tensor sample_ddim_cfgpp(const Denoiser& eps, const std::shared_ptr<torch::Tensor>& last_uncond, torch::Tensor x,
                                const torch::Tensor& timesteps, const torch::Tensor& alphas_cumprod, double eta,
                                const NoiseFn& noise, const StepCallback& cb);

// PLMS: pseudo linear multistep over the same timesteps (a 2nd-order start, then Adams-Bashforth).
torch::Tensor sample_plms(const Denoiser& eps, torch::Tensor x, const torch::Tensor& timesteps,
                          const torch::Tensor& alphas_cumprod, const StepCallback& cb);

}  // namespace sdgimp::sampling
