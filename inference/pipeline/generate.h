// Whole runs as A1111 performs them: batches and iterations, seeds, the text path, sampling with
// per-call progress / cancel / preview hooks, VAE decode and uint8 conversion.
#pragma once

#include <functional>
#include <optional>
#include <torch/torch.h>
#include <vector>

#include "../image.h"
#include "../request.h"
#include "../text/clip_tokenizer.h"
#include "conditioning.h"
#include "sd_model.h"
#include "txt2img.h"

namespace sdgimp::pipeline {

struct ConditioningCache;

struct RunHooks {
    const TextualInversions* embeddings = nullptr;  // the words prompts may use as embeddings
    std::function<void(int done, int total)> progress;  // sampler steps over the whole run
    std::function<bool()> cancelled;                    // polled after every step
    std::function<void(const torch::Tensor& rgb)> preview;  // (3, h, w) in [0, 1], cheap latent approximation
    int preview_every = 5;
    // The preview's image of one (C, h, w) latent, (3, h', w') in [0, 1]; unset: latent_preview.
    std::function<torch::Tensor(const torch::Tensor& latent)> preview_decode;
    // TAESD's halves for a request's "VAE type for decode / encode: TAESD" (FirstStageScope).
    torch::nn::Sequential taesd_decoder{nullptr}, taesd_encoder{nullptr};
    ConditioningCache* conditioning_cache = nullptr;  // reuse the prompt's encoding between runs
    // Hires. fix with an image upscaler: the first pass's image (RGB) to width x height, as A1111's
    // resize_image does with the request's hr_upscaler. Unset: only "None" and "Lanczos" work.
    std::function<Image(const Image& rgb, int width, int height)> hires_upscale;
    // A1111's "Restore faces": each decoded image (RGB) through the face restorer, before colour
    // correction and the inpaint overlay. Unset: off.
    std::function<Image(const Image& rgb)> restore_faces;
    // Puts the networks (<lora:...>) of the first pass (false) or of the hires prompt (true) on the
    // model; called before each pass after the first one of a run.
    std::function<void(bool hires)> use_networks;
    // The VAE posterior sample's noise for a latent mean (A1111 draws it from the global RNG as the
    // last run left it; tests pass zeros). Unset: seeded_normal with the image's seed.
    std::function<torch::Tensor(const torch::Tensor& mean)> vae_noise;
    // A1111's "Hires checkpoint": the model of the second pass (same latent space and text encoder
    // kind); it encodes the upscaled image, the hires prompts and decodes the results. nullptr: the
    // first pass's.
    const SDModel* hires_model = nullptr;
    // A1111's "Refiner": a checkpoint of the same kind (latent space, text encoder, input channels)
    // that sampling switches to once refiner_switch_at of the timesteps are done (RefinerRun); its
    // VAE then decodes. nullptr: none. With Hires. fix it joins the passes named here (A1111's
    // "Hires refiner" setting, "second pass" by default).
    const SDModel* refiner = nullptr;
    double refiner_switch_at = 0.8;
    bool refiner_by_steps = false;
    bool refiner_first_pass = true, refiner_second_pass = false;
    // Puts the networks of the first pass (false) or of the hires prompt (true) on the refiner,
    // before it encodes that pass's prompts.
    std::function<void(bool hires)> use_refiner_networks;
    // Set when a pass did switch (A1111 records the refiner only then).
    bool* refiner_switched = nullptr;
    // Set when a guided call of the run padded its prompt and negative prompt to one length (A1111's
    // "Pad conds", which its text then notes).
    std::shared_ptr<bool> padded_conds;
    // Set when a guided call of the run skipped its uncond pass for NGMS (A1111 notes it only then).
    std::shared_ptr<bool> ngms_skipped;
    // With r.img2img_color_correction: the Lab colours the results are matched to when a script
    // sets them (A1111's p.color_corrections: Loopback's first image). Unset: the run's own init
    // image, as A1111's img2img init takes it.
    std::shared_ptr<const Image> color_correction_target;
};

struct GeneratedBatch {
    torch::Tensor images;  // (N, H, W, 3) uint8
    torch::Tensor latents; // (N, C, H/8, W/8) float32, the sampler's output
    std::vector<int64_t> seeds, subseeds;
};

// Resolves -1 seeds the way A1111 does (a random 32-bit value, then recorded).
GenerateRequest with_resolved_seeds(GenerateRequest r);

SamplingSettings sampling_settings(const GenerateRequest& r);
// The model as a request's pass samples it: its noise table and token merging.
LatentModel latent_model_of(const SDModel& m, const GenerateRequest& r);

// A1111's Hypertile for one run (one process_images call): made from the request when it turns
// any part on, seeded with the run's first seed and set up for width x height (its script's
// process()), put into the models the run samples and decodes with, and taken out at the end.
class HypertileScope {
public:
    HypertileScope(const GenerateRequest& r, int width, int height, std::vector<const SDModel*> models);
    ~HypertileScope();
    HypertileScope(const HypertileScope&) = delete;
    HypertileScope& operator=(const HypertileScope&) = delete;
    models::Hypertile* get() const { return ht_.get(); }

private:
    std::unique_ptr<models::Hypertile> ht_;
    std::vector<const SDModel*> models_;
};
models::HypertileSettings hypertile_settings(const GenerateRequest& r);

// A1111's "VAE type for decode / encode" for one run: TAESD's halves (from the hooks) put into the
// models the run decodes and encodes with when the request asks for them, taken out at the end.
// Throws sdgimp::Error when the request asks for a half the hooks lack.
class FirstStageScope {
public:
    FirstStageScope(const GenerateRequest& r, const RunHooks& hooks, std::vector<const SDModel*> models);
    ~FirstStageScope();
    FirstStageScope(const FirstStageScope&) = delete;
    FirstStageScope& operator=(const FirstStageScope&) = delete;

private:
    std::vector<const SDModel*> models_;
};

// What the live preview shows of one (C, h, w) latent: the hooks' preview_decode, else latent_preview.
torch::Tensor preview_of(const RunHooks& hooks, const torch::Tensor& latent);

// Steps the prompt schedule spans (A1111 doubles them for second-order samplers) and the text
// encoder settings of a request.
int schedule_steps(const GenerateRequest& r);
TextSettings text_settings(const GenerateRequest& r, const RunHooks& hooks = {});

// With r.enable_hr the images are the hires pass's, at hires_size(r); progress counts both passes.
GeneratedBatch generate_txt2img(const SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r,
                                const RunHooks& hooks);

// A1111's img2img colour correction of one run's results: (N, H, W, 3) uint8 images matched in
// place to `init`'s colours ((1, 3, H, W) in [-1, 1]) or to the hooks' target when set.
void color_correct_batch(torch::Tensor* images, const torch::Tensor& init, const RunHooks& hooks);
// A1111's "Restore faces" on one run's results: (N, H, W, 3) uint8 images replaced in place by the
// hooks' restore_faces.
void restore_faces_batch(torch::Tensor* images, const RunHooks& hooks);

// init: (1, 3, H, W) in [-1, 1]; with r.img2img_color_correction the results are colour corrected
// against it (color_correct_batch). vae_eps draws the posterior sample (A1111 uses the unseeded global
// RNG there; tests pass the reference's).
GeneratedBatch generate_img2img(const SDModel& m, const text::ClipTokenizer& tok, const GenerateRequest& r,
                                const torch::Tensor& init, const RunHooks& hooks,
                                const std::optional<torch::Tensor>& vae_eps = std::nullopt);

// A1111's conditioning of a 9-channel model over a whole image: a full mask beside the latent of
// `image` (the posterior mean stands in for A1111's unseeded sample).
torch::Tensor full_mask_concat(const SDModel& m, const torch::Tensor& image);

// Standard normal noise shaped like `like` from a CPU generator seeded with `seed` (a negative seed:
// torch's global generator): the VAE posterior samples, so a pasted seed gives the same image again.
torch::Tensor seeded_normal(const torch::Tensor& like, int64_t seed);

// The refiner of one pass (the hires one when hires_pass) whose prompts are prompt / negative,
// its networks put on and its prompts encoded; nullopt when the run has none or it stays out of
// this pass. hires_steps: the hires pass's own steps for its prompt schedule.
std::optional<RefinerRun> refiner_for_pass(const RunHooks& hooks, const text::ClipTokenizer& tok, const GenerateRequest& r,
                                           bool hires_pass, const std::string& prompt, const std::string& negative,
                                           std::optional<int> hires_steps = std::nullopt);
// After a pass: records a switch in the hooks and returns the model the pass ended on.
const SDModel& model_after_pass(const RunHooks& hooks, const std::optional<RefinerRun>& refiner, const SDModel& first);

// A1111's "Approx cheap" preview: a fixed linear map from the 4 latent channels to RGB.
torch::Tensor latent_preview(const torch::Tensor& latent);

}  // namespace sdgimp::pipeline
