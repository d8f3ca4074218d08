// gimp-diffusion-cli txt2img / img2img: A1111-named options in, PNGs with a "parameters" chunk out.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <iostream>
#include <sstream>

#include "../engine/checkpoint_merger.h"
#include "../engine/engine.h"
#include "../imaging/inpaint_prep.h"
#include "../io/png_file.h"
#include "../io/safetensors_writer.h"
#include "../text/prompt_styles.h"
#include "cli_commands.h"
#include "cli_options.h"

namespace sdgimp::cli {
namespace {

std::string model_path(const Options& o) {
    std::string m = o.get("model");
    if (m.empty()) {
        if (const char* e = std::getenv("GIMP_DIFFUSION_MODEL")) m = e;
    }
    if (m.empty()) throw Error(ErrorCode::kInvalidRequest, "Name a checkpoint with --model FILE (or set GIMP_DIFFUSION_MODEL).");
    return m;
}

// --model (or $GIMP_DIFFUSION_MODEL), --prediction, --vocab, --precision, --device.
ModelRequest model_request(const Options& o) {
    ModelRequest m;
    m.path = model_path(o);
    m.prediction = o.get("prediction");
    m.vocab = o.get("vocab");
    m.precision = o.get("precision", "float32");
    m.device = o.get("device", "cpu");
    m.vae = o.get("vae");
    if (o.has("lora-dir")) m.lora_dirs.push_back(o.get("lora-dir"));
    if (o.has("upscaler-dir")) m.upscaler_dirs.push_back(o.get("upscaler-dir"));
    if (o.has("gfpgan-dir")) m.face_restoration_dirs.push_back(o.get("gfpgan-dir"));
    if (o.has("embeddings-dir")) m.embedding_dirs.push_back(o.get("embeddings-dir"));
    if (o.has("hypernetwork-dir")) m.hypernetwork_dirs.push_back(o.get("hypernetwork-dir"));
    if (o.has("taesd-dir")) m.taesd_dirs.push_back(o.get("taesd-dir"));
    if (o.has("vae-approx-dir")) m.vae_approx_dirs.push_back(o.get("vae-approx-dir"));
    return m;
}

void check_known(const Options& o, std::vector<std::string> extra) {
    const auto& names = request_option_names();
    for (const auto& [k, v] : o.values) {
        if (std::find(names.begin(), names.end(), k) != names.end()) continue;
        if (std::find(extra.begin(), extra.end(), k) != extra.end()) continue;
        throw Error(ErrorCode::kInvalidRequest, "Unknown option --" + k + "; see gimp-diffusion-cli --help.");
    }
}

// A text progress bar on stderr: "[#####-----] 5/10  1.2 s/it  ETA 6 s".
RunCallbacks stderr_progress(bool quiet) {
    RunCallbacks cb;
    if (quiet) return cb;
    auto start = std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    cb.progress = [start](int done, int total) {
        const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - *start).count();
        const double per = done ? el / done : 0;
        const int width = 30, fill = total ? done * width / total : 0;
        std::fprintf(stderr, "\r[%s%s] %d/%d  %.2f s/it  ETA %.0f s ", std::string(static_cast<size_t>(fill), '#').c_str(),
                     std::string(static_cast<size_t>(width - fill), '-').c_str(), done, total, per, per * (total - done));
        if (done == total) std::fprintf(stderr, "\n");
        std::fflush(stderr);
    };
    return cb;
}

std::string output_name(const Options& o, const std::string& mode, size_t i, size_t n, int64_t seed) {
    std::string out = o.get("output");
    if (out.empty()) return mode + "-" + std::to_string(seed) + (n > 1 ? "-" + std::to_string(i) : "") + ".png";
    if (n == 1) return out;
    const size_t dot = out.rfind(".png");
    const std::string base = dot == std::string::npos ? out : out.substr(0, dot);
    return base + "-" + std::to_string(i) + ".png";
}

// --styles NAME[,NAME...] from --styles-file (else the web UI's styles.csv two folders above MODEL),
// merged into the prompts in order as A1111's styles are (hires prompts too when given).
void apply_cli_styles(const Options& o, const std::string& model, GenerateRequest* r) {
    if (!o.has("styles")) return;
    std::string file = o.get("styles-file");
    if (file.empty()) file = model.substr(0, model.find_last_of('/') == std::string::npos ? 0 : model.find_last_of('/')) + "/../../styles.csv";
    const auto all = text::read_styles_csv(file);
    std::vector<std::string> names;
    const std::string list = o.get("styles");
    if (text::find_style(all, list)) {  // a name with commas of its own
        names.push_back(list);
    } else {
        std::stringstream ss(list);
        for (std::string n; std::getline(ss, n, ',');) {
            while (!n.empty() && n.front() == ' ') n.erase(0, 1);
            if (!n.empty()) names.push_back(n);
        }
    }
    std::vector<text::PromptStyle> chosen;
    for (const auto& n : names) {
        const text::PromptStyle* st = text::find_style(all, n);
        if (!st) throw Error(ErrorCode::kInvalidRequest, "The style \"" + n + "\" is not in " + file + "; use one of its names or another --styles-file.");
        chosen.push_back(*st);
    }
    text::apply_styles_to_run(chosen, &r->prompt, &r->negative_prompt, &r->hr_prompt, &r->hr_negative_prompt);
}

int generate(const std::vector<std::string>& args, bool img2img, bool inpaint = false) {
    const Options o = parse_options(args, {"quiet"});
    check_known(o, {"model", "vae", "lora-dir", "hypernetwork-dir", "taesd-dir", "vae-approx-dir", "embeddings-dir", "upscaler-dir", "vocab", "prediction", "precision", "device", "output", "quiet", "init-image", "mask", "save-latents", "styles", "styles-file"});
    if (!o.positional.empty()) throw Error(ErrorCode::kInvalidRequest, "Unexpected argument '" + o.positional[0] + "'; options start with --.");
    GenerateRequest r = request_from_options(o);
    apply_cli_styles(o, model_path(o), &r);
    Image init;
    if (img2img) {
        if (!o.has("init-image")) throw Error(ErrorCode::kInvalidRequest, "img2img needs --init-image FILE.png.");
        init = io::read_png(o.get("init-image")).image;
        if (init.channels < 3) throw Error(ErrorCode::kInvalidRequest, "The init image must be an RGB or RGBA PNG.");
    }
    Image mask;
    if (inpaint) {
        if (!o.has("mask")) throw Error(ErrorCode::kInvalidRequest, "inpaint needs --mask FILE.png (white = repaint).");
        mask = io::read_png(o.get("mask")).image;
        if (mask.width != init.width || mask.height != init.height)
            throw Error(ErrorCode::kInvalidRequest, "The mask must have the same size as the init image.");
        // A1111 reads the mask as L (or the alpha of an RGBA mask); the engine takes gray.
        mask = imaging::binary_mask(mask, false);
        if (!o.has("width")) r.width = (init.width + 7) / 8 * 8;
        if (!o.has("height")) r.height = (init.height + 7) / 8 * 8;
    }
    validate(r);
    Engine engine;
    LoadedModel info;
    Status st = engine.load_model(model_request(o), &info);
    if (!st.ok) throw Error(st.code, st.message);
    std::vector<GeneratedImage> out;
    RunCallbacks cb = stderr_progress(o.has("quiet"));
    cb.keep_latents = o.has("save-latents");
    st = inpaint ? engine.inpaint(r, init, mask, cb, &out)
         : img2img ? engine.img2img(r, init, cb, &out) : engine.txt2img(r, cb, &out);
    if (!st.ok) throw Error(st.code, st.message);
    for (size_t i = 0; i < out.size(); ++i) {
        const std::string name = output_name(o, inpaint ? "inpaint" : img2img ? "img2img" : "txt2img", i, out.size(), out[i].seed);
        io::write_png(name, out[i].image, {{"parameters", out[i].infotext}});
        std::cout << name << "\n";
    }
    if (o.has("save-latents")) {
        // One tensor per image, named by its seed: what the sampler produced, before the VAE decode.
        std::vector<io::FloatTensor> lat;
        for (size_t i = 0; i < out.size(); ++i) {
            if (out[i].latent.empty()) continue;
            lat.push_back({"latent/" + std::to_string(i) + "/seed_" + std::to_string(out[i].seed), out[i].latent_shape, out[i].latent});
        }
        io::write_safetensors(o.get("save-latents"), lat);
        std::cout << o.get("save-latents") << "\n";
    }
    return 0;
}

}  // namespace

int cmd_txt2img(const std::vector<std::string>& args) { return generate(args, false); }
int cmd_img2img(const std::vector<std::string>& args) { return generate(args, true); }
int cmd_inpaint(const std::vector<std::string>& args) { return generate(args, true, true); }

int cmd_upscale(const std::vector<std::string>& args) {
    const Options o = parse_options(args, {"quiet"});
    for (const auto& [k, v] : o.values)
        if (k != "upscaler" && k != "scale" && k != "init-image" && k != "output" && k != "quiet" && k != "ldsr-steps")
            throw Error(ErrorCode::kInvalidRequest, "Unknown option --" + k + " for upscale; see gimp-diffusion-cli --help.");
    if (!o.has("init-image")) throw Error(ErrorCode::kInvalidRequest, "upscale needs --init-image FILE.png.");
    const Image in = io::read_png(o.get("init-image")).image;
    Engine engine;
    Image out;
    const Status st = engine.upscale(in, o.get("upscaler", "ESRGAN thick"), o.get_double("scale", 4.0), stderr_progress(o.has("quiet")), &out,
                                     o.get_int("ldsr-steps", 100));
    if (!st.ok) throw Error(st.code, st.message);
    const std::string name = o.get("output", "upscaled.png");
    io::write_png(name, out);
    std::cout << name << "\n";
    return 0;
}

int cmd_extras(const std::vector<std::string>& args) {
    const Options o = parse_options(args, {"quiet"});
    static const std::vector<std::string> known = {"init-image", "upscaler-1", "upscaler-2", "upscaler-2-visibility", "scale-by",
                                                   "max-side-length", "scale-to", "crop", "ldsr-steps", "output", "quiet",
                                                   "gfpgan-visibility", "codeformer-visibility", "codeformer-weight", "gfpgan-dir"};
    for (const auto& [k, v] : o.values)
        if (std::find(known.begin(), known.end(), k) == known.end())
            throw Error(ErrorCode::kInvalidRequest, "Unknown option --" + k + " for extras; see gimp-diffusion-cli --help.");
    if (!o.has("init-image")) throw Error(ErrorCode::kInvalidRequest, "extras needs --init-image FILE.png.");
    imaging::ExtrasUpscaleSettings s;
    s.upscaler_1 = o.get("upscaler-1", s.upscaler_1);
    s.upscaler_2 = o.get("upscaler-2", s.upscaler_2);
    s.upscaler_2_visibility = o.get_double("upscaler-2-visibility", s.upscaler_2_visibility);
    s.upscale_by = o.get_double("scale-by", s.upscale_by);
    s.max_side_length = o.get_int("max-side-length", s.max_side_length);
    if (o.has("scale-to")) {
        const std::string wh = o.get("scale-to");
        const size_t x = wh.find('x');
        char* end = nullptr;
        const long w = x == std::string::npos ? 0 : std::strtol(wh.c_str(), &end, 10);
        const bool ok = x != std::string::npos && end == wh.c_str() + x;
        const long h = ok ? std::strtol(wh.c_str() + x + 1, &end, 10) : 0;
        if (!ok || *end != '\0') throw Error(ErrorCode::kInvalidRequest, "--scale-to takes WIDTHxHEIGHT, e.g. 1024x768.");
        s.scale_to = true;
        s.to_width = static_cast<int>(w);
        s.to_height = static_cast<int>(h);
    }
    s.crop = o.get_int("crop", 1) != 0;
    s.ldsr_steps = o.get_int("ldsr-steps", s.ldsr_steps);
    s.gfpgan_visibility = o.get_double("gfpgan-visibility", s.gfpgan_visibility);
    s.codeformer_visibility = o.get_double("codeformer-visibility", s.codeformer_visibility);
    s.codeformer_weight = o.get_double("codeformer-weight", s.codeformer_weight);
    if (o.has("gfpgan-dir")) s.face_model_dirs.push_back(o.get("gfpgan-dir"));
    const Image in = io::read_png(o.get("init-image")).image;
    Engine engine;
    Image out;
    std::string info;
    const Status st = engine.extras_upscale(in, s, stderr_progress(o.has("quiet")), &out, &info);
    if (!st.ok) throw Error(st.code, st.message);
    const std::string name = o.get("output", "extras.png");
    // A1111 keeps the Extras text under the PNG's "postprocessing" key.
    io::write_png(name, out, info.empty() ? std::map<std::string, std::string>{} : std::map<std::string, std::string>{{"postprocessing", info}});
    std::cout << name << "\n";
    return 0;
}

int cmd_restore_faces(const std::vector<std::string>& args) {
    const Options o = parse_options(args, {"quiet"});
    static const std::vector<std::string> known = {"init-image", "restorer", "visibility", "codeformer-weight", "gfpgan-dir", "seed", "output", "quiet"};
    for (const auto& [k, v] : o.values)
        if (std::find(known.begin(), known.end(), k) == known.end())
            throw Error(ErrorCode::kInvalidRequest, "Unknown option --" + k + " for restore-faces; see gimp-diffusion-cli --help.");
    if (!o.has("init-image")) throw Error(ErrorCode::kInvalidRequest, "restore-faces needs --init-image FILE.png.");
    FaceRestoreSettings s;
    s.model = o.get("restorer", "CodeFormer");
    s.visibility = o.get_double("visibility", 1.0);
    s.codeformer_weight = o.get_double("codeformer-weight", 0.5);
    if (o.has("gfpgan-dir")) s.model_dirs.push_back(o.get("gfpgan-dir"));
    s.seed = static_cast<uint64_t>(o.get_int("seed", 0));
    const Image in = io::read_png(o.get("init-image")).image;
    Engine engine;
    Image out;
    std::string info;
    int faces = 0;
    const Status st = engine.restore_faces(in, s, stderr_progress(o.has("quiet")), &out, &info, &faces);
    if (!st.ok) throw Error(st.code, st.message);
    const std::string name = o.get("output", "restored.png");
    io::write_png(name, out, info.empty() ? std::map<std::string, std::string>{} : std::map<std::string, std::string>{{"postprocessing", info}});
    if (!o.has("quiet")) std::cerr << faces << (faces == 1 ? " face" : " faces") << " restored\n";
    std::cout << name << "\n";
    return 0;
}

int cmd_interrogate(const std::vector<std::string>& args) {
    const Options o = parse_options(args, {"quiet"});
    static const std::vector<std::string> known = {"init-image", "deepbooru-dir", "threshold", "sort-alpha", "use-spaces", "escape",
                                                   "include-ranks", "filter-tags", "quiet"};
    for (const auto& [k, v] : o.values)
        if (std::find(known.begin(), known.end(), k) == known.end())
            throw Error(ErrorCode::kInvalidRequest, "Unknown option --" + k + " for interrogate; see gimp-diffusion-cli --help.");
    if (!o.has("init-image")) throw Error(ErrorCode::kInvalidRequest, "interrogate needs --init-image FILE.png.");
    DeepBooruSettings s;
    s.options.threshold = o.get_double("threshold", s.options.threshold);
    s.options.sort_alpha = o.get_int("sort-alpha", 1) != 0;
    s.options.use_spaces = o.get_int("use-spaces", 1) != 0;
    s.options.escape = o.get_int("escape", 1) != 0;
    s.options.include_ranks = o.get_int("include-ranks", 0) != 0;
    s.options.filter_tags = o.get("filter-tags", "");
    if (o.has("deepbooru-dir")) s.model_dirs.push_back(o.get("deepbooru-dir"));
    const Image in = io::read_png(o.get("init-image")).image;
    Engine engine;
    std::string tags;
    const Status st = engine.interrogate_deepbooru(in, s, RunCallbacks{}, &tags);
    if (!st.ok) throw Error(st.code, st.message);
    std::cout << tags << "\n";
    return 0;
}

int cmd_merge(const std::vector<std::string>& args) {
    const Options o = parse_options(args, {"quiet"});
    static const std::vector<std::string> known = {"primary", "secondary", "tertiary", "method", "multiplier", "save-as-half",
                                                   "custom-name", "bake-in-vae", "discard-weights", "config-source", "checkpoint-format", "output-dir", "no-metadata",
                                                   "quiet"};
    for (const auto& [k, v] : o.values)
        if (std::find(known.begin(), known.end(), k) == known.end())
            throw Error(ErrorCode::kInvalidRequest, "Unknown option --" + k + " for merge; see gimp-diffusion-cli --help.");
    MergeSettings s;
    s.primary = o.get("primary", "");
    s.secondary = o.get("secondary", "");
    s.tertiary = o.get("tertiary", "");
    s.method = o.get("method", s.method);
    s.multiplier = o.get_double("multiplier", s.multiplier);
    s.save_as_half = o.get_int("save-as-half", 0) != 0;
    s.custom_name = o.get("custom-name", "");
    s.bake_in_vae = o.get("bake-in-vae", "");
    s.discard_weights = o.get("discard-weights", "");
    s.config_source = parse_config_source(o.get("config-source", "A, B or C"));
    s.checkpoint_format = o.get("checkpoint-format", s.checkpoint_format);
    s.output_dir = o.get("output-dir", "");
    s.save_metadata = o.get_int("no-metadata", 0) == 0;
    const auto progress = stderr_progress(o.has("quiet")).progress;
    const MergeResult r = merge_checkpoints(s, progress);
    std::cout << r.path << "\n";
    return 0;
}

int cmd_remove(const std::vector<std::string>& args) {
    const Options o = parse_options(args, {"quiet"});
    for (const auto& [k, v] : o.values)
        if (k != "init-image" && k != "mask" && k != "method" && k != "lama" && k != "output" && k != "quiet")
            throw Error(ErrorCode::kInvalidRequest, "Unknown option --" + k + " for remove; see gimp-diffusion-cli --help.");
    if (!o.has("init-image") || !o.has("mask"))
        throw Error(ErrorCode::kInvalidRequest, "remove needs --init-image FILE.png and --mask MASK.png (white = remove).");
    const Image in = io::read_png(o.get("init-image")).image;
    const Image mask = io::read_png(o.get("mask")).image;
    if (mask.width != in.width || mask.height != in.height)
        throw Error(ErrorCode::kInvalidRequest, "The mask must have the same size as the image.");
    Engine engine;
    Image out;
    std::string used;
    const Status st = engine.remove_object(in, mask, o.get("method", "Auto"), o.get("lama", ""), stderr_progress(o.has("quiet")),
                                           &out, &used);
    if (!st.ok) throw Error(st.code, st.message);
    const std::string name = o.get("output", "removed.png");
    io::write_png(name, out);
    std::cout << name << "\n";
    if (!o.has("quiet")) std::cerr << "removed with " << used << "\n";
    return 0;
}

int cmd_sd_upscale(const std::vector<std::string>& args) {
    const Options o = parse_options(args, {"quiet"});
    check_known(o, {"model", "vae", "lora-dir", "hypernetwork-dir", "taesd-dir", "vae-approx-dir", "embeddings-dir", "upscaler-dir", "vocab", "prediction", "precision", "device", "output", "quiet", "init-image", "upscaler", "scale", "overlap"});
    if (!o.positional.empty()) throw Error(ErrorCode::kInvalidRequest, "Unexpected argument '" + o.positional[0] + "'; options start with --.");
    if (!o.has("init-image")) throw Error(ErrorCode::kInvalidRequest, "sd-upscale needs --init-image FILE.png.");
    GenerateRequest r = request_from_options(o);
    if (!o.has("denoising-strength") && !o.has("parameters") && !o.has("parameters-from")) r.denoising_strength = 0.3;  // a gentle default for detail
    validate(r);
    const Image in = io::read_png(o.get("init-image")).image;
    Engine engine;
    Status st = engine.load_model(model_request(o), nullptr);
    if (!st.ok) throw Error(st.code, st.message);
    std::vector<GeneratedImage> out;
    st = engine.sd_upscale(r, in, o.get("upscaler", "Lanczos"), o.get_double("scale", 2.0), o.get_int("overlap", 64),
                           stderr_progress(o.has("quiet")), &out);
    if (!st.ok) throw Error(st.code, st.message);
    for (size_t i = 0; i < out.size(); ++i) {
        const std::string name = output_name(o, "sd-upscale", i, out.size(), out[i].seed);
        io::write_png(name, out[i].image, {{"parameters", out[i].infotext}});
        std::cout << name << "\n";
    }
    return 0;
}

int cmd_outpaint(const std::vector<std::string>& args) {
    const Options o = parse_options(args, {"quiet"});
    check_known(o, {"model", "vae", "lora-dir", "hypernetwork-dir", "taesd-dir", "vae-approx-dir", "embeddings-dir", "upscaler-dir", "vocab", "prediction", "precision", "device", "output", "quiet", "init-image", "pixels", "outpaint-mask-blur", "directions", "mk2", "fall-off", "color-variation"});
    if (!o.positional.empty()) throw Error(ErrorCode::kInvalidRequest, "Unexpected argument '" + o.positional[0] + "'; options start with --.");
    if (!o.has("init-image")) throw Error(ErrorCode::kInvalidRequest, "outpaint needs --init-image FILE.png.");
    const bool mk2 = o.get_int("mk2", 0) != 0;
    GenerateRequest r = request_from_options(o);
    // Poor man's default: masked content "fill" (mk2 always starts from its own noise).
    if (!o.has("masked-content") && !o.has("parameters") && !o.has("parameters-from")) r.masked_content = 0;
    imaging::OutpaintSettings os;
    os.pixels = o.get_int("pixels", 128);
    os.mask_blur = o.get_int("outpaint-mask-blur", mk2 ? 8 : 4);
    imaging::set_outpaint_directions(o.get("directions", "left,right,up,down"), &os.sides);
    validate(r);
    imaging::OutpaintMk2Settings m2;
    m2.pixels = os.pixels;
    m2.mask_blur = os.mask_blur;
    m2.sides = os.sides;
    m2.noise_q = o.get_double("fall-off", 1.0);
    m2.color_variation = o.get_double("color-variation", 0.05);
    os.tile_w = r.width;
    os.tile_h = r.height;
    if (mk2) imaging::validate_outpaint_mk2(m2);
    else imaging::validate_outpaint(os);
    const Image in = io::read_png(o.get("init-image")).image;
    Engine engine;
    Status st = engine.load_model(model_request(o), nullptr);
    if (!st.ok) throw Error(st.code, st.message);
    std::vector<GeneratedImage> out;
    st = mk2 ? engine.outpaint_mk2(r, in, m2, stderr_progress(o.has("quiet")), &out)
             : engine.outpaint(r, in, os, stderr_progress(o.has("quiet")), &out);
    if (!st.ok) throw Error(st.code, st.message);
    for (size_t i = 0; i < out.size(); ++i) {
        const std::string name = output_name(o, "outpaint", i, out.size(), out[i].seed);
        io::write_png(name, out[i].image, {{"parameters", out[i].infotext}});
        std::cout << name << "\n";
    }
    return 0;
}

}  // namespace sdgimp::cli
