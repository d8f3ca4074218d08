// Text to Image, Image to Image and Inpaint Selection: arguments (or the dialog) → engine → layers.
#include <unistd.h>

#include "client/engine_client.h"
#include "engine_call.h"
#include "generate_dialog.h"
#include "generate_jobs.h"
#include "procedures.h"
#include "model_summary.h"
#include "status.h"

namespace sdgimp::plugin {
namespace {

struct Args {
    const GimpParam* p;
    int n;
    int i32(int k) const { return p[k].data.d_int32; }
    double f(int k) const { return p[k].data.d_float; }
    std::string s(int k) const { return p[k].data.d_string ? p[k].data.d_string : ""; }
};

GimpPDBStatusType status_for(ErrorCode c) {
    return c == ErrorCode::kInvalidRequest ? GIMP_PDB_CALLING_ERROR : GIMP_PDB_EXECUTION_ERROR;
}

const int kArgCount[] = {17, 13, 17};
const char* kNames[] = {"plug-in-diffusion-txt2img", "plug-in-diffusion-img2img", "plug-in-diffusion-inpaint"};
const char* kLabels[] = {"Text to Image", "Image to Image", "Inpaint"};

// The request from the PDB arguments of each procedure (see procedures.cpp for the order).
void read_args(GenMode mode, const Args& a, GenerateRequest* r, std::string* model) {
    r->prompt = a.s(3);
    r->negative_prompt = a.s(4);
    r->steps = a.i32(5);
    r->sampler = a.s(6);
    r->schedule = a.s(7);
    r->cfg_scale = a.f(8);
    r->seed = static_cast<int64_t>(a.f(9));
    if (mode == GenMode::kTxt2Img) {
        r->width = a.i32(10);
        r->height = a.i32(11);
        r->batch_size = a.i32(12);
        r->batch_count = a.i32(13);
        r->subseed = static_cast<int64_t>(a.f(14));
        r->subseed_strength = a.f(15);
        r->enable_hr = false;  // the procedure has no Hires. fix arguments (the dialog and the CLI have them)
        *model = a.s(16);
    } else if (mode == GenMode::kImg2Img) {
        r->denoising_strength = a.f(10);
        r->batch_size = a.i32(11);
        r->batch_count = 1;
        r->subseed_strength = 0;
        *model = a.s(12);
    } else {
        r->denoising_strength = a.f(10);
        r->mask_blur = a.i32(11);
        r->masked_content = a.i32(12);
        r->inpaint_full_res = a.i32(13) != 0;
        r->inpaint_full_res_padding = a.i32(14);
        r->batch_size = a.i32(15);
        r->batch_count = 1;
        r->subseed_strength = 0;
        *model = a.s(16);
    }
}

// Interactive runs: the dialog stays open; every Generate adds layers (one undo group each).
void run_dialog(GenMode mode, gint32 image, gint32 drawable, Settings s) {
    dialogs::DialogConfig cfg;
    cfg.mode = static_cast<dialogs::Mode>(static_cast<int>(mode));
    cfg.initial = s.last;
    try {
        cfg.model = resolve_model("", s);
    } catch (const Error&) {
        cfg.model.clear();  // the dialog offers Browse…
    }
    cfg.models = model_choices(s);
    cfg.loras = lora_names();
    cfg.hypernetworks = hypernetwork_names();
    std::vector<std::string> style_problems;
    cfg.styles = prompt_styles(cfg.model, &style_problems);
    for (const auto& p : style_problems) gimp_message(p.c_str());
    cfg.embeddings = embedding_counts(cfg.model);
    cfg.upscalers = upscaler_names(s);
    cfg.vocab = s.vocab;
    cfg.deepbooru_dirs = deepbooru_model_dirs(s);
    cfg.deepbooru_options = deepbooru_options(s);
    if (drawable > 0) cfg.layer_parameters = read_parameters(drawable);
    if (cfg.layer_parameters.empty() && image > 0) cfg.layer_parameters = image_parameters(image);
    cfg.transient_for_xid = static_cast<unsigned long>(gimp_progress_get_window_handle());
    const int gimp_pid = static_cast<int>(getppid());
    client::ClientConfig cc;
    cc.engine_path = engine_program();
    cc.socket_path = client::default_socket_path(gimp_pid);
    cc.parent_pid = gimp_pid;
    client::EngineClient client(cc);
    Target target;
    dialogs::DialogHooks hooks;
    hooks.make_request = [&](const GenerateRequest& req, const std::string& model, std::string* err) -> std::optional<wire::Message> {
        try {
            if (model.empty()) throw Error(ErrorCode::kModelNotFound, "Choose a checkpoint file first (Browse…).");
            GenerateRequest r = req;
            target = Target{};
            return prepare(mode, image, drawable, &r, model, s, &target);
        } catch (const Error& e) {
            *err = e.what();
            return std::nullopt;
        }
    };
    // Interrogate DeepBooru tags the picture the run starts from: Image to Image's selected part,
    // Inpaint's whole layer.
    hooks.source_image = [&](std::string* err) -> std::optional<Image> {
        if (drawable <= 0 || gimp_item_is_group(drawable)) {
            *err = "Select a normal layer to interrogate.";
            return std::nullopt;
        }
        try {
            return read_rgba(drawable, mode == GenMode::kImg2Img ? img2img_rect(drawable)
                                                                 : Rect{0, 0, gimp_drawable_width(drawable), gimp_drawable_height(drawable)});
        } catch (const Error& e) {
            *err = e.what();
            return std::nullopt;
        }
    };
    hooks.call = [&client](const wire::Message& req, const std::function<void(const wire::Message&)>& ev,
                           const std::function<bool()>& cancelled, wire::Message* res) { return client.call(req, ev, cancelled, res); };
    hooks.on_result = [&](const wire::Message& res, const GenerateRequest& r, const std::string&) {
        apply(mode, target, res, r);
        g_printerr("gimp-diffusion: %s: %zu layer(s) added from the dialog\n", kLabels[static_cast<int>(mode)], res.header["images"].size());
    };
    hooks.describe_model = [](const std::string& model, int* size) -> std::string {
        try {
            const ModelSummary m = summarize_model(model);
            *size = m.default_size;
            return m.kind + ", hash " + m.old_hash;
        } catch (const Error& e) {
            return e.what();
        }
    };
    hooks.save = [&](const GenerateRequest& r, const std::string& model) {
        s.last = r;
        if (!model.empty()) s.model = model;
        save_settings(s);
    };
    dialogs::GenerateDialog dialog(cfg, hooks);
    dialog.run_modal();
}

void run_generate(GenMode mode, const GimpParam* params, int n, Reply* reply) {
    const Args a{params, n};
    const GimpRunMode run_mode = static_cast<GimpRunMode>(a.i32(0));
    const gint32 image = a.i32(1), drawable = a.i32(2);
    const int k = static_cast<int>(mode);
    Settings s = load_settings();
    if (run_mode == GIMP_RUN_INTERACTIVE && dialogs::init_gtk()) {
        run_dialog(mode, image, drawable, s);
        return;
    }
    GenerateRequest r = s.last;
    std::string model_arg;
    if (run_mode == GIMP_RUN_NONINTERACTIVE) {
        if (n != kArgCount[k]) {
            reply->status = GIMP_PDB_CALLING_ERROR;
            reply->error = std::string(kNames[k]) + " takes " + std::to_string(kArgCount[k]) + " arguments.";
            return;
        }
        read_args(mode, a, &r, &model_arg);
        r.resize_init_image = false;  // no argument for it: the layer's size, as the procedure says
    }
    try {
        const std::string model = resolve_model(model_arg, s);
        Target t;
        const wire::Message req = prepare(mode, image, drawable, &r, model, s, &t);
        wire::Message res;
        const Status st = call_engine(req, kLabels[k], &res);
        if (!st.ok) throw Error(st.code, st.message);
        const gint32 layer = apply(mode, t, res, r);
        s.last = r;
        s.model = model;
        save_settings(s);
        reply->values[1].type = GIMP_PDB_LAYER;
        reply->values[1].data.d_layer = layer;
        reply->count = 2;
    } catch (const Error& e) {
        reply->status = status_for(e.code());
        reply->error = e.what();
    }
}

}  // namespace

void run_txt2img(const GimpParam* p, int n, Reply* r) { run_generate(GenMode::kTxt2Img, p, n, r); }
void run_img2img(const GimpParam* p, int n, Reply* r) { run_generate(GenMode::kImg2Img, p, n, r); }
void run_inpaint(const GimpParam* p, int n, Reply* r) { run_generate(GenMode::kInpaint, p, n, r); }

}  // namespace sdgimp::plugin
