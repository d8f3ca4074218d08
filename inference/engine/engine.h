// The engine's edge: a resident object that keeps one model loaded between calls, takes plain
// request structs and returns images plus a status with one sentence. No torch, GIMP or GTK types
// appear here, so the plug-in, the dialogs and the CLI include only this header.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../image.h"
#include "../imaging/extras_upscale.h"
#include "../imaging/outpaint.h"
#include "../request.h"
#include "../status.h"
#include "../text/deepbooru_tags.h"
#include "engine_status.h"

namespace sdgimp {

namespace models {
struct LoraCall;
struct HypernetworkSet;
}
namespace pipeline {
struct SDModel;
struct RunHooks;
}

struct ModelRequest {
    // The fields most calls give, in order (the others keep their defaults).
    ModelRequest(std::string path_ = "", std::string prediction_ = "", std::string vocab_ = "", std::string precision_ = "float32",
                 std::string device_ = "cpu")
        : path(std::move(path_)), prediction(std::move(prediction_)), vocab(std::move(vocab_)),
          precision(std::move(precision_)), device(std::move(device_)) {}
    std::string path;
    std::string prediction;  // "", "v" or "eps": override what the file and its sidecar say
    std::string vocab;       // CLIP vocabulary; found next to the model when empty
    // "float32" (A1111's numbers) or "bfloat16": UNet and VAE decoder in bfloat16, about 1.6-2x as fast
    // on CPUs with avx512_bf16; samplers, text encoder and VAE encoder stay float32. "float16" on CUDA.
    std::string precision;
    // "cpu", or "cuda" / "cuda:N" on builds against a CUDA LibTorch; "float16" precision needs CUDA.
    std::string device;
    // A1111's "SD VAE": "" or "Automatic" takes <checkpoint stem>.vae.safetensors (.vae.ckpt, .vae.pt)
    // beside the checkpoint when there is one, "None" the checkpoint's own VAE, anything else is
    // the path of a VAE file (vae-ft-mse-840000-ema-pruned.safetensors and the like).
    std::string vae;
    // Where <lora:name:...> prompt tags find name.safetensors (.pt, .ckpt), searched with their
    // subfolders before the defaults: the checkpoint's folder's Lora/ and ../Lora/ (A1111's
    // models/Lora beside models/Stable-diffusion), $GIMP_DIFFUSION_LORA_DIR (':'-separated) and
    // ~/.local/share/gimp-diffusion/models/Lora.
    std::vector<std::string> lora_dirs;
    // Where textual-inversion embeddings (.pt, .bin, .safetensors; the prompt names them by file
    // name) are read from, before the checkpoint's folder's embeddings/, ../embeddings/ and
    // ../../embeddings/ (A1111's webui/embeddings), $GIMP_DIFFUSION_EMBEDDINGS_DIR and
    // ~/.local/share/gimp-diffusion/models/embeddings.
    std::vector<std::string> embedding_dirs;
    // Where upscalers named as A1111 names them ("4x-UltraSharp", "R-ESRGAN 4x+") find their
    // files, before the checkpoint's ../ESRGAN and ../RealESRGAN, $GIMP_DIFFUSION_ESRGAN_DIR and
    // ~/.local/share/gimp-diffusion/models/ESRGAN and RealESRGAN.
    std::vector<std::string> upscaler_dirs;
    // Where a run's "Restore faces" finds its restorer's files (pipeline::face_restoration_dirs adds
    // the checkpoint's ../GFPGAN and ../Codeformer and the defaults).
    std::vector<std::string> face_restoration_dirs;
    // Where <hypernet:name:m> tags find name.pt (subfolders too), before the checkpoint's folder's
    // hypernetworks/ and ../hypernetworks/ (A1111's models/hypernetworks),
    // $GIMP_DIFFUSION_HYPERNETWORK_DIR and ~/.local/share/gimp-diffusion/models/hypernetworks.
    std::vector<std::string> hypernetwork_dirs;
    // Where "VAE type: TAESD" and the TAESD live preview find taesd_decoder.pth and
    // taesd_encoder.pth (or .safetensors; github.com/madebyollin/taesd), before the checkpoint's
    // folder's VAE-taesd/ and ../VAE-taesd/ (A1111's models/VAE-taesd), $GIMP_DIFFUSION_TAESD_DIR
    // and ~/.local/share/gimp-diffusion/models/VAE-taesd.
    std::vector<std::string> taesd_dirs;
    // Where the "Approx NN" live preview finds A1111's model.pt, before the checkpoint's folder's
    // VAE-approx/ and ../VAE-approx/ (A1111's models/VAE-approx), $GIMP_DIFFUSION_VAE_APPROX_DIR and
    // ~/.local/share/gimp-diffusion/models/VAE-approx.
    std::vector<std::string> vae_approx_dirs;
};

struct LoadedModel {
    std::string path, kind, hash, name;  // kind: "sd2-v", "sd1", ...; hash: A1111's 10-hex shorthash
    std::string vae_path, vae_name, vae_hash;  // the separate VAE file in use; empty for the checkpoint's own
    int default_size = 512;              // 768 for SD 2.x v-prediction
};

struct FaceRestoreSettings {
    std::string model = "GFPGAN";         // or "CodeFormer"
    double visibility = 1.0;              // 0-1
    double codeformer_weight = 0.5;       // 0-1: how much of the picture's own features CodeFormer keeps
    std::vector<std::string> model_dirs;  // searched first
    uint64_t seed = 0;                    // GFPGAN's injected noise (A1111 draws it from torch's global generator)
};

struct DeepBooruSettings {
    text::DeepBooruOptions options;       // A1111's "deepbooru:" settings
    std::vector<std::string> model_dirs;  // searched first for model-resnet_custom_v3.pt
};

struct RunCallbacks {
    std::function<void(int done, int total)> progress;
    std::function<bool()> cancelled;          // polled after every step; true stops the run
    std::function<void(const Image&)> preview;  // cheap latent preview every few steps
    int preview_every = 5;
    bool keep_latents = false;  // fill GeneratedImage::latent (the sampler's output, before the VAE)
};

struct GeneratedImage {
    Image image;
    std::string infotext;  // A1111's parameters text for this image
    int64_t seed = 0, subseed = 0;
    std::vector<float> latent;           // (C, H/8, W/8) when RunCallbacks::keep_latents
    std::vector<int64_t> latent_shape;
    Image mask_for_overlay;  // soft inpainting: this image's own composite mask (gray, 255 = generated)
};

class Engine {
public:
    Engine();
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // Loads the model unless the same file (and prediction) is already loaded.
    Status load_model(const ModelRequest& req, LoadedModel* out = nullptr);
    void unload();
    bool has_model() const;
    int model_loads() const;  // how many times a checkpoint was actually read (for tests of residency)
    int prompt_cache_hits() const;  // prompt encodings reused (a prompt and its negative count apart)

    Status txt2img(const GenerateRequest& req, const RunCallbacks& cb, std::vector<GeneratedImage>* out);
    // init: the source image at the request's size; every batch image starts from it.
    // color_reference: with req.img2img_color_correction, the image whose colours the results are
    // matched to when not init (A1111's Loopback keeps its first image's); nullptr: init.
    Status img2img(const GenerateRequest& req, const Image& init, const RunCallbacks& cb,
                   std::vector<GeneratedImage>* out, const Image* color_reference = nullptr);

    // image: RGB(A) at any size; mask: gray of the same size (255 = repaint, soft edges kept).
    // req.width/height is the processing size. Results have the size of `image` with "only masked"
    // and the processing size with "whole picture" (as A1111, which resizes the image first); *mask_for_overlay
    // receives A1111's blurred mask (with soft inpainting the first image's; each has its own in
    // GeneratedImage::mask_for_overlay) and *paste_box the "only masked" region (x1, y1, x2, y2) or {}.
    // latent_mask: A1111's p.latent_mask (imaging::InpaintSettings::latent_mask) at the processing
    // size, or empty.
    Status inpaint(const GenerateRequest& req, const Image& image, const Image& mask, const RunCallbacks& cb,
                   std::vector<GeneratedImage>* out, Image* mask_for_overlay = nullptr,
                   std::vector<int>* paste_box = nullptr, const Image& latent_mask = {});

    // upscaler: "ESRGAN thick" (the default learned model), "ESRGAN medium", "ESRGAN slim", "Lanczos",
    // "Nearest". Needs no checkpoint.
    // ldsr_steps: A1111's "LDSR processing steps" for the LDSR upscaler (1-1000).
    Status upscale(const Image& image, const std::string& upscaler, double scale, const RunCallbacks& cb, Image* out,
                   int ldsr_steps = 100);
    // A1111's Extras tab upscale (imaging::ExtrasUpscaleSettings; names as for upscale, A1111's
    // file names included). *info: the "Postprocess ..." text A1111 records. Needs no checkpoint.
    Status extras_upscale(const Image& image, const imaging::ExtrasUpscaleSettings& settings, const RunCallbacks& cb, Image* out,
                          std::string* info);

    // A1111's face restoration by s.model, "GFPGAN" or "CodeFormer" (its Extras tab's visibility
    // and CodeFormer weight): every face RetinaFace finds aligned, restored and pasted back (imaging
    // in pipeline/face_restore.h), the result blended over the picture at s.visibility (0 returns it
    // unchanged). The files (GFPGANv1.4.pth or codeformer-v0.1.0.pth, facexlib's
    // detection_Resnet50_Final.pth and parsing_parsenet.pth) are looked for in s.model_dirs, then
    // GFPGAN / Codeformer folders beside the loaded checkpoint, then the default places
    // (pipeline::face_restoration_dirs). *info: "GFPGAN visibility: v" or "CodeFormer visibility: v,
    // CodeFormer weight: w" as A1111 records them; *faces: how many were restored. Needs no checkpoint.
    Status restore_faces(const Image& image, const FaceRestoreSettings& s, const RunCallbacks& cb, Image* out,
                         std::string* info = nullptr, int* faces = nullptr);

    // A1111's "Interrogate DeepBooru": the picture's DeepDanbooru tags as prompt text (*tags), by
    // s.options. The tagger (model-resnet_custom_v3.pt) is looked for in s.model_dirs, a DeepDanbooru
    // folder beside the loaded checkpoint's folder, then the default places (pipeline::deepbooru_dirs),
    // and stays loaded. Needs no checkpoint.
    Status interrogate_deepbooru(const Image& image, const DeepBooruSettings& s, const RunCallbacks& cb, std::string* tags);

    // Object removal: "PatchMatch" (classical, always there), "LaMa" (the user's big-lama.pt at
    // lama_path, or the default place when empty) or "Auto" (LaMa when its file exists). mask: gray,
    // any nonzero pixel is removed. *used receives the method that ran.
    Status remove_object(const Image& image, const Image& mask, const std::string& method, const std::string& lama_path,
                         const RunCallbacks& cb, Image* out, std::string* used = nullptr);

    // A1111's SD upscale: the image upscaled by `upscaler` x scale, then img2img over tiles of
    // req.width x req.height with `overlap`, recombined. One result per batch-count pass.
    Status sd_upscale(const GenerateRequest& req, const Image& image, const std::string& upscaler, double scale,
                      int overlap, const RunCallbacks& cb, std::vector<GeneratedImage>* out);

    // A1111's Poor man's outpainting: `image` on a canvas grown by s.pixels on the chosen sides (to
    // multiples of 64), the border inpainted in tiles of req.width x req.height (s.tile_w/h are
    // taken from there) with req's masked content, denoising strength and seed (+1 per tile), the
    // mask blurred by 2 x s.mask_blur. One image, with the first tile's parameters text.
    Status outpaint(const GenerateRequest& req, const Image& image, const imaging::OutpaintSettings& s, const RunCallbacks& cb,
                    std::vector<GeneratedImage>* out);

    // A1111's Outpainting mk2: one side after another, the new part filled with matched noise and
    // the strip at the new edge (at most req.width x req.height) inpainted over it ("original"
    // content, the mask blurred by 4 x s.mask_blur, a latent mask). req.batch_count x req.batch_size
    // images (seeds as a batch's: seed + i, or seed with a variation strength; A1111 repeats a fixed
    // seed in every batch and draws seed -1 afresh for every side and batch); each carries the text
    // of the first side's run of the first image, as A1111's script returns it.
    Status outpaint_mk2(const GenerateRequest& req, const Image& image, const imaging::OutpaintMk2Settings& s, const RunCallbacks& cb,
                        std::vector<GeneratedImage>* out);

private:
    ModelIdentity identity() const;
    void require_model() const;  // throws kModelNotFound
    // The prompt's <lora:...> networks on the model's weights (A1111's Lora extension), the ones of
    // the previous run taken off first; throws for a LoRA that does not fit. A hires pass adds its
    // networks to the run's "Lora hashes" (A1111 1.10 keeps the first pass's); a first pass starts them.
    // The model's weights as the run's FP8 weight setting wants them (before its networks).
    void use_fp8_weights(const GenerateRequest& r);
    // The model made ready for a script's img2img/inpaint runs over tiles or sides (SD upscale, the
    // outpainting scripts): tiling, FP8, networks, embeddings; the hooks the runs share.
    pipeline::RunHooks prepare_script_runs(const GenerateRequest& r, const RunCallbacks& cb);
    void use_loras(const std::string& prompt, bool hires_pass = false);
    void use_lora_calls(const std::vector<models::LoraCall>& calls, bool hires_pass);
    // A1111's <hypernet:name:m> tags of a prompt: the networks its hypernetworks folders have (read
    // once, kept while their files are unchanged), a key naming the set; a name no folder has is
    // skipped as there. Throws for a file that is not a hypernetwork this engine can run.
    std::pair<std::shared_ptr<const models::HypernetworkSet>, std::string> hypernetworks_of(const std::string& prompt);
    // Them in `model`'s attention layers from now on (A1111 applies them to whichever model samples).
    void use_hypernetworks(pipeline::SDModel& model, const std::string& prompt);
    // The TAESD halves and the live preview (Full, Approx NN, Approx cheap, TAESD) a request asks
    // for, put into the run's hooks (files read once and kept); throws sdgimp::Error naming the
    // missing file and where it goes.
    void use_vae_methods(const GenerateRequest& r, pipeline::RunHooks* hooks);
    // The same on the Hires checkpoint's (or the refiner's) weights (its own record of what it carries).
    void use_companion_loras(bool refiner, const std::string& prompt);
    // Textual-inversion embeddings (re)read from their folders, and the run's "TI hashes".
    void use_embeddings(const GenerateRequest& r);
    // A1111's "Hires checkpoint" of a request, loaded (and kept for the next run) beside the model;
    // nullptr when the second pass runs on the model itself. Throws for one that is not there or
    // is of another family.
    const pipeline::SDModel* use_hires_checkpoint(const GenerateRequest& r);
    // A checkpoint beside the model (a path, or "name [hash]" of a file in its folder) loaded as
    // the hires checkpoint or the refiner and kept for the next run; nullptr for the model's own
    // file. *title: its A1111 short_title. Throws for one that is not there or of another family.
    const pipeline::SDModel* use_companion(const std::string& spec, bool refiner, std::string* title);
    // A1111's "Refiner" of a request on the run's hooks (none for "" / "None" or the model itself),
    // with its networks; throws for one whose UNet takes other inputs than the one it follows.
    void use_refiner(const GenerateRequest& r, const pipeline::SDModel* hires_model, pipeline::RunHooks* hooks);
    // The run's "Restore faces": the restorer's files found and loaded before any step (a missing
    // one is refused first), then hooks->restore_faces set.
    void use_face_restoration(const GenerateRequest& r, pipeline::RunHooks* hooks);
    // restore_faces' work (throws): the picture restored by s.model and blended at s.visibility.
    Image restored_and_blended(const Image& image, const FaceRestoreSettings& s, const RunCallbacks& cb, std::string* info, int* faces);
    // After a run: its refiner is recorded only when sampling switched to it.
    void forget_unused_refiner();
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Runs fn, turning any exception into a Status (the engine never lets one cross its edge).
Status guarded(const std::function<void()>& fn);

}  // namespace sdgimp
