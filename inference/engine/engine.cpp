#include "engine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <new>
#include <unistd.h>

#include "../io/mapped_file.h"
#include "../io/safetensors_reader.h"
#include "../upscalers.h"
#include "../io/folder_files.h"
#include "../io/hash_cache.h"
#include "../io/model_hash.h"
#include "../models/hypernetwork.h"
#include "../models/lora.h"
#include "../models/module_slots.h"
#include "../models/taesd.h"
#include "../models/vae_approx.h"
#include "../pipeline/conditioning.h"
#include "../text/extra_networks.h"
#include "../pipeline/generate.h"
#include "../pipeline/hires_fix.h"
#include "../pipeline/inpaint.h"
#include "../pipeline/upscale.h"
#include "../pipeline/face_restore.h"
#include "../pipeline/deepbooru.h"
#include "../text/infotext.h"
#include "../imaging/color_correction.h"
#include "../imaging/flatten.h"
#include "../imaging/grid.h"
#include "../imaging/sd_upscale.h"
#include "../pipeline/matched_noise.h"
#include "../imaging/inpaint_prep.h"
#include "../imaging/patchmatch_fill.h"
#include "../imaging/removal_box.h"
#include "../pipeline/lama.h"
#include "device_choice.h"
#include "host_memory.h"
#include "model_info.h"

namespace sdgimp {

Status guarded(const std::function<void()>& fn) {
    try {
        fn();
        return Status::success();
    } catch (const Error& e) {
        return Status::failure(e.code(), e.what());
    } catch (const std::bad_alloc&) {
        return Status::failure(ErrorCode::kOutOfMemory,
                               "The engine ran out of memory; use a smaller size or batch, or close other programs.");
    } catch (const c10::Error& e) {
        const std::string what = e.what_without_backtrace();
        if (what.find("out of memory") != std::string::npos || what.find("alloc") != std::string::npos)
            return Status::failure(ErrorCode::kOutOfMemory,
                                   "The engine ran out of memory; use a smaller size or batch, or close other programs.");
        return Status::failure(ErrorCode::kInternal, "LibTorch failed: " + what.substr(0, what.find('\n')));
    } catch (const std::exception& e) {
        return Status::failure(ErrorCode::kInternal, std::string("Internal error: ") + e.what());
    }
}

namespace {

// Every engine call: its status, and what it freed handed back to the system when it ends (the
// server's own guarded() around a call adds no second trim).
Status engine_call(const std::function<void()>& fn) {
    Status st = guarded(fn);
    release_freed_memory();
    return st;
}

// A small network read from a file once and kept while the file is unchanged, on the model's
// device (TAESD's halves, the VAE-approx preview).
template <class Net>
struct KeptNet {
    std::string path, stamp;
    Net net{nullptr};
    Net get(const std::string& file, const std::function<Net(const std::string&)>& load, torch::Device device) {
        const std::string now = io::file_stamp(file);
        if (!net || path != file || stamp != now) {
            *this = {};
            Net loaded = load(file);
            loaded->to(device);
            *this = {file, now, loaded};
        } else if (net->parameters().front().device() != device) {
            net->to(device);
            models::clear_conv_weight_forms(*net);  // made for the old device
        }
        return net;
    }
};

// The first of `names` found in the folders, in order; "" when none is there.
std::string first_file_in(const std::vector<std::string>& dirs, std::initializer_list<std::string> names) {
    for (const auto& dir : dirs)
        for (const auto& name : names)
            if (!io::file_stamp(dir + "/" + name).empty()) return dir + "/" + name;
    return "";
}

// What a loaded model's weights carry beyond the checkpoint's: the prompt's <lora:...> networks and
// FP8 weight's rounding (and whether the networks merged into the unrounded weights).
struct WeightEdits {
    models::LoraWeights loras;
    models::Fp8Weights fp8;
    bool fp8_cache16 = false;
};

}  // namespace

struct Engine::Impl {
    pipeline::Upscalers upscalers;
    std::unique_ptr<pipeline::LamaRemover> lama;  // kept between calls, like the checkpoint
    pipeline::FaceRestorer face_restorer;          // likewise
    pipeline::DeepBooruTagger deepbooru;           // likewise
    pipeline::ConditioningCache cond_cache;
    std::shared_ptr<pipeline::SDModel> model;
    std::unique_ptr<text::ClipTokenizer> tok;
    ModelRequest loaded_req;
    std::string loaded_stamp;  // io::file_stamp of the file when it was loaded
    std::string loaded_vae_stamp;  // and of the separate VAE file, when there is one
    LoadedModel info;
    int loads = 0;
    std::vector<std::string> lora_dirs;  // the last load request's, searched first
    WeightEdits edits;                   // what the model's weights carry now
    // The run's "Lora hashes" (name as written, hash): the first pass's networks, then the hires pass's.
    std::vector<std::pair<std::string, std::string>> lora_record;
    // Hypernetwork files read so far: path -> (io::file_stamp when read, the network).
    std::map<std::string, std::pair<std::string, std::shared_ptr<const models::Hypernetwork>>> hypernetworks;
    std::vector<std::string> embedding_dirs;      // the last load request's, searched first
    std::vector<std::string> upscaler_dirs;       // the last load request's, searched first
    std::vector<std::string> face_restoration_dirs;  // likewise
    std::vector<std::string> hypernetwork_dirs;   // the last load request's, searched first
    std::vector<std::string> taesd_dirs;          // the last load request's, searched first
    KeptNet<torch::nn::Sequential> taesd[2];      // decoder, encoder
    std::vector<std::string> vae_approx_dirs;     // the last load request's, searched first
    KeptNet<models::VaeApprox> vae_approx;
    pipeline::TextualInversions embeddings;       // textual-inversion embeddings of the model's width
    std::string ti_hashes;                        // "TI hashes" of the run's prompts
    // The last Hires checkpoint and the last refiner (weights map the file, so keeping them costs
    // little memory).
    struct Companion {
        std::shared_ptr<pipeline::SDModel> model;
        std::string key;    // its path, stamp, VAE and precision when it was loaded
        std::string title;  // A1111's short_title: "name [hash]"
        WeightEdits edits;  // what its weights carry now
    };
    Companion hires, refiner;
    std::string run_hires_title;    // the running request's, or "" without one
    std::string run_refiner_title;  // the running request's refiner when sampling switched to it
    bool refiner_switched = false;  // set by the running request's sampling
};

Engine::Engine() : impl_(std::make_unique<Impl>()) { init_torch_threads(); }
Engine::~Engine() = default;

bool Engine::has_model() const { return impl_->model != nullptr; }
int Engine::model_loads() const { return impl_->loads; }
int Engine::prompt_cache_hits() const { return impl_->cond_cache.hits; }

void Engine::unload() {
    impl_->cond_cache = {};
    impl_->edits = {};
    impl_->lora_record.clear();
    impl_->hypernetworks.clear();
    impl_->embeddings = {};
    impl_->ti_hashes.clear();
    impl_->hires = {};
    impl_->refiner = {};
    impl_->model.reset();
    impl_->tok.reset();
    impl_->loaded_req = {};
}

namespace {

std::string lora_hashes_text(const std::vector<std::pair<std::string, std::string>>& record) {
    std::string s;
    for (const auto& [name, hash] : record) s += (s.empty() ? "" : ", ") + name + ": " + hash;
    return s;
}

std::string stem(const std::string& path) {
    std::string base = path.substr(path.find_last_of('/') + 1);
    const size_t dot = base.find_last_of('.');
    return dot == std::string::npos ? base : base.substr(0, dot);
}

Image to_image(const torch::Tensor& hwc_uint8) {
    auto t = hwc_uint8.contiguous();
    Image img;
    img.height = static_cast<int>(t.size(0));
    img.width = static_cast<int>(t.size(1));
    img.channels = static_cast<int>(t.size(2));
    img.pixels.assign(t.data_ptr<uint8_t>(), t.data_ptr<uint8_t>() + t.numel());
    return img;
}

}  // namespace

namespace {

// The VAE file a request means (see ModelRequest::vae); "" for the checkpoint's own.
std::string resolve_vae(const ModelRequest& req) {
    if (req.vae == "None") return "";
    if (req.vae.empty() || req.vae == "Automatic") return pipeline::vae_near_checkpoint(req.path).value_or("");
    if (!std::ifstream(req.vae).good())
        throw Error(ErrorCode::kModelNotFound, "The VAE file " + req.vae + " cannot be read; check the path, or choose Automatic or None.");
    return req.vae;
}

std::optional<Prediction> requested_prediction(const ModelRequest& req) {
    if (req.prediction.empty()) return std::nullopt;
    const auto pred = parse_prediction(req.prediction);
    if (!pred) throw Error(ErrorCode::kInvalidRequest, "Prediction must be 'v' or 'eps', not '" + req.prediction + "'.");
    return pred;
}

// A loaded checkpoint with the request's VAE file, precision and device.
void finish_model(pipeline::SDModel& m, const std::string& vae, torch::ScalarType precision, torch::Device device) {
    if (!vae.empty()) pipeline::load_vae_weights(m, vae);
    if (precision != torch::kFloat) m.set_precision(precision);
    if (!device.is_cpu()) m.set_device(device);
}

}  // namespace

Status Engine::load_model(const ModelRequest& req, LoadedModel* out) {
    return engine_call([&] {
        // The weights view the mapped file: a file changed since (rewritten, replaced) is loaded again.
        const bool same = impl_->model && req.path == impl_->loaded_req.path && io::file_stamp(req.path) == impl_->loaded_stamp &&
                          req.prediction == impl_->loaded_req.prediction && req.vocab == impl_->loaded_req.vocab &&
                          req.precision == impl_->loaded_req.precision && req.device == impl_->loaded_req.device &&
                          resolve_vae(req) == impl_->info.vae_path &&
                          (impl_->info.vae_path.empty() || io::file_stamp(impl_->info.vae_path) == impl_->loaded_vae_stamp);
        if (!same) {
            unload();
            const std::optional<Prediction> pred = requested_prediction(req);
            auto tok = std::make_unique<text::ClipTokenizer>(req.vocab.empty() ? text::find_vocab(req.path) : req.vocab);
            const torch::Device device = parse_device(req.device);
            const torch::ScalarType precision = parse_precision(req.precision, device);
            // A1111's "Model hash" needs the whole file's SHA-256: remembered across sessions, and on a
            // first load computed on another core while the weights are copied in.
            const std::string path = req.path;
            auto shorthash = std::async(std::launch::async, [path] {
                return io::cached_sha256(*io::MappedFile::open(path)).substr(0, 10);
            });
            auto model = pipeline::load_sd_model(req.path, pred);
            const std::string vae = resolve_vae(req);
            finish_model(*model, vae, precision, device);
            LoadedModel info;
            info.path = req.path;
            info.kind = model_kind(model->cfg);
            info.hash = shorthash.get();
            info.name = stem(req.path);
            info.default_size = model->cfg.prediction == Prediction::kV ? 768 : 512;
            if (!vae.empty()) {
                // A1111's "VAE hash" and "VAE": the file's SHA-256 (first 10 digits) and its name.
                info.vae_path = vae;
                info.vae_hash = io::cached_sha256(*io::MappedFile::open(vae)).substr(0, 10);
                info.vae_name = vae.substr(vae.find_last_of('/') + 1);
            }
            impl_->model = std::move(model);
            impl_->tok = std::move(tok);
            impl_->loaded_req = req;
            impl_->loaded_stamp = io::file_stamp(req.path);
            impl_->loaded_vae_stamp = vae.empty() ? std::string() : io::file_stamp(vae);
            impl_->info = info;
            ++impl_->loads;
        }
        impl_->lora_dirs = req.lora_dirs;
        impl_->embedding_dirs = req.embedding_dirs;
        impl_->upscaler_dirs = req.upscaler_dirs;
        impl_->face_restoration_dirs = req.face_restoration_dirs;
        impl_->hypernetwork_dirs = req.hypernetwork_dirs;
        impl_->taesd_dirs = req.taesd_dirs;
        impl_->vae_approx_dirs = req.vae_approx_dirs;
        if (out) *out = impl_->info;
    });
}

namespace {

pipeline::RunHooks hooks_for(const RunCallbacks& cb, pipeline::ConditioningCache* cache,
                             const pipeline::TextualInversions* embeddings) {
    pipeline::RunHooks h;
    h.conditioning_cache = cache;
    h.embeddings = embeddings;
    h.padded_conds = std::make_shared<bool>(false);
    h.ngms_skipped = std::make_shared<bool>(false);
    h.progress = cb.progress;
    h.cancelled = cb.cancelled;
    h.preview_every = cb.preview_every;
    if (cb.preview)
        h.preview = [&cb](const torch::Tensor& rgb) {
            cb.preview(to_image((rgb * 255).to(torch::kUInt8).permute({1, 2, 0})));
        };
    return h;
}

}  // namespace

namespace {

// What the run did that its parameters text notes: the old timelines changed a prompt schedule,
// the prompts were padded to one length, NGMS skipped an uncond pass.
void note_run_facts(ModelIdentity* id, const GenerateRequest& r, bool img2img, const pipeline::RunHooks& hooks) {
    id->old_timelines_changed = pipeline::old_timelines_change_schedules(r, img2img);
    id->padded_conds = hooks.padded_conds && *hooks.padded_conds;
    if (hooks.ngms_skipped) id->ngms_skipped = *hooks.ngms_skipped;
}

// One GeneratedImage per image of a batch, each with its own seeds and parameters text.
std::vector<GeneratedImage> results(const pipeline::GeneratedBatch& batch, const GenerateRequest& r,
                                    ModelIdentity id, bool img2img, bool keep_latents, const pipeline::RunHooks& hooks) {
    note_run_facts(&id, r, img2img, hooks);
    std::vector<GeneratedImage> out;
    for (int64_t i = 0; i < batch.images.size(0); ++i) {
        GeneratedImage g;
        g.image = to_image(batch.images[i]);
        if (keep_latents && batch.latents.defined()) {
            const torch::Tensor l = batch.latents[i].contiguous();
            g.latent.assign(l.data_ptr<float>(), l.data_ptr<float>() + l.numel());
            g.latent_shape.assign(l.sizes().begin(), l.sizes().end());
        }
        g.seed = batch.seeds[static_cast<size_t>(i)];
        g.subseed = batch.subseeds[static_cast<size_t>(i)];
        g.infotext = text::create_infotext(generation_info(r, id, g.seed, g.subseed, img2img));
        out.push_back(std::move(g));
    }
    return out;
}

}  // namespace

ModelIdentity Engine::identity() const {
    ModelIdentity id;
    id.hash = impl_->info.hash;
    id.name = impl_->info.name;
    id.inpainting = impl_->model->cfg.unet.in_channels == 9;
    id.edit = impl_->model->cfg.unet.in_channels == 8;
    id.vae_hash = impl_->info.vae_hash;
    id.vae_name = impl_->info.vae_name;
    id.lora_hashes = lora_hashes_text(impl_->lora_record);
    id.ti_hashes = impl_->ti_hashes;
    id.hr_checkpoint_title = impl_->run_hires_title;
    id.refiner_title = impl_->run_refiner_title;
    return id;
}

namespace {

// <name>.safetensors / .pt / .ckpt in dir or its subfolders (as A1111 walks its Lora folder).
std::string find_lora(const std::string& dir, const std::string& name) {
    static const std::vector<std::string> kEndings = {".safetensors", ".pt", ".ckpt"};
    for (const auto& path : io::files_under(dir, kEndings))
        if (io::name_without(path, kEndings) == name) return path;
    return "";
}

// A1111 also knows a LoRA by its training name, the "ss_output_name" of a .safetensors header;
// a training name two files share is no name (A1111 forbids such aliases).
std::string find_lora_by_alias(const std::vector<std::string>& dirs, const std::string& alias) {
    std::vector<std::string> found;
    for (const auto& dir : dirs)
        for (const auto& path : io::files_under(dir, {".safetensors"})) {
            try {
                const auto meta = io::read_safetensors(io::MappedFile::open(path)).metadata;
                const auto it = meta.find("ss_output_name");
                if (it != meta.end() && it->second == alias && std::find(found.begin(), found.end(), path) == found.end())
                    found.push_back(path);
            } catch (const Error&) {
                // A damaged file is refused when it is named, not while others are looked for.
            }
        }
    if (found.size() > 1)
        throw Error(ErrorCode::kInvalidRequest, "\"" + alias + "\" is the training name of several LoRA files (" + found[0] + ", " +
                                                    found[1] + "); write the file's name in the tag instead.");
    return found.empty() ? "" : found[0];
}

// An upscaler as A1111 names the files of its model folders ("4x-UltraSharp", "R-ESRGAN 4x+")
// becomes that file; the built-in ones, latent modes and paths stay as they are.
std::string resolve_upscaler(const std::string& name, const std::vector<std::string>& requested, const std::string& checkpoint,
                             bool latent_modes = false) {
    if ((latent_modes && is_latent_upscaler(name)) || name == "None") return name;
    try {
        pipeline::Upscalers::check_name(name);
        return name;
    } catch (const Error&) {
        if (name.find('/') != std::string::npos) throw;  // a path that is not there: say so
    }
    const std::vector<std::string> dirs = upscaler_file_dirs(requested, checkpoint);
    const std::string file = find_upscaler_file(name, dirs);
    if (file.empty() && name == "SwinIR 4x")
        throw Error(ErrorCode::kModelNotFound,
                    "The upscaler \"SwinIR 4x\" was not found: put its file (SwinIR's 003_realSR_BSRGAN_DFOWMFC_s64w8_SwinIR-L_x4_GAN.pth, "
                    "saved as SwinIR_4x.pth) in a SwinIR folder beside your checkpoints' (A1111's models/SwinIR), or choose ESRGAN thick, Lanczos or Nearest.");
    if (file.empty() && (name == "DAT x2" || name == "DAT x3" || name == "DAT x4"))
        throw Error(ErrorCode::kModelNotFound, "The upscaler \"" + name + "\" was not found: put its file (" + name.substr(0, 3) + "_" +
                                                   name.substr(4) + ".pth from the DAT release) in a DAT folder beside your checkpoints' (A1111's models/DAT), or choose ESRGAN thick, Lanczos or Nearest.");
    if (file.empty() && name == "LDSR")
        throw Error(ErrorCode::kModelNotFound,
                    "The upscaler \"LDSR\" was not found: put its model.ckpt (and project.yaml) in an LDSR folder beside your checkpoints' (A1111's models/LDSR), or choose ESRGAN thick, Lanczos or Nearest.");
    if (file.empty())
        throw Error(ErrorCode::kModelNotFound,
                    "The upscaler \"" + name + "\" was not found: put its .pth file in " + (dirs.empty() ? std::string("an ESRGAN folder") : dirs.front()) +
                        " (A1111's models/ESRGAN), or choose ESRGAN thick, Lanczos, Nearest" + (latent_modes ? " or a Latent mode." : "."));
    return file;
}

// A prompt's extra-network calls as one comparable text ("lora:name:0.8\n...").
std::string network_tags(const std::string& prompt) {
    std::string k;
    for (const auto& [kind, uses] : text::parse_extra_networks(prompt).networks)
        for (const auto& use : uses) {
            k += kind;
            for (const auto& item : use.items) k += ":" + item;
            k += '\n';
        }
    return k;
}

// A number argument of an extra-network tag; `where` and `example` word the error.
double tag_number(const std::string& v, const std::string& where, const std::string& example) {
    char* end = nullptr;
    const double d = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !std::isfinite(d))
        throw Error(ErrorCode::kInvalidRequest, "\"" + v + "\" in " + where + " is not a number; write e.g. " + example + ".");
    return d;
}

double lora_number(const std::string& v, const std::string& tag) { return tag_number(v, "<" + tag + ">", "<lora:name:0.8>"); }

// The prompt's <lora:...> calls (A1111's <lora:name:te:unet:dyn>, or te=, unet=, dyn=), each found
// in the LoRA folders; throws for one that is not there.
std::vector<models::LoraCall> lora_calls(const std::vector<std::string>& dirs, const std::string& prompt) {
    std::vector<models::LoraCall> calls;
    for (const auto& [kind, uses] : text::parse_extra_networks(prompt).networks) {
        if (kind != "lora" && kind != "lyco") continue;
        for (const auto& use : uses) {
            if (use.positional.empty()) continue;
            std::string tag = kind;
            for (const auto& item : use.items) tag += ":" + item;
            models::LoraCall c;
            c.name = use.positional[0];
            if (use.positional.size() > 1) c.te = lora_number(use.positional[1], tag);
            if (use.named.count("te")) c.te = lora_number(use.named.at("te"), tag);
            c.unet = use.positional.size() > 2 ? lora_number(use.positional[2], tag) : c.te;
            if (use.named.count("unet")) c.unet = lora_number(use.named.at("unet"), tag);
            if (use.positional.size() > 3) c.dyn = static_cast<int>(lora_number(use.positional[3], tag));
            if (use.named.count("dyn")) c.dyn = static_cast<int>(lora_number(use.named.at("dyn"), tag));
            for (const auto& dir : dirs)
                if (!(c.path = find_lora(dir, c.name)).empty()) break;
            if (c.path.empty()) c.path = find_lora_by_alias(dirs, c.name);
            if (c.path.empty())
                throw Error(ErrorCode::kModelNotFound, "The LoRA \"" + c.name + "\" was not found: put " + c.name +
                                                           ".safetensors in " + dirs.front() + " (or another LoRA folder), or remove <" + tag + "> from the prompt.");
            calls.push_back(c);
        }
    }
    return calls;
}

// A1111's <hypernet:name:m>: the .pt of that name in a hypernetworks folder (webui/models/
// hypernetworks beside the checkpoints' folder); "" when there is none, and A1111 skips the tag.
std::string find_hypernetwork(const std::vector<std::string>& requested, const std::string& checkpoint, const std::string& name) {
    if (name == "None") return "";  // A1111 never lists a None.pt
    for (const auto& dir : io::search_dirs(requested, checkpoint, "hypernetworks", {"/", "/../"}, "GIMP_DIFFUSION_HYPERNETWORK_DIR"))
        for (const auto& path : io::files_under(dir, {".pt"}))
            if (io::name_without(path, {".pt"}) == name) return path;
    return "";
}

// The model's weights rounded to float8 or not, as the run's "FP8 weight" says (A1111 reloads the
// weights when the setting changes); the networks on them come off first and merge again with the
// run's calls. True when the weights changed.
bool use_fp8(pipeline::SDModel& model, WeightEdits& e, const GenerateRequest& r) {
    const bool on = fp8_on(r);
    if (e.fp8.on() == on && (!on || e.fp8_cache16 == r.cache_fp16_weight)) return false;
    e.loras.restore();
    e.loras = {};
    if (on && !e.fp8.on()) e.fp8.apply(model.net);
    if (!on) e.fp8.restore();
    e.fp8_cache16 = r.cache_fp16_weight;
    model.reset_cuda_graphs();
    return true;
}

// The calls' networks on the model's weights (`e` remembers what they carry; under FP8
// weight they merge as A1111 merges them there), their hashes added to the run's record; true when
// the weights changed.
bool apply_loras(pipeline::SDModel& model, WeightEdits& e, const std::vector<models::LoraCall>& calls,
                 std::vector<std::pair<std::string, std::string>>* record) {
    models::LoraWeights& weights = e.loras;
    const bool changed = calls != weights.applied();
    if (changed) {
        weights.apply(model.net, calls, model.cfg.text.kind == TextEncoderKind::kOpenCLIP, e.fp8.on() ? &e.fp8 : nullptr, e.fp8_cache16);
        // Captured CUDA graphs hold the weights' old addresses.
        model.reset_cuda_graphs();
    }
    // A1111's "Lora hashes": the name as the prompt wrote it without ':' and ',', once per name.
    const auto& hashes = weights.applied_hashes();
    for (size_t i = 0; i < calls.size(); ++i) {
        std::string n = calls[i].name;
        n.erase(std::remove_if(n.begin(), n.end(), [](char ch) { return ch == ':' || ch == ','; }), n.end());
        auto it = std::find_if(record->begin(), record->end(), [&](const auto& e) { return e.first == n; });
        if (it == record->end()) record->emplace_back(n, hashes[i]);
        else it->second = hashes[i];
    }
    return changed;
}

std::vector<std::string> lora_dirs_of(const std::vector<std::string>& requested, const std::string& checkpoint) {
    return io::search_dirs(requested, checkpoint, "Lora", {"/", "/../"}, "GIMP_DIFFUSION_LORA_DIR");
}

}  // namespace

std::pair<std::shared_ptr<const models::HypernetworkSet>, std::string> Engine::hypernetworks_of(const std::string& prompt) {
    auto set = std::make_shared<models::HypernetworkSet>();
    std::string key;
    for (const auto& [kind, uses] : text::parse_extra_networks(prompt).networks) {
        if (kind != "hypernet") continue;
        for (const auto& use : uses) {
            if (use.items.empty()) continue;
            // A1111 reads the items as written: the name, then float() of the second.
            const std::string& name = use.items[0];
            double multiplier = 1.0;
            if (use.items.size() > 1) {
                std::string m = use.items[1];
                m.erase(m.find_last_not_of(" \t") + 1);  // float() allows blanks after the number
                multiplier = tag_number(m, "a <hypernet:...> tag", "<hypernet:" + name + ":0.8>");
            }
            const std::string path = find_hypernetwork(impl_->hypernetwork_dirs, impl_->info.path, name);
            if (path.empty()) continue;
            const std::string stamp = io::file_stamp(path);
            auto& cached = impl_->hypernetworks[path];
            if (!cached.second || cached.first != stamp) {
                try {
                    cached = {stamp, std::make_shared<const models::Hypernetwork>(models::load_hypernetwork(path, name))};
                } catch (const Error& e) {
                    impl_->hypernetworks.erase(path);
                    std::string why = e.what();
                    if (!why.empty() && why.back() == '.') why.pop_back();
                    throw Error(e.code(), "The hypernetwork \"" + name + "\" cannot be used (" + why + "); replace the file or remove <hypernet:" +
                                              name + "...> from the prompt.");
                }
            }
            set->nets.emplace_back(cached.second, multiplier);
            char m[32];
            std::snprintf(m, sizeof m, "%.17g", multiplier);
            key += path + '\x1f' + stamp + '\x1f' + m + '\n';
        }
    }
    if (set->nets.empty()) return {nullptr, ""};
    return {set, key};
}

void Engine::use_vae_methods(const GenerateRequest& r, pipeline::RunHooks* hooks) {
    impl_->model->vae_tiling.enabled = !r.vae_whole_image;
    // The TAESD preview only where a preview is shown (a script's run with the setting saved needs no file).
    const bool preview = r.live_preview_method == "TAESD" && hooks->preview;
    const bool want[2] = {r.vae_decode_method == "TAESD" || preview, r.vae_encode_method == "TAESD"};
    for (int half = 0; half < 2; ++half) {
        if (!want[half]) continue;
        const std::string stem = half == 0 ? "taesd_decoder" : "taesd_encoder";
        const std::string path =
            first_file_in(io::search_dirs(impl_->taesd_dirs, impl_->info.path, "VAE-taesd", {"/", "/../"}, "GIMP_DIFFUSION_TAESD_DIR"),
                          {stem + ".pth", stem + ".safetensors"});
        if (path.empty())
            throw Error(ErrorCode::kModelNotFound, "TAESD needs " + stem + ".pth (from github.com/madebyollin/taesd) in a VAE-taesd folder beside the checkpoint's folder or in ~/.local/share/gimp-diffusion/models/VAE-taesd; put it there or set the VAE type and live preview back to Full / Approx cheap.");
        (half == 0 ? hooks->taesd_decoder : hooks->taesd_encoder) = impl_->taesd[half].get(
            path, [half](const std::string& f) { return models::load_taesd(f, half == 0); }, impl_->model->device);
    }
    if (preview) {
        hooks->preview_decode = [dec = hooks->taesd_decoder](const torch::Tensor& latent) {
            return (models::taesd_decode(dec, latent.unsqueeze(0))[0] * 0.5 + 0.5).clamp(0, 1);
        };
    }
    if (!hooks->preview) return;
    if (r.live_preview_method == "Full") {
        // A1111 previews through the VAE itself here, whatever the decode method.
        hooks->preview_decode = [model = impl_->model](const torch::Tensor& latent) {
            return (model->vae_decode(latent.unsqueeze(0))[0] * 0.5 + 0.5).clamp(0, 1);
        };
    } else if (r.live_preview_method == "Approx NN") {
        const std::string path = first_file_in(
            io::search_dirs(impl_->vae_approx_dirs, impl_->info.path, "VAE-approx", {"/", "/../"}, "GIMP_DIFFUSION_VAE_APPROX_DIR"), {"model.pt"});
        if (path.empty())
            throw Error(ErrorCode::kModelNotFound, "The Approx NN live preview needs A1111's models/VAE-approx/model.pt in a VAE-approx folder beside the checkpoint's folder or in ~/.local/share/gimp-diffusion/models/VAE-approx; put it there or set the live preview to Approx cheap.");
        const models::VaeApprox net = impl_->vae_approx.get(path, models::load_vae_approx, impl_->model->device);
        hooks->preview_decode = [net](const torch::Tensor& latent) { return models::vae_approx_preview(net, latent); };
    }
}

void Engine::use_hypernetworks(pipeline::SDModel& model, const std::string& prompt) {
    const auto [set, key] = hypernetworks_of(prompt);
    model.set_hypernetworks(set, key);
}

void Engine::use_fp8_weights(const GenerateRequest& r) {
    // The text encoder may have changed: its cached prompts are stale.
    if (use_fp8(*impl_->model, impl_->edits, r)) impl_->cond_cache = {};
}

void Engine::use_loras(const std::string& prompt, bool hires_pass) {
    use_hypernetworks(*impl_->model, prompt);
    use_lora_calls(lora_calls(lora_dirs_of(impl_->lora_dirs, impl_->info.path), prompt), hires_pass);
}

void Engine::use_lora_calls(const std::vector<models::LoraCall>& calls, bool hires_pass) {
    if (!hires_pass) impl_->lora_record.clear();
    // The text encoder may have changed: its cached prompts are stale.
    if (apply_loras(*impl_->model, impl_->edits, calls, &impl_->lora_record)) impl_->cond_cache = {};
}

void Engine::use_companion_loras(bool refiner, const std::string& prompt) {
    // Its prompts are not cached (the cache holds the first model's encodings).
    auto& c = refiner ? impl_->refiner : impl_->hires;
    use_hypernetworks(*c.model, prompt);
    apply_loras(*c.model, c.edits, lora_calls(lora_dirs_of(impl_->lora_dirs, impl_->info.path), prompt), &impl_->lora_record);
}

void Engine::use_embeddings(const GenerateRequest& r) {
    // A1111's embeddings folder: webui/embeddings beside models/Stable-diffusion.
    const std::vector<std::string> dirs = io::search_dirs(impl_->embedding_dirs, impl_->info.path, "embeddings", {"/", "/../", "/../../"},
                                                      "GIMP_DIFFUSION_EMBEDDINGS_DIR");
    const auto flavor = impl_->model->cfg.text.kind == TextEncoderKind::kOpenCLIP ? text::TokenizerFlavor::kOpenCLIP
                                                                                    : text::TokenizerFlavor::kHF;
    // New or changed files change what prompts mean: their cached encodings go.
    if (impl_->embeddings.refresh(dirs, impl_->model->cfg.text.width, *impl_->tok, flavor)) impl_->cond_cache = {};
    std::vector<std::string> texts = {text::parse_extra_networks(r.prompt).stripped, r.negative_prompt};
    if (r.enable_hr) {
        // A1111 records the embeddings of the hires prompts too (they are encoded for the second pass).
        if (!r.hr_prompt.empty()) texts.push_back(text::parse_extra_networks(r.hr_prompt).stripped);
        if (!r.hr_negative_prompt.empty()) texts.push_back(r.hr_negative_prompt);
    }
    impl_->ti_hashes = impl_->embeddings.hashes_for(texts, *impl_->tok, flavor);
}

const pipeline::SDModel* Engine::use_companion(const std::string& spec, bool refiner, std::string* title) {
    title->clear();
    const char* role = refiner ? "refiner" : "hires checkpoint";
    // A path, or a name as A1111 records it ("name [hash]") of a file beside the model.
    std::string path = spec;
    const std::string name = checkpoint_title_name(spec);
    if (::access(path.c_str(), R_OK) != 0) {
        const std::string dir = impl_->info.path.substr(0, impl_->info.path.find_last_of('/') + 1);
        path.clear();
        for (const std::string ext : {".safetensors", ".ckpt"})
            if (path.empty() && ::access((dir + name + ext).c_str(), R_OK) == 0) path = dir + name + ext;
        if (path.empty())
            throw Error(ErrorCode::kModelNotFound, std::string("The ") + role + " \"" + spec + "\" was not found: put " + name +
                                                       ".safetensors beside " + stem(impl_->info.path) + " or give its file, or choose " +
                                                       (refiner ? "\"None\"." : "\"Use same checkpoint\"."));
    }
    if (path == impl_->info.path) {
        *title = impl_->info.name + " [" + impl_->info.hash + "]";
        return nullptr;
    }
    ModelRequest req = impl_->loaded_req;
    req.path = path;
    const std::string vae = resolve_vae(req);
    const std::string key = path + '\x1f' + io::file_stamp(path) + '\x1f' + vae + '\x1f' + (vae.empty() ? "" : io::file_stamp(vae)) +
                            '\x1f' + req.precision + '\x1f' + req.device + '\x1f' + req.prediction;
    auto& c = refiner ? impl_->refiner : impl_->hires;
    if (!c.model || c.key != key) {
        c = {};
        auto model = pipeline::load_sd_model(path, requested_prediction(req));
        const auto& a = impl_->model->cfg;
        const auto& b = model->cfg;
        if (b.text.kind != a.text.kind || b.text.width != a.text.width || b.unet.context_dim != a.unet.context_dim ||
            b.vae.embed_dim != a.vae.embed_dim)
            throw Error(ErrorCode::kInvalidRequest, std::string("The ") + role + " " + stem(path) + " is a " + model_kind(b) + " model and " +
                                                        impl_->info.name + " a " + model_kind(a) + " one; choose a " + role +
                                                        " of the same family.");
        const torch::Device device = parse_device(req.device);
        finish_model(*model, vae, parse_precision(req.precision, device), device);
        c.model = std::move(model);
        c.key = key;
        c.title = stem(path) + " [" + io::cached_sha256(*io::MappedFile::open(path)).substr(0, 10) + "]";
    }
    *title = c.title;
    return c.model.get();
}

const pipeline::SDModel* Engine::use_hires_checkpoint(const GenerateRequest& r) {
    impl_->run_hires_title.clear();
    if (!r.enable_hr || r.hr_checkpoint.empty() || r.hr_checkpoint == "Use same checkpoint") return nullptr;
    const pipeline::SDModel* m = use_companion(r.hr_checkpoint, false, &impl_->run_hires_title);
    // A1111 loads it with the run's FP8 weight setting too.
    if (m) {
        use_fp8(*impl_->hires.model, impl_->hires.edits, r);
        impl_->hires.model->vae_tiling.enabled = !r.vae_whole_image;
    }
    return m;
}

void Engine::use_refiner(const GenerateRequest& r, const pipeline::SDModel* hires_model, pipeline::RunHooks* hooks) {
    impl_->run_refiner_title.clear();
    if (r.refiner_checkpoint.empty() || r.refiner_checkpoint == "None") return;
    std::string title;
    const pipeline::SDModel* refiner = use_companion(r.refiner_checkpoint, true, &title);
    // The model itself as its refiner: A1111 finds it loaded already and never switches.
    if (!refiner) return;
    use_fp8(*impl_->refiner.model, impl_->refiner.edits, r);
    impl_->refiner.model->vae_tiling.enabled = !r.vae_whole_image;  // it decodes when it finishes the run
    const bool hires = r.enable_hr;
    hooks->refiner = refiner;
    hooks->refiner_switch_at = r.refiner_switch_at;
    hooks->refiner_by_steps = r.refiner_switch_by_steps;
    hooks->refiner_first_pass = !hires || r.hr_refiner_pass != "second pass";
    hooks->refiner_second_pass = hires && r.hr_refiner_pass != "first pass";
    // Its UNet takes the place of the model's (or the hires checkpoint's) with the same extra input.
    const int64_t in = refiner->cfg.unet.in_channels;
    const bool fits = (!hooks->refiner_first_pass || in == impl_->model->cfg.unet.in_channels) &&
                      (!hooks->refiner_second_pass || in == (hires_model ? hires_model : impl_->model.get())->cfg.unet.in_channels);
    const int64_t own = impl_->model->cfg.unet.in_channels;
    if (!fits && (in == 8 || own == 8))
        throw Error(ErrorCode::kInvalidRequest, "The refiner " + checkpoint_title_name(title) +
                                                    " and the model it takes over from must both be InstructPix2Pix models or neither; choose a refiner of the same kind.");
    if (!fits)
        throw Error(ErrorCode::kInvalidRequest, "The refiner " + checkpoint_title_name(title) + (in == 9 ? " is" : " is not") +
                                                    " an inpainting model and the model it takes over from " + (in == 9 ? "is not" : "is") +
                                                    "; choose a refiner of the same kind.");
    // The networks of the pass it joins, put on before that pass encodes its prompts.
    const auto dirs = lora_dirs_of(impl_->lora_dirs, impl_->info.path);
    const std::string hr_prompt = r.hr_prompt.empty() ? r.prompt : r.hr_prompt;
    hooks->use_refiner_networks = [this, first = lora_calls(dirs, r.prompt),
                                   second = hires ? lora_calls(dirs, hr_prompt) : std::vector<models::LoraCall>{},
                                   prompt = r.prompt, hr_prompt](bool hires_pass) {
        // Hypernetworks, as in A1111, act on whichever model samples.
        use_hypernetworks(*impl_->refiner.model, hires_pass ? hr_prompt : prompt);
        apply_loras(*impl_->refiner.model, impl_->refiner.edits, hires_pass ? second : first, &impl_->lora_record);
    };
    hooks->refiner_switched = &impl_->refiner_switched;
    impl_->refiner_switched = false;
    impl_->run_refiner_title = title;
}

void Engine::forget_unused_refiner() {
    if (!impl_->refiner_switched) impl_->run_refiner_title.clear();
}

void Engine::require_model() const {
    if (!impl_->model) throw Error(ErrorCode::kModelNotFound, "No model is loaded; load a Stable Diffusion checkpoint first.");
}

Status Engine::txt2img(const GenerateRequest& req, const RunCallbacks& cb, std::vector<GeneratedImage>* out) {
    return engine_call([&] {
        require_model();
        validate(req);
        const GenerateRequest r = pipeline::with_resolved_seeds(req);
        impl_->model->set_tiling(r.tiling);
        const pipeline::SDModel* hires_model = use_hires_checkpoint(r);
        use_fp8_weights(r);
        use_loras(r.prompt);
        // A1111 puts the hires prompt's networks on the hires checkpoint after it is loaded; with
        // a model of its own that can be done before the first pass (a bad LoRA fails early).
        if (r.enable_hr) (void)hypernetworks_of(r.hr_prompt);
        if (hires_model) use_companion_loras(false, r.hr_prompt.empty() ? r.prompt : r.hr_prompt);
        use_embeddings(r);
        pipeline::RunHooks hooks = hooks_for(cb, &impl_->cond_cache, &impl_->embeddings);
        use_vae_methods(r, &hooks);
        hooks.hires_model = hires_model;
        use_refiner(r, hires_model, &hooks);
        use_face_restoration(r, &hooks);
        if (r.enable_hr) {
            // Found (or refused) before the first pass rather than after it.
            const std::string upscaler = resolve_upscaler(r.hr_upscaler, impl_->upscaler_dirs, impl_->info.path, true);
            hooks.hires_upscale = [this, upscaler, &cb, ldsr_steps = r.ldsr_steps](const Image& img, int w, int h) {
                pipeline::UpscaleOptions opt;
                opt.cancelled = cb.cancelled;
                opt.ldsr_steps = ldsr_steps;
                return pipeline::resize_with_upscaler(impl_->upscalers, img, upscaler, w, h, opt);
            };
            // A hires prompt with other <lora:...> tags: A1111 switches networks between the passes.
            if (!hires_model && !r.hr_prompt.empty() && network_tags(r.hr_prompt) != network_tags(r.prompt)) {
                // Found once, before the first pass (a missing file is refused before any step).
                const auto dirs = lora_dirs_of(impl_->lora_dirs, impl_->info.path);
                hooks.use_networks = [this, first = lora_calls(dirs, r.prompt), second = lora_calls(dirs, r.hr_prompt),
                                      prompt = r.prompt, hr_prompt = r.hr_prompt](bool hires) {
                    use_hypernetworks(*impl_->model, hires ? hr_prompt : prompt);
                    use_lora_calls(hires ? second : first, hires);
                };
            }
        }
        const auto batch = pipeline::generate_txt2img(*impl_->model, *impl_->tok, r, hooks);
        forget_unused_refiner();
        *out = results(batch, r, identity(), false, cb.keep_latents, hooks);
    });
}

Status Engine::img2img(const GenerateRequest& req, const Image& init, const RunCallbacks& cb,
                       std::vector<GeneratedImage>* out, const Image* color_reference) {
    return engine_call([&] {
        require_model();
        if (init.channels < 3 || init.width < 1 || init.height < 1 ||
            init.pixels.size() != static_cast<size_t>(init.width) * init.height * init.channels)
            throw Error(ErrorCode::kInvalidRequest, "The init image must be an RGB(A) image.");
        const bool latent_resize = req.resize_init_image && req.resize_mode == 3;
        if ((!req.resize_init_image || latent_resize) && (init.width % 8 || init.height % 8))
            throw Error(ErrorCode::kInvalidRequest, "The init image must have a width and height that are multiples of 8 (or be resized to the run's size).");
        GenerateRequest r = pipeline::with_resolved_seeds(req);
        if (!r.resize_init_image) {
            r.width = init.width;
            r.height = init.height;
        }
        validate(r);
        impl_->model->set_tiling(r.tiling);
        use_fp8_weights(r);
        use_loras(r.prompt);
        use_embeddings(r);
        // A1111 flattens a transparent init image onto its background colour first.
        Image rgb = imaging::flatten(init, imaging::parse_background_color(r.img2img_background_color));
        // Then A1111's resize_image(mode, ...) to the run's size (mode 3 enlarges the latent instead),
        // its resizes through the "Upscaler for img2img" when one is set.
        if (!latent_resize && (rgb.width != r.width || rgb.height != r.height)) {
            const std::string upscaler = resolve_upscaler(r.img2img_upscaler.empty() ? "None" : r.img2img_upscaler, impl_->upscaler_dirs, impl_->info.path);
            rgb = imaging::resize_image(r.resize_mode, rgb, r.width, r.height, [&](const Image& im, int w, int h) {
                pipeline::UpscaleOptions opt;
                opt.cancelled = cb.cancelled;
                opt.ldsr_steps = r.ldsr_steps;
                return pipeline::resize_with_upscaler(impl_->upscalers, im, upscaler, w, h, opt);
            });
        }
        auto px = torch::from_blob(const_cast<uint8_t*>(rgb.pixels.data()), {rgb.height, rgb.width, 3}, torch::kUInt8);
        auto x = px.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat) / 255.0 * 2 - 1;
        pipeline::RunHooks hooks = hooks_for(cb, &impl_->cond_cache, &impl_->embeddings);
        use_vae_methods(r, &hooks);
        use_refiner(r, nullptr, &hooks);
        use_face_restoration(r, &hooks);
        if (r.img2img_color_correction && color_reference) {
            if (!color_reference->valid() || color_reference->channels < 3)
                throw Error(ErrorCode::kInvalidRequest, "The colour correction reference must be an RGB(A) image.");
            hooks.color_correction_target = std::make_shared<const Image>(imaging::color_correction_target(*color_reference));
        }
        const auto batch = pipeline::generate_img2img(*impl_->model, *impl_->tok, r, x, hooks);
        forget_unused_refiner();
        *out = results(batch, r, identity(), true, cb.keep_latents, hooks);
    });
}

Status Engine::upscale(const Image& image, const std::string& upscaler, double scale, const RunCallbacks& cb, Image* out,
                       int ldsr_steps) {
    return engine_call([&] {
        if (ldsr_steps < 1 || ldsr_steps > 1000) throw Error(ErrorCode::kInvalidRequest, "LDSR steps must be between 1 and 1000.");
        pipeline::UpscaleOptions opt;
        opt.ldsr_steps = ldsr_steps;
        opt.progress = cb.progress;
        opt.cancelled = cb.cancelled;
        *out = impl_->upscalers.upscale(image, resolve_upscaler(upscaler, impl_->upscaler_dirs, impl_->info.path), scale, opt);
    });
}

void Engine::use_face_restoration(const GenerateRequest& r, pipeline::RunHooks* hooks) {
    if (r.face_restoration.empty()) return;
    const auto files = pipeline::FaceRestorer::find_files(pipeline::face_restoration_dirs(impl_->face_restoration_dirs, impl_->info.path), r.face_restoration);
    impl_->face_restorer.use(files, r.face_restoration);
    hooks->restore_faces = [this, weight = r.codeformer_weight, cancelled = hooks->cancelled](const Image& rgb) {
        pipeline::FaceRestoreRun run;
        run.cancelled = cancelled;
        return impl_->face_restorer.restore(rgb, 0, weight, run);
    };
}

Image Engine::restored_and_blended(const Image& image, const FaceRestoreSettings& s, const RunCallbacks& cb, std::string* info, int* faces) {
    if (s.model != "GFPGAN" && s.model != "CodeFormer")
        throw Error(ErrorCode::kInvalidRequest, "Unknown face restorer \"" + s.model + "\"; use GFPGAN or CodeFormer.");
    if (!(s.visibility >= 0 && s.visibility <= 1)) throw Error(ErrorCode::kInvalidRequest, s.model + " visibility must be between 0 and 1.");
    if (!(s.codeformer_weight >= 0 && s.codeformer_weight <= 1)) throw Error(ErrorCode::kInvalidRequest, "CodeFormer weight must be between 0 and 1.");
    if (!image.valid() || image.channels < 3)
        throw Error(ErrorCode::kInvalidRequest, "Face restoration needs an RGB image; convert the image to RGB first.");
    if (info) info->clear();
    if (faces) *faces = 0;
    if (s.visibility == 0) return image;  // A1111 skips the restorer at visibility 0
    impl_->face_restorer.use(pipeline::FaceRestorer::find_files(pipeline::face_restoration_dirs(s.model_dirs, impl_->info.path), s.model), s.model);
    pipeline::FaceRestoreRun run;
    run.cancelled = cb.cancelled;
    run.faces_found = faces;
    Image restored = impl_->face_restorer.restore(image, s.seed, s.codeformer_weight, run);
    if (s.visibility < 1) {
        // Image.blend(source, restored, visibility) on the RGB; alpha stays the source's.
        Image a{image.width, image.height, 3, {}}, b = a;
        for (size_t i = 0; i < static_cast<size_t>(image.width) * image.height; ++i)
            for (int c = 0; c < 3; ++c) {
                a.pixels.push_back(image.pixels[i * image.channels + c]);
                b.pixels.push_back(restored.pixels[i * image.channels + c]);
            }
        const Image mixed = imaging::pil_blend(a, b, s.visibility);
        for (size_t i = 0; i < mixed.pixels.size() / 3; ++i)
            for (int c = 0; c < 3; ++c) restored.pixels[i * image.channels + c] = mixed.pixels[i * 3 + c];
    }
    // round(v, 3) as A1111 records its sliders.
    auto r3 = [](double v) { return text::python_float_repr(std::round(v * 1000) / 1000); };
    if (info) *info = s.model + " visibility: " + r3(s.visibility) + (s.model == "CodeFormer" ? ", CodeFormer weight: " + r3(s.codeformer_weight) : "");
    return restored;
}

Status Engine::restore_faces(const Image& image, const FaceRestoreSettings& s, const RunCallbacks& cb, Image* out, std::string* info,
                             int* faces) {
    return engine_call([&] { *out = restored_and_blended(image, s, cb, info, faces); });
}

Status Engine::interrogate_deepbooru(const Image& image, const DeepBooruSettings& s, const RunCallbacks& cb, std::string* tags) {
    return engine_call([&] {
        text::validate_deepbooru_options(s.options);
        if (!image.valid()) throw Error(ErrorCode::kInvalidRequest, "Cannot interrogate an empty image.");
        impl_->deepbooru.use(pipeline::DeepBooruTagger::find_file(pipeline::deepbooru_dirs(s.model_dirs, impl_->info.path)));
        if (cb.progress) cb.progress(0, 1);
        *tags = impl_->deepbooru.tag(image, s.options);
        if (cb.progress) cb.progress(1, 1);
    });
}

Status Engine::extras_upscale(const Image& image, const imaging::ExtrasUpscaleSettings& settings, const RunCallbacks& cb,
                              Image* out, std::string* info) {
    return engine_call([&] {
        imaging::validate_extras_upscale(settings);
        if (!image.valid()) throw Error(ErrorCode::kInvalidRequest, "Cannot upscale an empty image.");
        // Both found (or refused) before either runs.
        auto resolve = [&](const std::string& name) {
            return name == "None" || name.empty() ? std::string("None") : resolve_upscaler(name, impl_->upscaler_dirs, impl_->info.path);
        };
        const std::string file_1 = resolve(settings.upscaler_1);
        const bool second = settings.upscaler_2 != "None" && !settings.upscaler_2.empty() && settings.upscaler_2_visibility > 0;
        const std::string file_2 = second ? resolve(settings.upscaler_2) : std::string("None");
        pipeline::UpscaleOptions opt;
        opt.ldsr_steps = settings.ldsr_steps;
        opt.progress = cb.progress;
        opt.cancelled = cb.cancelled;
        // The face restorers' files found (or refused) before the upscale runs.
        std::vector<FaceRestoreSettings> restorers;  // A1111's order: GFPGAN (2000), then CodeFormer (3000)
        for (const char* model : {"GFPGAN", "CodeFormer"}) {
            FaceRestoreSettings fs;
            fs.model = model;
            fs.visibility = fs.model == "GFPGAN" ? settings.gfpgan_visibility : settings.codeformer_visibility;
            fs.codeformer_weight = settings.codeformer_weight;
            fs.model_dirs = settings.face_model_dirs;
            if (fs.visibility <= 0) continue;
            (void)pipeline::FaceRestorer::find_files(pipeline::face_restoration_dirs(fs.model_dirs, impl_->info.path), fs.model);
            restorers.push_back(fs);
        }
        std::string text;
        Image up = pipeline::extras_upscale(impl_->upscalers, image, settings, file_1, file_2, opt, &text);
        for (const auto& fs : restorers) {
            std::string more;
            up = restored_and_blended(up, fs, cb, &more, nullptr);
            text += (text.empty() || more.empty() ? "" : ", ") + more;
        }
        *out = std::move(up);
        if (info) *info = text;
    });
}

Status Engine::remove_object(const Image& image, const Image& mask, const std::string& method, const std::string& lama_path,
                             const RunCallbacks& cb, Image* out, std::string* used) {
    return engine_call([&] {
        const std::string path = lama_path.empty() ? imaging::default_lama_path() : lama_path;
        std::string m = method.empty() ? "Auto" : method;
        if (m == "Auto") m = ::access(path.c_str(), R_OK) == 0 ? "LaMa" : "PatchMatch";
        if (m == "LaMa") {
            if (!impl_->lama || impl_->lama->path() != path) {
                impl_->lama.reset();
                impl_->lama = std::make_unique<pipeline::LamaRemover>(path);
            }
            if (cb.progress) cb.progress(0, 1);
            *out = impl_->lama->remove(image, mask);
            if (cb.progress) cb.progress(1, 1);
        } else if (m == "PatchMatch") {
            imaging::FillOptions opt;
            int last = -1;
            opt.progress = [&](double f) {
                const int pct = static_cast<int>(f * 100);
                if (cb.progress && pct != last) cb.progress(pct, 100);
                last = pct;
                return !(cb.cancelled && cb.cancelled());
            };
            Image hole = imaging::binary_mask(mask, false);
            for (auto& v : hole.pixels) v = v > 0 ? 255 : 0;
            *out = imaging::patchmatch_fill(imaging::to_rgb(image), hole, opt);
        } else {
            throw Error(ErrorCode::kInvalidRequest, "Unknown removal method \"" + method + "\"; use PatchMatch, LaMa or Auto.");
        }
        if (used) *used = m;
    });
}

pipeline::RunHooks Engine::prepare_script_runs(const GenerateRequest& r, const RunCallbacks& cb) {
    impl_->model->set_tiling(r.tiling);
    use_fp8_weights(r);
    use_loras(r.prompt);
    use_embeddings(r);
    // What every run of the script shares: the refiner, TAESD, and the facts the texts note. The
    // script reports progress by its runs, so the runs themselves report none.
    pipeline::RunHooks hooks = hooks_for({}, &impl_->cond_cache, &impl_->embeddings);
    hooks.cancelled = cb.cancelled;
    use_vae_methods(r, &hooks);
    use_refiner(r, nullptr, &hooks);
    use_face_restoration(r, &hooks);
    return hooks;
}

Status Engine::sd_upscale(const GenerateRequest& req, const Image& image, const std::string& upscaler, double scale,
                          int overlap, const RunCallbacks& cb, std::vector<GeneratedImage>* out) {
    return engine_call([&] {
        require_model();
        GenerateRequest r = pipeline::with_resolved_seeds(req);
        validate(r);
        if (overlap < 0 || overlap >= std::min(r.width, r.height))
            throw Error(ErrorCode::kInvalidRequest, "The tile overlap must be smaller than the tile size.");
        pipeline::RunHooks run_hooks = prepare_script_runs(r, cb);
        Image up = imaging::flatten(image, imaging::parse_background_color(r.img2img_background_color));
        if (upscaler != "None") {
            pipeline::UpscaleOptions uo;
            uo.a1111_size = true;  // A1111's SD upscale starts from its upscaler's multiple-of-8 size
            uo.ldsr_steps = r.ldsr_steps;
            up = impl_->upscalers.upscale(up, resolve_upscaler(upscaler, impl_->upscaler_dirs, impl_->info.path), scale, uo);
            up = imaging::sd_upscale_resize_target(up, image.width, image.height, scale);
        }
        imaging::SdUpscaleSettings st;
        st.tile_w = r.width;
        st.tile_h = r.height;
        st.overlap = overlap;
        st.batch_size = r.batch_size;
        st.batch_count = r.batch_count;
        st.seed = r.seed;
        const int tiles_per_pass = [&] {
            int n = 0;
            for (const auto& row : imaging::split_grid(up, r.width, r.height, overlap).rows) n += static_cast<int>(row.tiles.size());
            return n;
        }();
        const int total = tiles_per_pass * r.batch_count;
        int done = 0;
        const auto results = imaging::sd_upscale_tiles(up, st, [&](const std::vector<Image>& tiles, int64_t batch_seed, int) {
            std::vector<Image> res;
            for (size_t j = 0; j < tiles.size(); ++j) {
                GenerateRequest t = r;
                t.seed = batch_seed + static_cast<int64_t>(j);
                t.batch_size = t.batch_count = 1;
                auto px = torch::from_blob(const_cast<uint8_t*>(tiles[j].pixels.data()), {tiles[j].height, tiles[j].width, 3}, torch::kUInt8);
                auto x = px.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat) / 255.0 * 2 - 1;
                const auto b = pipeline::generate_img2img(*impl_->model, *impl_->tok, t, x, run_hooks);
                res.push_back(to_image(b.images[0]));
                if (cb.progress) cb.progress(++done, total);
            }
            return res;
        });
        forget_unused_refiner();
        ModelIdentity id = identity();
        note_run_facts(&id, r, true, run_hooks);
        out->clear();
        for (size_t n = 0; n < results.size(); ++n) {
            GeneratedImage g;
            g.image = results[n];
            g.seed = r.seed + static_cast<int64_t>(n);
            g.subseed = r.subseed;
            text::GenerationInfo gi = generation_info(r, id, g.seed, g.subseed, true);
            gi.width = results[n].width;
            gi.height = results[n].height;
            add_early_info(&gi, {{"SD upscale overlap", text::InfoValue::integer(overlap)}, {"SD upscale upscaler", text::InfoValue::str(upscaler)}});
            g.infotext = text::create_infotext(gi);
            out->push_back(std::move(g));
        }
    });
}

namespace {

// The keys A1111 1.10's img2img init adds for a mask, in its order: mask mode, mask blur (when
// there is one), inpaint area and masked content.
std::vector<std::pair<std::string, text::InfoValue>> inpaint_info_keys(const GenerateRequest& r) {
    std::vector<std::pair<std::string, text::InfoValue>> keys;
    if (r.inpaint_not_masked) keys.emplace_back("Mask mode", text::InfoValue::str("Inpaint not masked"));
    if (r.mask_blur > 0) keys.emplace_back("Mask blur", text::InfoValue::integer(r.mask_blur));
    if (r.inpaint_full_res) {
        keys.emplace_back("Inpaint area", text::InfoValue::str("Only masked"));
        keys.emplace_back("Masked area padding", text::InfoValue::integer(r.inpaint_full_res_padding));
    }
    if (r.masked_content != 1) {
        static const char* kContent[] = {"fill", "original", "latent noise", "latent nothing"};
        keys.emplace_back("Masked content", text::InfoValue::str(kContent[r.masked_content]));
    }
    return keys;
}

}  // namespace

Status Engine::outpaint(const GenerateRequest& req, const Image& image, const imaging::OutpaintSettings& settings,
                        const RunCallbacks& cb, std::vector<GeneratedImage>* out) {
    return engine_call([&] {
        require_model();
        // What the script sets on the run before its tiles.
        GenerateRequest r = pipeline::with_resolved_seeds(req);
        r.mask_blur = settings.mask_blur * 2;
        r.inpaint_full_res = false;
        r.inpaint_not_masked = false;
        r.batch_size = r.batch_count = 1;
        validate(r);
        imaging::OutpaintSettings s = settings;
        s.tile_w = r.width;
        s.tile_h = r.height;
        imaging::OutpaintPlan plan = imaging::plan_outpaint(image, s);
        pipeline::RunHooks run_hooks = prepare_script_runs(r, cb);
        std::vector<Image> results;
        int64_t first_subseed = r.subseed;
        for (size_t i = 0; i < plan.work.size(); ++i) {
            const auto& tile = plan.work[i];
            GenerateRequest t = r;
            t.seed = r.seed + static_cast<int64_t>(i);  // the script's p.seed = processed.seed + 1
            // Its subseed stays as given: -1 is drawn afresh by every tile's process_images call.
            if (i > 0 && req.subseed == -1) {
                GenerateRequest draw = r;
                draw.subseed = -1;
                t.subseed = pipeline::with_resolved_seeds(draw).subseed;
            }
            const auto res = pipeline::generate_inpaint(*impl_->model, *impl_->tok, t, tile.image, tile.mask, run_hooks, tile.latent_mask);
            if (i == 0) first_subseed = res.subseeds.at(0);
            results.push_back(res.images.at(0));
            if (cb.progress) cb.progress(static_cast<int>(i) + 1, static_cast<int>(plan.work.size()));
        }
        forget_unused_refiner();
        ModelIdentity id = identity();
        note_run_facts(&id, r, true, run_hooks);
        GeneratedImage g;
        g.image = imaging::finish_outpaint(std::move(plan), results);
        g.seed = r.seed;
        g.subseed = first_subseed;
        // The script returns the first tile's text (its size is the tiles').
        text::GenerationInfo gi = generation_info(r, id, g.seed, g.subseed, true);
        add_soft_inpaint_info(r, &gi);
        add_early_info(&gi, inpaint_info_keys(r));
        g.infotext = text::create_infotext(gi);
        out->clear();
        out->push_back(std::move(g));
    });
}

Status Engine::outpaint_mk2(const GenerateRequest& req, const Image& image, const imaging::OutpaintMk2Settings& settings,
                            const RunCallbacks& cb, std::vector<GeneratedImage>* out) {
    return engine_call([&] {
        require_model();
        // What the script sets on the run.
        GenerateRequest r = pipeline::with_resolved_seeds(req);
        r.mask_blur = settings.mask_blur * 4;
        r.masked_content = 1;
        r.inpaint_full_res = false;
        r.inpaint_not_masked = false;
        validate(r);
        const int batches = r.batch_count;
        r.batch_count = 1;
        if (!image.valid()) throw Error(ErrorCode::kInvalidRequest, "The image to outpaint is empty or damaged.");
        const Image start = imaging::to_rgb(image);
        const auto steps = imaging::plan_outpaint_mk2(start.width, start.height, settings, r.width, r.height);
        pipeline::RunHooks run_hooks = prepare_script_runs(r, cb);
        const int count = r.batch_size;
        GenerateRequest first;
        int64_t first_subseed = r.subseed;
        int done = 0;
        const int total = static_cast<int>(steps.size()) * count * batches;
        out->clear();
        std::vector<GeneratedImage> results;
        // A1111's script runs batch count times over the same settings, one process_images per side:
        // a fixed seed repeats in every side and batch; seed -1 is drawn afresh by each of those calls.
        for (int b = 0; b < batches; ++b) {
            std::vector<Image> images(static_cast<size_t>(count), start);
            GenerateRequest batch_first = r;
            for (size_t k = 0; k < steps.size(); ++k) {
                const auto& st = steps[k];
                GenerateRequest side = r;
                if (b > 0 || k > 0) {
                    GenerateRequest draw = r;
                    draw.seed = req.seed == -1 ? -1 : r.seed;
                    draw.subseed = req.subseed == -1 ? -1 : r.subseed;
                    draw = pipeline::with_resolved_seeds(draw);
                    side.seed = draw.seed;
                    side.subseed = draw.subseed;
                }
                if (k == 0) batch_first = side;
                for (int n = 0; n < count; ++n) {
                    auto [canvas, mask] = imaging::mk2_canvas(images[static_cast<size_t>(n)], st);
                    const Image noised = pipeline::matched_noise(canvas, mask, settings.noise_q, settings.color_variation);
                    auto [strip_mask, latent_mask] = imaging::mk2_strip_masks(mask, st);
                    // One batch's image n: A1111's seeds (seed + n unless a variation strength holds it) and subseeds.
                    GenerateRequest t = side;
                    t.batch_size = 1;
                    t.seed = side.seed + (side.subseed_strength == 0 ? n : 0);
                    t.subseed = side.subseed + n;
                    t.width = st.proc_w;
                    t.height = st.proc_h;
                    const Image strip = imaging::crop(noised, {st.crop[0], st.crop[1], st.crop[2], st.crop[3]});
                    const auto res = pipeline::generate_inpaint(*impl_->model, *impl_->tok, t, strip, strip_mask, run_hooks, latent_mask);
                    if (b == 0 && k == 0 && n == 0) {
                        first = t;
                        first_subseed = res.subseeds.at(0);
                    }
                    images[static_cast<size_t>(n)] = imaging::mk2_finish(noised, res.images.at(0), st);
                    if (cb.progress) cb.progress(++done, total);
                }
            }
            for (int n = 0; n < count; ++n) {
                GeneratedImage g;
                g.image = std::move(images[static_cast<size_t>(n)]);
                g.seed = batch_first.seed + (batch_first.subseed_strength == 0 ? n : 0);
                g.subseed = batch_first.subseed + n;
                results.push_back(std::move(g));
            }
        }
        forget_unused_refiner();
        ModelIdentity id = identity();
        note_run_facts(&id, first, true, run_hooks);
        text::GenerationInfo gi = generation_info(first, id, first.seed, first_subseed, true);
        add_soft_inpaint_info(first, &gi);
        add_early_info(&gi, inpaint_info_keys(first));
        const std::string info = text::create_infotext(gi);
        for (auto& g : results) g.infotext = info;
        *out = std::move(results);
    });
}

Status Engine::inpaint(const GenerateRequest& req, const Image& image, const Image& mask, const RunCallbacks& cb,
                       std::vector<GeneratedImage>* out, Image* mask_for_overlay, std::vector<int>* paste_box,
                       const Image& latent_mask) {
    return engine_call([&] {
        require_model();
        if (!image.valid() || !mask.valid() || image.width != mask.width || image.height != mask.height)
            throw Error(ErrorCode::kInvalidRequest, "The inpaint mask must be a gray image of the same size as the image.");
        const GenerateRequest r = pipeline::with_resolved_seeds(req);
        validate(r);
        impl_->model->set_tiling(r.tiling);
        use_fp8_weights(r);
        use_loras(r.prompt);
        use_embeddings(r);
        pipeline::RunHooks hooks = hooks_for(cb, &impl_->cond_cache, &impl_->embeddings);
        use_vae_methods(r, &hooks);
        use_refiner(r, nullptr, &hooks);
        use_face_restoration(r, &hooks);
        const Image flat = imaging::flatten(image, imaging::parse_background_color(r.img2img_background_color));
        const auto res = pipeline::generate_inpaint(*impl_->model, *impl_->tok, r, flat, mask, hooks, latent_mask);
        forget_unused_refiner();
        ModelIdentity id = identity();
        note_run_facts(&id, r, true, hooks);
        out->clear();
        for (size_t i = 0; i < res.images.size(); ++i) {
            GeneratedImage g;
            g.image = res.images[i];
            g.seed = res.seeds[i];
            g.subseed = res.subseeds[i];
            text::GenerationInfo gi = generation_info(r, id, g.seed, g.subseed, true);
            // In the order A1111 1.10 adds them: the soft inpainting script's keys, then its
            // img2img init's mask mode, mask blur (when there is one), inpaint area and masked content.
            add_soft_inpaint_info(r, &gi);
            add_early_info(&gi, inpaint_info_keys(r));
            g.infotext = text::create_infotext(gi);
            if (i < res.masks_for_overlay.size()) g.mask_for_overlay = res.masks_for_overlay[i];
            out->push_back(std::move(g));
        }
        if (mask_for_overlay) *mask_for_overlay = res.masks_for_overlay.empty() ? res.prep.mask_for_overlay : res.masks_for_overlay[0];
        if (paste_box) {
            paste_box->clear();
            if (res.prep.paste_to) paste_box->assign(res.prep.paste_to->begin(), res.prep.paste_to->end());
        }
    });
}

}  // namespace sdgimp
