// A1111's Hires. fix between and around its two passes: the first pass's latents (or its image,
// through an upscaler) enlarged to the hires size, cropped, and refined by an img2img pass there
// (A1111's sample_hr_pass); the latent modes and the crop on their own.
#pragma once

#include <memory>
#include <string>
#include <torch/torch.h>
#include <vector>

#include "../request.h"
#include "../text/clip_tokenizer.h"
#include "conditioning.h"
#include "generate.h"
#include "sd_model.h"
#include "txt2img.h"

namespace sdgimp::pipeline {

// torch's interpolate as A1111's latent_upscale_modes name it: "Latent" (bilinear), "Latent
// (antialiased)", "Latent (bicubic)", "Latent (bicubic antialiased)", "Latent (nearest)",
// "Latent (nearest-exact)"; align_corners off. samples: (B, C, h, w) → (B, C, rows, cols).
torch::Tensor upscale_latents(const torch::Tensor& samples, const std::string& mode, int64_t rows, int64_t cols);

// A1111's truncate: truncate_y rows and truncate_x columns off, the smaller half at the start.
torch::Tensor truncate_latents(const torch::Tensor& x, int truncate_x, int truncate_y);

// The request the hires pass runs: its sampler, schedule, steps, prompts and size.
GenerateRequest hires_request(const GenerateRequest& r);

// Whether A1111's "old prompt editing timelines", when set, change any prompt schedule of the run
// (its first pass, and the hires pass of txt2img); A1111 notes the setting in the text only then.
bool old_timelines_change_schedules(const GenerateRequest& r, bool img2img);

// The second pass for the first-pass latents of each iteration of one txt2img run.
class HiresPass {
public:
    HiresPass(const SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r, const RunHooks& hooks);

    // The model that runs the second pass and decodes its results.
    const SDModel& model() const { return hm_; }

    // The sampler steps one pass reports (what progress counts).
    int steps() const;

    // samples: one iteration's first-pass latents; seeds, var: that iteration's; first: the model
    // the first pass ended on (decodes them for image upscalers). *decoder: the model this pass ends on.
    torch::Tensor run(const torch::Tensor& samples, const std::vector<uint64_t>& seeds, const sampling::Variation& var,
                      const sampling::StepCallback& cb, const SDModel& first, const SDModel** decoder);

    // The run's Hypertile, which the pass sets up for its size before it samples (nullptr: none).
    void set_hypertile(models::Hypertile* h) { hypertile_ = h; }

private:
    Image upscale(const Image& low) const;

    const SDModel& m_;   // the first pass's: decodes its latents for image upscalers
    const SDModel& hm_;  // the second pass's (the hires checkpoint's, or m_)
    const text::ClipTokenizer& tok_;
    const GenerateRequest& r_;
    const RunHooks& hooks_;
    const GenerateRequest hr_;  // the request the second pass runs
    const SamplingSettings s_;
    const HiresSize size_;
    const LatentModel lm_;
    std::shared_ptr<const RunConditioning> cond_;  // the hires prompts' encoding, made at the first pass
    models::Hypertile* hypertile_ = nullptr;
};

}  // namespace sdgimp::pipeline
