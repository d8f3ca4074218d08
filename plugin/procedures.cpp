#include "procedures.h"

#include <vector>

namespace sdgimp::plugin {
namespace {

GimpParamDef arg(GimpPDBArgType t, const char* name, const char* desc) {
    return {t, const_cast<gchar*>(name), const_cast<gchar*>(desc)};
}

const GimpParamDef kRunMode = arg(GIMP_PDB_INT32, "run-mode", "The run mode { RUN-INTERACTIVE (0), RUN-NONINTERACTIVE (1), RUN-WITH-LAST-VALS (2) }");
const GimpParamDef kImage = arg(GIMP_PDB_IMAGE, "image", "Input image");
const GimpParamDef kDrawable = arg(GIMP_PDB_DRAWABLE, "drawable", "Input drawable");

void install(const char* name, const char* blurb, const char* label, const char* types,
             const std::vector<GimpParamDef>& args, const std::vector<GimpParamDef>& rets) {
    gimp_install_procedure(name, blurb,
                           "Stable Diffusion in GIMP, run by a resident engine (gimp-diffusion-cli serve). "
                           "Numbers follow AUTOMATIC1111 1.10: a pasted A1111 parameters text reproduces the image.",
                           "GIMP Diffusion developers", "GIMP Diffusion developers", "2026", label, types, GIMP_PLUGIN,
                           static_cast<gint>(args.size()), static_cast<gint>(rets.size()), args.data(), rets.data());
    if (label) gimp_plugin_menu_register(name, "<Image>/Filters/Diffusion");
}

}  // namespace

void reply_image_layer(Reply* reply, gint32 image, gint32 layer) {
    reply->values[1].type = GIMP_PDB_IMAGE;
    reply->values[1].data.d_image = image;
    reply->values[2].type = GIMP_PDB_LAYER;
    reply->values[2].data.d_layer = layer;
    reply->count = 3;
}

void fail(Reply* reply, const Error& e) {
    reply->status = e.code() == ErrorCode::kInvalidRequest ? GIMP_PDB_CALLING_ERROR : GIMP_PDB_EXECUTION_ERROR;
    reply->error = e.what();
}

GenerateRequest generation_args(const GimpParam* params, const GenerateRequest& last) {
    auto str = [&](int k) { return std::string(params[k].data.d_string ? params[k].data.d_string : ""); };
    GenerateRequest r = last;
    r.prompt = str(3);
    r.negative_prompt = str(4);
    r.steps = params[5].data.d_int32;
    r.sampler = str(6);
    r.schedule = str(7);
    r.cfg_scale = params[8].data.d_float;
    r.seed = static_cast<int64_t>(params[9].data.d_float);
    // The Image to Image dialog's "Resize to" is not a setting the scripts take over: they redraw
    // at the layer's size unless their own lines or axes ask for another.
    r.resize_init_image = false;
    return r;
}

void register_procedures() {
    const auto prompt = arg(GIMP_PDB_STRING, "prompt", "Prompt (A1111 syntax: (emphasis:1.2), [from:to:when], AND, BREAK)");
    const auto negative = arg(GIMP_PDB_STRING, "negative-prompt", "Negative prompt");
    const auto steps = arg(GIMP_PDB_INT32, "steps", "Sampling steps (1-1000)");
    const auto sampler = arg(GIMP_PDB_STRING, "sampler", "Sampler by A1111 name, e.g. \"Euler a\", \"DPM++ 2M\"");
    const auto schedule = arg(GIMP_PDB_STRING, "schedule", "Schedule type: Automatic, Uniform, Karras, Exponential");
    const auto cfg = arg(GIMP_PDB_FLOAT, "cfg-scale", "CFG scale");
    const auto seed = arg(GIMP_PDB_FLOAT, "seed", "Seed (-1 = random; a FLOAT so every 32-bit seed fits)");
    const auto model = arg(GIMP_PDB_STRING, "model", "Checkpoint file (\"\" = the last one used)");

    install("plug-in-diffusion-txt2img", "Generate images from a prompt as new layers", "_Text to Image...", "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, prompt, negative, steps, sampler, schedule, cfg, seed,
             arg(GIMP_PDB_INT32, "width", "Width (multiple of 8)"), arg(GIMP_PDB_INT32, "height", "Height (multiple of 8)"),
             arg(GIMP_PDB_INT32, "batch-size", "Images per batch"), arg(GIMP_PDB_INT32, "batch-count", "Number of batches"),
             arg(GIMP_PDB_FLOAT, "variation-seed", "Variation seed (-1 = random)"),
             arg(GIMP_PDB_FLOAT, "variation-strength", "Variation strength (0 = off; 0.05-0.1 for small variations)"),
             model},
            {arg(GIMP_PDB_LAYER, "layer", "The new layer, or the layer group of a batch")});

    install("plug-in-diffusion-img2img", "Re-imagine the active layer (inside the selection) as new layers", "_Image to Image...",
            "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, prompt, negative, steps, sampler, schedule, cfg, seed,
             arg(GIMP_PDB_FLOAT, "denoising-strength", "Denoising strength (0.1-0.4 keeps the composition)"),
             arg(GIMP_PDB_INT32, "batch-size", "Number of variants (seeds seed, seed+1, ...)"), model},
            {arg(GIMP_PDB_LAYER, "layer", "The top variant layer")});

    install("plug-in-diffusion-inpaint", "Repaint the selection (its soft edges kept) as a new masked layer", "_Inpaint Selection...",
            "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, prompt, negative, steps, sampler, schedule, cfg, seed,
             arg(GIMP_PDB_FLOAT, "denoising-strength", "Denoising strength (0.75 is A1111's default)"),
             arg(GIMP_PDB_INT32, "mask-blur", "Mask blur in pixels (A1111 default 4)"),
             arg(GIMP_PDB_INT32, "masked-content", "0 fill, 1 original, 2 latent noise, 3 latent nothing"),
             arg(GIMP_PDB_INT32, "inpaint-full-res", "Inpaint area: 0 whole picture, 1 only masked"),
             arg(GIMP_PDB_INT32, "padding", "Only masked padding in pixels (A1111 default 32)"),
             arg(GIMP_PDB_INT32, "batch-size", "Number of results"), model},
            {arg(GIMP_PDB_LAYER, "layer", "The top result layer")});

    install("plug-in-diffusion-remove-object", "Remove the selected object, filling it from its surroundings", "_Remove Object",
            "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, arg(GIMP_PDB_STRING, "method", "Auto (LaMa when big-lama.pt is installed, else PatchMatch), PatchMatch or LaMa")},
            {arg(GIMP_PDB_LAYER, "layer", "The new layer, masked by the selection")});

    // A1111 runs these scripts from its txt2img or its img2img tab.
    const GimpParamDef source = arg(GIMP_PDB_STRING, "source", "\"txt2img\": new images; \"img2img\": the active layer (or its selected part) redrawn");
    const GimpParamDef strength = arg(GIMP_PDB_FLOAT, "denoising-strength", "img2img only: how much may change (0.1-0.4 keeps the picture)");
    install("plug-in-diffusion-xy-plot", "A grid of images over two fields (CFG scale x steps, samplers, Prompt S/R, ...)", "_X/Y Plot...",
            "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, prompt, negative, steps, sampler, schedule, cfg, seed,
             arg(GIMP_PDB_INT32, "width", "Width of each cell"), arg(GIMP_PDB_INT32, "height", "Height of each cell"),
             arg(GIMP_PDB_STRING, "x-type", "Field along X, by A1111's X/Y/Z plot names: CFG Scale, Steps, Seed, Var. seed, Var. strength, Sampler, Schedule type, Prompt S/R, Prompt order, Checkpoint name, Clip skip, Eta, Sigma Churn, Size, Nothing, ... (README lists them all)"),
             arg(GIMP_PDB_STRING, "x-values", "Comma-separated values, e.g. \"5, 7, 9\""),
             arg(GIMP_PDB_STRING, "y-type", "Field along Y"), arg(GIMP_PDB_STRING, "y-values", "Comma-separated values"), model, source,
             strength},
            {arg(GIMP_PDB_IMAGE, "plot", "A new image holding one layer per cell")});

    install("plug-in-diffusion-xyz-plot", "Grids of images over three fields: one X/Y grid per Z value (A1111's X/Y/Z plot)", "X/Y/_Z Plot...",
            "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, prompt, negative, steps, sampler, schedule, cfg, seed,
             arg(GIMP_PDB_INT32, "width", "Width of each cell"), arg(GIMP_PDB_INT32, "height", "Height of each cell"),
             arg(GIMP_PDB_STRING, "x-type", "Field along X (the X/Y plot's names)"), arg(GIMP_PDB_STRING, "x-values", "Comma-separated values"),
             arg(GIMP_PDB_STRING, "y-type", "Field along Y"), arg(GIMP_PDB_STRING, "y-values", "Comma-separated values"),
             arg(GIMP_PDB_STRING, "z-type", "Field along Z: one grid per value"), arg(GIMP_PDB_STRING, "z-values", "Comma-separated values"),
             model, source, strength,
             arg(GIMP_PDB_INT32, "vary-seeds-x", "1: seed + the X index (A1111's Vary seeds for X)"),
             arg(GIMP_PDB_INT32, "vary-seeds-y", "1: seed + the Y index times the varied X count"),
             arg(GIMP_PDB_INT32, "vary-seeds-z", "1: seed + the Z index times the varied X and Y counts"),
             arg(GIMP_PDB_INT32, "keep-minus-one", "1: a seed of -1 stays random in every cell (A1111's Keep -1 for seeds)"),
             arg(GIMP_PDB_INT32, "margin", "Pixels between the cells and the grids (A1111's Grid margins)")},
            {arg(GIMP_PDB_IMAGE, "plot", "A new image holding one layer group per Z value, one layer per cell")});

    install("plug-in-diffusion-prompt-matrix", "A grid of images over every subset of the prompt's |-separated parts (A1111's Prompt matrix)",
            "_Prompt Matrix...", "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, arg(GIMP_PDB_STRING, "prompt", "Prompt: the fixed part, then variable parts after '|' (\"a cat|in a hat|on a bike\")"),
             negative, steps, sampler, schedule, cfg, seed,
             arg(GIMP_PDB_INT32, "width", "Width of each cell"), arg(GIMP_PDB_INT32, "height", "Height of each cell"),
             arg(GIMP_PDB_STRING, "prompt-type", "\"positive\" or \"negative\": which prompt holds the '|' parts"),
             arg(GIMP_PDB_INT32, "put-at-start", "1: the variable parts before the fixed one (A1111's Set at prompt start)"),
             arg(GIMP_PDB_INT32, "different-seeds", "1: seed, seed + 1, ... for the cells (A1111's Random seeds); 0: one seed"),
             arg(GIMP_PDB_STRING, "joining", "\"comma\" or \"space\" between the parts"),
             arg(GIMP_PDB_INT32, "margin", "Pixels between the cells (A1111's Grid margins)"), model, source, strength},
            {arg(GIMP_PDB_IMAGE, "matrix", "A new image holding one layer per combination")});

    install("plug-in-diffusion-prompts-from-file", "One Text to Image (or Image to Image) run per line of a list of prompts (A1111's Prompts from file or textbox)",
            "Prompts from _File...", "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, prompt, negative, steps, sampler, schedule, cfg, seed,
             arg(GIMP_PDB_INT32, "width", "Width"), arg(GIMP_PDB_INT32, "height", "Height"),
             arg(GIMP_PDB_INT32, "batch-size", "Images per batch"), arg(GIMP_PDB_INT32, "batch-count", "Number of batches"),
             arg(GIMP_PDB_STRING, "prompts", "One prompt per line, or A1111's options: --prompt \"...\" --negative_prompt \"...\" --steps 30 --cfg_scale 5 --seed 1 --sampler_name \"Euler a\" --width 512 --height 768 --n_iter 2 ..."),
             arg(GIMP_PDB_STRING, "file", "A text file of such lines instead (\"\" = use prompts)"),
             arg(GIMP_PDB_INT32, "iterate-seed", "1: seed + batch size x count from line to line (A1111's Iterate seed every line)"),
             arg(GIMP_PDB_INT32, "same-seed", "1: one random seed for all lines (A1111's Use same random seed for all lines)"),
             arg(GIMP_PDB_STRING, "position", "\"start\" or \"end\": where a line's prompt goes in the prompt above"), model, source, strength},
            {arg(GIMP_PDB_LAYER, "group", "The layer group holding every line's images")});

    install("plug-in-diffusion-loopback", "Redraw the active layer (or its selected part), then each result again (A1111's Loopback)",
            "_Loopback...", "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, prompt, negative, steps, sampler, schedule, cfg, seed,
             arg(GIMP_PDB_FLOAT, "denoising-strength", "Denoising strength of the first loop"),
             arg(GIMP_PDB_INT32, "loops", "Loops (1-32; A1111's default 4)"),
             arg(GIMP_PDB_FLOAT, "final-denoising-strength", "Denoising strength of the last loop (A1111's default 0.5)"),
             arg(GIMP_PDB_STRING, "denoising-curve", "How the strength moves: \"Aggressive\", \"Linear\" or \"Lazy\""),
             arg(GIMP_PDB_INT32, "batch-count", "Runs, each from the layer again (several: each run's last image only)"), model,
             arg(GIMP_PDB_STRING, "append-interrogation", "\"None\" or \"DeepBooru\": each loop's image tagged by DeepBooru and the tags put after the prompt")},
            {arg(GIMP_PDB_LAYER, "group", "The layer group holding the images")});

    install("plug-in-diffusion-sd-upscale", "Upscale, then re-detail tile by tile with img2img (A1111's SD upscale)",
            "_SD Upscale...", "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, prompt, negative, steps, sampler, schedule, cfg, seed,
             arg(GIMP_PDB_FLOAT, "denoising-strength", "Denoising strength per tile (0.2-0.4 keeps the picture)"),
             arg(GIMP_PDB_STRING, "upscaler", "ESRGAN thick (default), ESRGAN medium/slim, Lanczos, None or an ESRGAN .pth file"),
             arg(GIMP_PDB_FLOAT, "scale", "Scale factor"), arg(GIMP_PDB_INT32, "tile-size", "Tile width and height (multiple of 8)"),
             arg(GIMP_PDB_INT32, "overlap", "Tile overlap in pixels (A1111 default 64)"), model},
            {arg(GIMP_PDB_IMAGE, "result-image", "A new image with the result"), arg(GIMP_PDB_LAYER, "layer", "Its layer")});

    install("plug-in-diffusion-outpaint", "Extend the active layer on every chosen side, inpainting the new border tile by tile (A1111's Poor man's outpainting)",
            "Poor Man's _Outpainting...", "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, prompt, negative, steps, sampler, schedule, cfg, seed,
             arg(GIMP_PDB_FLOAT, "denoising-strength", "Denoising strength (A1111 recommends 0.8 or more here)"),
             arg(GIMP_PDB_INT32, "pixels", "Pixels to expand (8-256; also the tiles' overlap)"),
             arg(GIMP_PDB_INT32, "mask-blur", "Mask blur (0-64; the runs blur by twice this)"),
             arg(GIMP_PDB_STRING, "masked-content", "fill (the script's default), original, latent noise or latent nothing"),
             arg(GIMP_PDB_INT32, "left", "1: grow to the left"), arg(GIMP_PDB_INT32, "right", "1: grow to the right"),
             arg(GIMP_PDB_INT32, "up", "1: grow upwards"), arg(GIMP_PDB_INT32, "down", "1: grow downwards"),
             arg(GIMP_PDB_INT32, "width", "Tile width (multiple of 8)"), arg(GIMP_PDB_INT32, "height", "Tile height (multiple of 8)"), model},
            {arg(GIMP_PDB_IMAGE, "result-image", "A new image with the result"), arg(GIMP_PDB_LAYER, "layer", "Its layer")});

    install("plug-in-diffusion-outpaint-mk2", "Extend the active layer side by side over noise matched to it, inpainting each new strip (A1111's Outpainting mk2)",
            "Outpainting _mk2...", "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, prompt, negative, steps, sampler, schedule, cfg, seed,
             arg(GIMP_PDB_FLOAT, "denoising-strength", "Denoising strength (A1111 recommends 0.8, with 80-100 steps of Euler a)"),
             arg(GIMP_PDB_INT32, "pixels", "Pixels to expand (8-256)"),
             arg(GIMP_PDB_INT32, "mask-blur", "Mask blur (0-64; the script's default 8, the runs blur by four times this)"),
             arg(GIMP_PDB_INT32, "left", "1: grow to the left"), arg(GIMP_PDB_INT32, "right", "1: grow to the right"),
             arg(GIMP_PDB_INT32, "up", "1: grow upwards"), arg(GIMP_PDB_INT32, "down", "1: grow downwards"),
             arg(GIMP_PDB_FLOAT, "fall-off", "Fall-off exponent (0-4, lower = more detail; default 1)"),
             arg(GIMP_PDB_FLOAT, "color-variation", "Colour variation of the starting noise (0-1; default 0.05)"),
             arg(GIMP_PDB_INT32, "width", "Largest strip width (multiple of 8)"), arg(GIMP_PDB_INT32, "height", "Largest strip height (multiple of 8)"),
             arg(GIMP_PDB_INT32, "batch-size", "Number of results (seeds seed, seed+1, ...)"),
             arg(GIMP_PDB_INT32, "batch-count", "Batches run one after another (as A1111: a fixed seed repeats, seed -1 draws anew)"), model},
            {arg(GIMP_PDB_IMAGE, "result-image", "A new image with the results"), arg(GIMP_PDB_LAYER, "layer", "Its top layer")});

    install("plug-in-diffusion-upscale", "Upscale the active layer", "_Upscale...", "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, arg(GIMP_PDB_STRING, "upscaler", "ESRGAN thick (default, learned), ESRGAN medium, ESRGAN slim, Lanczos, Nearest, an A1111 upscaler name (LDSR, R-ESRGAN 4x+, ...) or a model file"),
             arg(GIMP_PDB_FLOAT, "scale", "Scale factor (1-8)"),
             arg(GIMP_PDB_INT32, "new-image", "0: scale this image and add the layer; 1: open a new image"),
             arg(GIMP_PDB_INT32, "ldsr-steps", "LDSR's DDIM steps (A1111's \"LDSR processing steps\", 1-200; 0: its default 100)")},
            {arg(GIMP_PDB_IMAGE, "result-image", "The image holding the result"),
             arg(GIMP_PDB_LAYER, "layer", "The upscaled layer")});

    install("plug-in-diffusion-extras-upscale", "Upscale the active layer as A1111's Extras tab does, into a new image",
            "_Extras Upscale...", "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable,
             arg(GIMP_PDB_STRING, "upscaler-1", "ESRGAN thick (default), ESRGAN medium/slim, Lanczos, Nearest, None, an A1111 upscaler name or an ESRGAN .pth file"),
             arg(GIMP_PDB_STRING, "upscaler-2", "None (default) or an upscaler as above, blended in"),
             arg(GIMP_PDB_FLOAT, "upscaler-2-visibility", "How much of Upscaler 2 shows (0-1)"),
             arg(GIMP_PDB_STRING, "resize-mode", "\"Scale by\" or \"Scale to\""),
             arg(GIMP_PDB_FLOAT, "scale", "Scale by: the factor (1-8)"),
             arg(GIMP_PDB_INT32, "max-side-length", "Scale by: shrink to fit this longest side (0 = no limit)"),
             arg(GIMP_PDB_INT32, "width", "Scale to: width (64-8192)"), arg(GIMP_PDB_INT32, "height", "Scale to: height (64-8192)"),
             arg(GIMP_PDB_INT32, "crop", "Scale to: 1 crops to fit (centred), 0 keeps the whole image"),
             arg(GIMP_PDB_INT32, "ldsr-steps", "LDSR's DDIM steps (A1111's \"LDSR processing steps\", 1-200; 0: its default 100)"),
             arg(GIMP_PDB_FLOAT, "gfpgan-visibility", "GFPGAN face restoration after the upscale (0 = off, up to 1)"),
             arg(GIMP_PDB_FLOAT, "codeformer-visibility", "CodeFormer face restoration after GFPGAN (0 = off, up to 1)"),
             arg(GIMP_PDB_FLOAT, "codeformer-weight", "CodeFormer weight (0-1; A1111's default 0.5)")},
            {arg(GIMP_PDB_IMAGE, "result-image", "A new image with the result"), arg(GIMP_PDB_LAYER, "layer", "Its layer")});

    install("plug-in-diffusion-restore-faces", "Restore the faces of the active layer with CodeFormer or GFPGAN (A1111's face restoration), as a new layer",
            "Restore _Faces...", "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable,
             arg(GIMP_PDB_STRING, "restorer", "\"CodeFormer\" (A1111's default; also for \"\") or \"GFPGAN\""),
             arg(GIMP_PDB_FLOAT, "visibility", "How much of the restoration shows over the layer (above 0, at most 1; A1111's Extras slider)"),
             arg(GIMP_PDB_FLOAT, "codeformer-weight", "CodeFormer weight (0-1; A1111's default 0.5): how much of the layer's own face CodeFormer keeps")},
            {arg(GIMP_PDB_IMAGE, "result-image", "The image"), arg(GIMP_PDB_LAYER, "layer", "The new layer with the restored faces")});

    install("plug-in-diffusion-interrogate-deepbooru",
            "The active layer's (or its selected part's) DeepDanbooru tags as prompt text (A1111's Interrogate DeepBooru); a menu run makes them the next run's prompt",
            "Interrogate _DeepBooru...", "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, arg(GIMP_PDB_FLOAT, "threshold", "Score threshold (0-1; A1111's default 0.5)"),
             arg(GIMP_PDB_INT32, "sort-alpha", "1: tags alphabetically (A1111's default); 0: by score"),
             arg(GIMP_PDB_INT32, "use-spaces", "1: spaces for underscores (A1111's default)"),
             arg(GIMP_PDB_INT32, "escape", "1: a backslash before brackets, so they stay literal in a prompt (A1111's default)"),
             arg(GIMP_PDB_INT32, "include-ranks", "1: each tag as (tag:score)"),
             arg(GIMP_PDB_STRING, "filter-tags", "Tags to leave out, separated by commas")},
            {arg(GIMP_PDB_STRING, "tags", "The tags, as A1111 writes them into its prompt box")});

    install("plug-in-diffusion-export-png",
            "Write the active layer as A1111 saves its images: a PNG whose \"parameters\" text A1111's PNG Info and Paste Parameters read",
            "E_xport Layer as A1111 PNG...", "RGB*, GRAY*",
            {kRunMode, kImage, kDrawable, arg(GIMP_PDB_STRING, "filename", "The .png file to write")},
            {arg(GIMP_PDB_STRING, "path", "The file written")});

    install("plug-in-diffusion-load-model", "Load a checkpoint into the resident engine", "_Load Model...", "",
            {kRunMode, model, arg(GIMP_PDB_STRING, "prediction", "\"\" (from the file), \"v\" or \"eps\""),
             arg(GIMP_PDB_STRING, "vae", "\"\" or \"Automatic\" (MODEL.vae.safetensors beside it, if any), \"None\" or a VAE file")},
            {arg(GIMP_PDB_STRING, "model-kind", "Family and prediction, e.g. sd2-v"),
             arg(GIMP_PDB_STRING, "model-hash", "A1111's short hash")});

    install("plug-in-diffusion-merge-checkpoints", "Merge checkpoints as A1111's Checkpoint Merger does", "Checkpoint _Merger...", "",
            {kRunMode, arg(GIMP_PDB_STRING, "primary", "Model A (a checkpoint file)"),
             arg(GIMP_PDB_STRING, "secondary", "Model B (\"\" for No interpolation)"),
             arg(GIMP_PDB_STRING, "tertiary", "Model C (Add difference only)"),
             arg(GIMP_PDB_STRING, "method", "\"Weighted sum\", \"Add difference\" or \"No interpolation\""),
             arg(GIMP_PDB_FLOAT, "multiplier", "M: (1 - M) A + M B, or A + M (B - C)"),
             arg(GIMP_PDB_INT32, "save-as-half", "1: float16 weights"),
             arg(GIMP_PDB_STRING, "custom-name", "\"\" for A1111's name from the models and M"),
             arg(GIMP_PDB_STRING, "bake-in-vae", "\"\" or \"None\", else a VAE file written into the result"),
             arg(GIMP_PDB_STRING, "discard-weights", "A regular expression: matching keys are left out"),
             arg(GIMP_PDB_STRING, "config-source", "Copy config from: \"A, B or C\" (default), \"B\", \"C\" or \"Don't\""),
             arg(GIMP_PDB_STRING, "checkpoint-format", "\"safetensors\" (default) or \"ckpt\" (torch.save)")},
            {arg(GIMP_PDB_STRING, "path", "The new checkpoint (beside model A)")});

    install("plug-in-diffusion-unload-model", "Free the engine's memory", "_Unload Model", "", {kRunMode}, {});

    install("plug-in-diffusion-paste-parameters", "Fill the next run from an A1111 parameters text", "_Paste Parameters...",
            "*", {kRunMode, kImage, kDrawable, arg(GIMP_PDB_STRING, "parameters", "A1111 text (\"\" = the active layer's)")},
            {arg(GIMP_PDB_STRING, "ignored", "Fields of the text this plug-in does not use, comma separated")});
}

}  // namespace sdgimp::plugin
