// gimp-diffusion-cli: the engine without GIMP, for scripts, tests and benchmarks.
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "engine/model_info.h"
#include "io/mapped_file.h"
#include "io/model_hash.h"
#include "status.h"
#include "tools/cli_commands.h"

namespace {

const char* kUsage =
    "usage: gimp-diffusion-cli COMMAND [OPTIONS]\n"
    "  info [--json] [--prediction v|eps] MODEL   family, prediction, sizes, key check and hashes\n"
    "  hash FILE                                  A1111 model hashes (old 8-hex, new 10-hex, sha256)\n"
    "  txt2img --model FILE [A1111 options] [-o OUT.png]\n"
    "      --prompt, --negative-prompt, --steps, --sampler \"Euler a\", --schedule Karras, --cfg-scale, --seed,\n"
    "      --width, --height, --batch-size, --batch-count, --variation-seed, --variation-strength,\n"
    "      --resize-seed-from-w/-h, --rng gpu|cpu|nv, --ensd, --clip-skip, --emphasis, --vocab FILE,\n"
    "      --prediction v|eps, --parameters \"<A1111 parameters text>\" (options given after it win),\n"
    "      --parameters-from IMAGE (the text an A1111 PNG, JPEG or WebP carries), --quiet,\n"
    "      --save-latents FILE.safetensors (the sampler's latents, before the VAE),\n"
    "      --embeddings-dir DIR (textual-inversion embeddings the prompt names by file name, before MODEL's embeddings/),\n"
    "      --lora-dir DIR (where <lora:name:0.8> finds name.safetensors, before MODEL's Lora/ and ../Lora/),\n"
    "      --hypernetwork-dir DIR (where <hypernet:name:0.8> finds name.pt, before MODEL's hypernetworks/ and ../hypernetworks/),\n"
    "      --styles NAME[,NAME...] [--styles-file styles.csv] (A1111's prompt styles merged into the prompts in order;\n"
    "        the file defaults to the web UI's styles.csv two folders above MODEL),\n"
    "      --vae FILE|None|Automatic (A1111's SD VAE; Automatic: MODEL's stem + .vae.safetensors/.vae.ckpt/.vae.pt),\n"
    "      --tiling 1 (A1111's Tiling: circular padding, an image that tiles seamlessly),\n"
    "      Hires. fix: --enable-hr 1 --denoising-strength 0.7 --hr-scale 2 | --hr-resize-x W --hr-resize-y H,\n"
    "        --hr-upscaler Latent|\"Latent (antialiased)\"|\"Latent (bicubic)\"|\"Latent (bicubic antialiased)\"|\n"
    "        \"Latent (nearest)\"|\"Latent (nearest-exact)\"|None|Lanczos|Nearest|\"ESRGAN thick\"|FILE.pth,\n"
    "        --hr-second-pass-steps N, --hr-sampler NAME, --hr-scheduler NAME, --hr-prompt, --hr-negative-prompt,\n"
    "        --hr-checkpoint FILE|NAME (the second pass on another checkpoint of the same family),\n"
    "        --upscaler-dir DIR (where A1111 names such as 4x-UltraSharp or \"R-ESRGAN 4x+\" find their .pth)\n"
    "      Refiner: --refiner FILE|NAME|None --refiner-switch-at 0.8 (sampling moves to that checkpoint of the same\n"
    "        kind once that fraction of the timesteps is done; --refiner-switch-by-steps 1: of the steps), with Hires. fix --hr-refiner \"first pass\"|\"second pass\"|\"both passes\"\n"
    "      --precision float32|bfloat16|float16 (bfloat16: UNet and VAE decoder in bf16, faster with avx512_bf16;\n"
    "        float16: CUDA only)  --device cpu|cuda|cuda:N (cuda: builds against a CUDA LibTorch)\n"
    "      sampler parameters: --eta, --eta-ddim, --s-churn, --s-tmin, --s-tmax, --s-noise, --s-min-uncond (NGMS),\n"
    "      --s-min-uncond-all 1 (NGMS on every step, not every other),\n"
    "      --skip-early-cond, --sgm-noise-multiplier 1, --unipc-variant bh1|bh2, --unipc-order, --unipc-skip-type,\n"
    "      --unipc-lower-order-final 0|1\n"
    "      schedule settings: --sigma-min, --sigma-max (0: the model's), --rho (0: 7 for Karras, 1 for Polyexponential),\n"
    "      --beta-alpha 0.6 --beta-beta 0.6 (Beta schedule), --discard-penultimate-sigma 1,\n"
    "      --old-karras-sigmas 1 (the range 0.1-10), --noise-schedule \"Zero Terminal SNR\",\n"
    "      --enable-quantization 1 (A1111's quantization in K samplers: whole timesteps),\n"
    "      --downcast-alphas 1 (alphas_cumprod in float16, as A1111 before 1.7), --old-prompt-editing 1 (A1111's old prompt editing timelines), --pad-conds 1 / --pad-conds-v0 1 (prompt\n"
    "        and negative prompt of different lengths padded to share a batch)\n"
    "      --fp8-weight Enable (A1111's FP8 weight: UNet and text encoder weights rounded to float8), --cache-fp16-weight 1\n"
    "        (A1111's Cache FP16 weight for LoRA)\n"
    "      --token-merging-ratio 0.5 (A1111's token merging: faster, slightly different images), --token-merging-ratio-hr\n"
    "        (the hires pass's; 0: the same)\n"
    "      --hypertile-unet 1 / --hypertile-unet-second-pass 1 / --hypertile-vae 1 (A1111's Hypertile: attention over tiles),\n"
    "        --hypertile-unet-max-depth 3 --hypertile-unet-max-tile 256 --hypertile-unet-swap-size 3 (and --hypertile-vae-...: 3, 128, 3)\n"
    "      --vae-decoder TAESD / --vae-encoder TAESD (A1111's VAE type: the tiny autoencoder, taesd_decoder.pth / taesd_encoder.pth\n"
    "        in --taesd-dir DIR, MODEL's VAE-taesd/ or ../VAE-taesd/), --live-preview TAESD (previews through its decoder;\n"
    "        also Full, Approx NN with A1111's model.pt in --vae-approx-dir DIR or MODEL's VAE-approx/, Approx cheap; serve's previews)\n"
    "      --vae-whole-image 1 (images above 1024x1024 through the VAE in one pass as A1111 does, not in tiles; more memory)\n"
    "      --ldsr-steps 100 (the LDSR upscaler's DDIM steps where the run upscales: Hires. fix, img2img, sd-upscale)\n"
    "      --face-restoration None|CodeFormer|GFPGAN [--codeformer-weight 0.5] [--gfpgan-dir DIR]\n"
    "        (A1111's Restore faces: every result restored, recorded as \"Face restoration\")\n"
    "  img2img --model FILE --init-image IN.png --denoising-strength 0.3 [--noise-multiplier 1 --extra-noise 0]\n"
    "      [--image-cfg-scale 1.5 (InstructPix2Pix checkpoints)]\n"
    "      [--color-correction 1 (A1111's colour correction: the results keep the init image's colours; also inpaint)]\n"
    "      [--background-color '#ffffff' (what shows through a transparent init image; also inpaint, sd-upscale)]\n"
    "      [--resize-init 1 [--resize-mode 0-3] (the init image resized to --width x --height first: A1111's Just resize,\n"
    "        Crop and resize, Resize and fill, Just resize (latent upscale)) [--img2img-upscaler NAME (what enlarges; None: Lanczos)]]\n"
    "      [txt2img options]\n"
    "  inpaint --model FILE --init-image IN.png --mask MASK.png [--mask-blur 4] [--masked-content 0-3]\n"
    "      [--inpaint-full-res 1 --inpaint-padding 32] [--inpaint-not-masked 1] [--denoising-strength 0.75] [txt2img options]\n"
    "      [--soft-inpainting 1 [--soft-schedule-bias 1 --soft-preservation-strength 0.5 --soft-transition-contrast 4\n"
    "       --soft-mask-influence 0 --soft-difference-threshold 0.5 --soft-difference-contrast 2]]\n"
    "  upscale --init-image IN.png [--upscaler \"ESRGAN thick\"|\"ESRGAN medium\"|\"ESRGAN slim\"|Lanczos|Nearest]\n"
    "      [--scale 4] [--ldsr-steps 100] [-o OUT.png]   no checkpoint needed (LDSR: its DDIM steps)\n"
    "      (also esrgan-thick-x4 style names, lanczos, nearest, or an ESRGAN/Real-ESRGAN FILE.pth)\n"
    "  extras --init-image IN.png [--upscaler-1 \"ESRGAN thick\"] [--upscaler-2 Lanczos --upscaler-2-visibility 0.5]\n"
    "      [--scale-by 2 [--max-side-length 0] | --scale-to 1024x768 [--crop 1]] [--ldsr-steps 100] [-o OUT.png]\n"
    "      [--gfpgan-visibility 0] [--codeformer-visibility 0 --codeformer-weight 0.5] [--gfpgan-dir DIR]\n"
    "      A1111's Extras upscale, then its GFPGAN and CodeFormer face restoration\n"
    "  restore-faces --init-image IN.png [--restorer CodeFormer|GFPGAN] [--visibility 1] [--codeformer-weight 0.5]\n"
    "      [--gfpgan-dir DIR] [--seed 0] [-o OUT.png]   A1111's face restoration (codeformer-v0.1.0.pth or\n"
    "      GFPGANv1.4.pth with detection_Resnet50_Final.pth and parsing_parsenet.pth in DIR, A1111's\n"
    "      models/GFPGAN or models/Codeformer, $GIMP_DIFFUSION_GFPGAN_DIR or ~/.local/share/gimp-diffusion/models/GFPGAN)\n"
    "  interrogate --init-image IN.png [--deepbooru-dir DIR] [--threshold 0.5] [--sort-alpha 1] [--use-spaces 1]\n"
    "      [--escape 1] [--include-ranks 0] [--filter-tags \"a, b\"]   A1111's Interrogate DeepBooru: the picture's\n"
    "      tags as prompt text (model-resnet_custom_v3.pt in DIR, A1111's models/DeepDanbooru,\n"
    "      $GIMP_DIFFUSION_DEEPBOORU_DIR or ~/.local/share/gimp-diffusion/models/DeepDanbooru)\n"
    "  merge --primary A.safetensors --secondary B.ckpt [--tertiary C.ckpt] [--method \"Weighted sum\"|\"Add difference\"|\n"
    "      \"No interpolation\"] [--multiplier 0.3] [--save-as-half 1] [--custom-name NAME] [--bake-in-vae VAE.pt]\n"
    "      [--discard-weights REGEX] [--config-source \"A, B or C\"|B|C|\"Don't\"] [--checkpoint-format safetensors|ckpt]\n"
    "      [--output-dir DIR (A's folder)] [--no-metadata 1]   A1111's Checkpoint Merger\n"
    "  sd-upscale --model FILE --init-image IN.png [--upscaler Lanczos] [--scale 2] [--overlap 64]\n"
    "      [--width 512 --height 512 (the tile)] [--denoising-strength 0.3] [txt2img options]\n"
    "  outpaint --model FILE --init-image IN.png [--pixels 128] [--outpaint-mask-blur 4]\n"
    "      [--directions left,right,up,down] [--masked-content 0-3 (default 0, fill)]\n"
    "      [--width 512 --height 512 (the tile)] [--denoising-strength 0.75] [txt2img options]\n"
    "      A1111's Poor man's outpainting: the canvas grown, the border inpainted tile by tile;\n"
    "      --mk2 1: A1111's Outpainting mk2 (side by side over matched noise; --outpaint-mask-blur 8,\n"
    "      --fall-off 1, --color-variation 0.05, --batch-size N)\n"
    "  remove --init-image IN.png --mask MASK.png [--method Auto|PatchMatch|LaMa] [--lama big-lama.pt] [-o OUT.png]\n"
    "      Auto = LaMa when its TorchScript file is there ($GIMP_DIFFUSION_LAMA or\n"
    "      ~/.local/share/gimp-diffusion/models/big-lama.pt), else PatchMatch\n"
    "  tokenize [--family sd1|sd2] [--vocab FILE] PROMPT    chunks, multipliers and the N/75 counter (JSON)\n"
    "  parse-prompt [--steps N] PROMPT                      AND parts, edit schedule, emphasis (JSON)\n"
    "  infotext < TEXT                                     parse an A1111 parameters text (JSON)\n"
    "  infotext --image FILE                               the same for the text an A1111 PNG, JPEG or WebP carries\n"
    "  infotext --build [txt2img options]                  write one\n"
    "  bench [--arch sd15|sd21] [--size 512|768] [--what unet|vae|all] [--dtype float32|bfloat16|float16]\n"
    "      [--device cpu|cuda] [--repeat N] [--threads N] [--profile TRACE.json] [--token-merging-ratio 0.5]\n"
    "      [--compare-float32 1] [--channels-last 1] (--what attention: blocked vs whole-matrix)              full-size random-weight timing (JSON on stdout)\n"
    "  serve --socket PATH [--parent-pid PID] [--idle-exit S]  the resident engine the GIMP plug-in talks to\n";

int cmd_info(const std::vector<std::string>& args) {
    bool json = false;
    std::optional<sdgimp::Prediction> pred;
    std::string model;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--json") json = true;
        else if (args[i] == "--prediction" && i + 1 < args.size()) {
            pred = sdgimp::parse_prediction(args[++i]);
            if (!pred) throw sdgimp::Error(sdgimp::ErrorCode::kInvalidRequest, "--prediction takes 'v' or 'eps', not '" + args[i] + "'.");
        } else if (model.empty()) model = args[i];
        else throw sdgimp::Error(sdgimp::ErrorCode::kInvalidRequest, "info takes one model file; '" + args[i] + "' is extra.");
    }
    if (model.empty()) throw sdgimp::Error(sdgimp::ErrorCode::kInvalidRequest, "info needs a model file: gimp-diffusion-cli info MODEL.");
    sdgimp::ModelInfo info = sdgimp::inspect_model(model, pred);
    if (json) {
        std::cout << sdgimp::model_info_json(info) << "\n";
    } else {
        const auto& c = info.config;
        std::cout << "file:        " << info.path << " (" << info.format << ", " << info.tensors << " tensors)\n"
                  << "family:      " << sdgimp::model_kind(c) << "\n"
                  << "prediction:  " << sdgimp::prediction_name(c.prediction) << " (from " << c.prediction_source << ")\n"
                  << "in_channels: " << c.unet.in_channels << ", context_dim " << c.unet.context_dim << "\n"
                  << "keys:        " << info.missing_keys.size() << " missing, " << info.unexpected_keys.size()
                  << " unexpected, " << info.mismatched_keys.size() << " mis-shaped\n"
                  << "hash:        " << info.hash_new << " (old " << info.hash_old << ")\n";
    }
    return 0;
}

int cmd_hash(const std::vector<std::string>& args) {
    if (args.size() != 1) throw sdgimp::Error(sdgimp::ErrorCode::kInvalidRequest, "hash takes one file: gimp-diffusion-cli hash FILE.");
    auto f = sdgimp::io::MappedFile::open(args[0]);
    auto h = sdgimp::io::compute_model_hashes(*f);
    std::cout << "{\"hash_old\": \"" << h.old_hash << "\", \"hash_new\": \"" << h.shorthash << "\", \"sha256\": \"" << h.sha256 << "\"";
    if (h.addnet_hash) std::cout << ", \"addnet_hash\": \"" << *h.addnet_hash << "\"";
    std::cout << "}\n";
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        std::cout << kUsage;
        return argc < 2 ? 2 : 0;
    }
    const std::string cmd = argv[1];
    std::vector<std::string> args(argv + 2, argv + argc);
    try {
        sdgimp::init_torch_threads();
        if (cmd == "info") return cmd_info(args);
        if (cmd == "hash") return cmd_hash(args);
        if (cmd == "txt2img") return sdgimp::cli::cmd_txt2img(args);
        if (cmd == "img2img") return sdgimp::cli::cmd_img2img(args);
        if (cmd == "inpaint") return sdgimp::cli::cmd_inpaint(args);
        if (cmd == "upscale") return sdgimp::cli::cmd_upscale(args);
        if (cmd == "extras") return sdgimp::cli::cmd_extras(args);
        if (cmd == "restore-faces") return sdgimp::cli::cmd_restore_faces(args);
        if (cmd == "interrogate") return sdgimp::cli::cmd_interrogate(args);
        if (cmd == "merge") return sdgimp::cli::cmd_merge(args);
        if (cmd == "remove") return sdgimp::cli::cmd_remove(args);
        if (cmd == "sd-upscale") return sdgimp::cli::cmd_sd_upscale(args);
        if (cmd == "outpaint") return sdgimp::cli::cmd_outpaint(args);
        if (cmd == "tokenize") return sdgimp::cli::cmd_tokenize(args);
        if (cmd == "parse-prompt") return sdgimp::cli::cmd_parse_prompt(args);
        if (cmd == "infotext") return sdgimp::cli::cmd_infotext(args);
        if (cmd == "serve") return sdgimp::cli::cmd_serve(args);
        if (cmd == "bench") return sdgimp::cli::cmd_bench(args);
        std::cerr << "gimp-diffusion-cli: unknown command '" << cmd << "'.\n" << kUsage;
        return 2;
    } catch (const sdgimp::Error& e) {
        std::cerr << "error: " << e.what() << "\n";
        return e.code() == sdgimp::ErrorCode::kInvalidRequest ? 2 : 1;
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return 1;
    }
}
