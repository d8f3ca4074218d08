// GIMP Diffusion: the GIMP 2.10 plug-in. It links libgimp only (no gimpui, no torch): pixels go to
// the resident engine process and come back as layers.
#include <libgimp/gimp.h>

#include <cstring>
#include <vector>
#include <string>

#include "gimp_pixels.h"
#include "procedures.h"
#include "settings.h"
#include "status.h"
#include "tool_dialogs.h"

namespace {

// Menu and last-values runs of the tools (Upscale, SD Upscale, Remove Object, X/Y Plot, ...): the PDB
// arguments are filled with A1111's defaults and the last request (prompt, sampler, ...); interactive
// runs then show them in the tool's dialog (tool_dialogs), last-values runs use them as they are.
std::vector<GimpParam> interactive_arguments(const std::string& proc, const GimpParam* params, int n,
                                             std::vector<std::string>* strings) {
    const sdgimp::GenerateRequest last = sdgimp::plugin::load_settings().last;
    std::vector<GimpParam> a(params, params + n);
    strings->reserve(64);  // the GimpParam strings point into this storage; it must never reallocate
    auto str = [&](const std::string& v) {
        GimpParam p{};
        p.type = GIMP_PDB_STRING;
        strings->push_back(v);
        p.data.d_string = const_cast<gchar*>(strings->back().c_str());
        return p;
    };
    auto i32 = [](int v) { GimpParam p{}; p.type = GIMP_PDB_INT32; p.data.d_int32 = v; return p; };
    auto f = [](double v) { GimpParam p{}; p.type = GIMP_PDB_FLOAT; p.data.d_float = v; return p; };
    a.resize(3);
    if (proc == "plug-in-diffusion-upscale") {
        a.insert(a.end(), {str("ESRGAN thick"), f(2.0), i32(1), i32(100)});
    } else if (proc == "plug-in-diffusion-merge-checkpoints") {
        // No image: run mode, then A1111's defaults (Weighted sum at 0.3).
        a.resize(1);
        a.insert(a.end(), {str(""), str(""), str(""), str("Weighted sum"), f(0.3), i32(0), str(""), str("None"), str(""), str("A, B or C"), str("safetensors")});
    } else if (proc == "plug-in-diffusion-extras-upscale") {
        a.insert(a.end(), {str("ESRGAN thick"), str("None"), f(0.0), str("Scale by"), f(2.0), i32(0), i32(1024), i32(1024), i32(1), i32(100),
                           f(0.0), f(0.0), f(0.5)});
    } else if (proc == "plug-in-diffusion-remove-object") {
        a.push_back(str("Auto"));
    } else if (proc == "plug-in-diffusion-restore-faces") {
        a.insert(a.end(), {str("CodeFormer"), f(1.0), f(0.5)});
    } else if (proc == "plug-in-diffusion-paste-parameters") {
        // What A1111's PNG Info would show: the layer's text, else the opened file's.
        std::string text = sdgimp::plugin::read_parameters(params[2].data.d_drawable);
        if (text.empty()) text = sdgimp::plugin::image_parameters(params[1].data.d_image);
        a.push_back(str(text));
    } else if (proc == "plug-in-diffusion-export-png") {
        // Beside the image's file (else in the home folder), named after the layer.
        std::string dir = g_get_home_dir();
        if (gchar* file = gimp_image_get_filename(params[1].data.d_image)) {
            gchar* d = g_path_get_dirname(file);
            dir = d;
            g_free(d);
            g_free(file);
        }
        std::string name;
        if (gchar* layer = gimp_item_get_name(params[2].data.d_drawable)) {
            for (const char* c = layer; *c; ++c) name += std::strchr("/\\:*?\"<>|", *c) ? '_' : *c;
            g_free(layer);
        }
        a.push_back(str(dir + "/" + (name.empty() ? std::string("layer") : name) + ".png"));
    } else if (proc == "plug-in-diffusion-interrogate-deepbooru") {
        // A1111's settings as the dialog last set them (a last-values run repeats them).
        const sdgimp::text::DeepBooruOptions o = sdgimp::plugin::deepbooru_options(sdgimp::plugin::load_settings());
        a.insert(a.end(), {f(o.threshold), i32(o.sort_alpha), i32(o.use_spaces), i32(o.escape), i32(o.include_ranks), str(o.filter_tags)});
    } else if (proc == "plug-in-diffusion-prompts-from-file") {
        a.insert(a.end(), {str(""), str(last.negative_prompt), i32(last.steps), str(last.sampler), str(last.schedule),
                           f(last.cfg_scale), f(-1), i32(last.width), i32(last.height), i32(1), i32(1), str(""), str(""),
                           i32(0), i32(0), str("start"), str(""), str("txt2img"), f(last.denoising_strength)});
    } else if (proc == "plug-in-diffusion-prompt-matrix") {
        a.insert(a.end(), {str(last.prompt), str(last.negative_prompt), i32(last.steps), str(last.sampler), str(last.schedule),
                           f(last.cfg_scale), f(static_cast<double>(last.seed)), i32(last.width), i32(last.height), str("positive"),
                           i32(0), i32(0), str("comma"), i32(0), str(""), str("txt2img"), f(last.denoising_strength)});
    } else if (proc == "plug-in-diffusion-loopback") {
        a.insert(a.end(), {str(last.prompt), str(last.negative_prompt), i32(last.steps), str(last.sampler), str(last.schedule),
                           f(last.cfg_scale), f(static_cast<double>(last.seed)), f(last.denoising_strength), i32(4), f(0.5),
                           str("Linear"), i32(1), str(""), str("None")});
    } else if (proc == "plug-in-diffusion-outpaint") {
        // The script's defaults: 128 pixels, blur 4, fill, every side; A1111's recommended strength.
        a.insert(a.end(), {str(last.prompt), str(last.negative_prompt), i32(last.steps), str(last.sampler), str(last.schedule),
                           f(last.cfg_scale), f(static_cast<double>(last.seed)), f(0.8), i32(128), i32(4), str("fill"), i32(1), i32(1),
                           i32(1), i32(1), i32(last.width), i32(last.height), str("")});
    } else if (proc == "plug-in-diffusion-xyz-plot") {
        a.insert(a.end(), {str(last.prompt), str(last.negative_prompt), i32(last.steps), str(last.sampler), str(last.schedule),
                           f(last.cfg_scale), f(static_cast<double>(last.seed)), i32(last.width), i32(last.height), str("CFG Scale"),
                           str("5, 7, 9"), str("Steps"), str("20, 30"), str("Nothing"), str(""), str(""), str("txt2img"),
                           f(last.denoising_strength), i32(0), i32(0), i32(0), i32(0), i32(0)});
    } else if (proc == "plug-in-diffusion-outpaint-mk2") {
        // The script's defaults (128 pixels, blur 8, every side, fall-off 1, colour variation 0.05)
        // and its recommended strength.
        a.insert(a.end(), {str(last.prompt), str(last.negative_prompt), i32(last.steps), str(last.sampler), str(last.schedule),
                           f(last.cfg_scale), f(static_cast<double>(last.seed)), f(0.8), i32(128), i32(8), i32(1), i32(1), i32(1),
                           i32(1), f(1.0), f(0.05), i32(last.width), i32(last.height), i32(1), i32(1), str("")});
    } else if (proc == "plug-in-diffusion-sd-upscale" || proc == "plug-in-diffusion-xy-plot") {
        a.insert(a.end(), {str(last.prompt), str(last.negative_prompt), i32(last.steps), str(last.sampler), str(last.schedule),
                           f(last.cfg_scale), f(static_cast<double>(last.seed))});
        if (proc == "plug-in-diffusion-sd-upscale")
            a.insert(a.end(), {f(0.3), str("ESRGAN thick"), f(2.0), i32(512), i32(64), str("")});
        else
            a.insert(a.end(), {i32(last.width), i32(last.height), str("CFG Scale"), str("5, 7, 9"), str("Steps"), str("20, 30"), str(""),
                               str("txt2img"), f(last.denoising_strength)});
    } else {
        return std::vector<GimpParam>(params, params + n);
    }
    return a;
}

void query() { sdgimp::plugin::register_procedures(); }

void run(const gchar* name, gint nparams, const GimpParam* params, gint* nreturn_vals, GimpParam** return_vals) {
    static sdgimp::plugin::Reply reply;
    static std::string error;
    reply = {};
    gegl_init(nullptr, nullptr);
    using namespace sdgimp::plugin;
    const std::string proc = name;
    std::vector<std::string> strings;
    std::vector<GimpParam> filled;
    if (nparams > 0 && params[0].data.d_int32 != GIMP_RUN_NONINTERACTIVE) {
        filled = interactive_arguments(proc, params, nparams, &strings);
        params = filled.data();
        nparams = static_cast<gint>(filled.size());
        if (params[0].data.d_int32 == GIMP_RUN_INTERACTIVE) {
            // Menu runs of the tools open their dialog, prefilled with those arguments.
            ToolAnswer answer = ToolAnswer::kNotATool;
            try {
                answer = ask_tool_arguments(proc, &filled, &strings);
            } catch (const sdgimp::Error& e) {
                g_printerr("gimp-diffusion: %s\n", e.what());
            }
            params = filled.data();
            if (answer == ToolAnswer::kCancelled) {
                reply.values[0].type = GIMP_PDB_STATUS;
                reply.values[0].data.d_status = GIMP_PDB_CANCEL;
                *nreturn_vals = 1;
                *return_vals = reply.values;
                return;
            }
        }
    }
    if (proc == "plug-in-diffusion-txt2img") run_txt2img(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-img2img") run_img2img(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-inpaint") run_inpaint(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-remove-object") run_remove_object(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-xy-plot") run_xy_plot(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-xyz-plot") run_xyz_plot(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-prompt-matrix") run_prompt_matrix(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-prompts-from-file") run_prompts_from_file(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-sd-upscale") run_sd_upscale(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-loopback") run_loopback(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-outpaint") run_outpaint(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-outpaint-mk2") run_outpaint_mk2(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-upscale") run_upscale(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-extras-upscale") run_extras_upscale(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-restore-faces") run_restore_faces(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-interrogate-deepbooru") run_interrogate_deepbooru(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-export-png") run_export_png(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-load-model") run_load_model(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-merge-checkpoints") run_merge_checkpoints(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-unload-model") run_unload_model(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-paste-parameters") run_paste_parameters(params, nparams, &reply);
    else {
        reply.status = GIMP_PDB_CALLING_ERROR;
        reply.error = "Unknown procedure " + proc + ".";
    }
    reply.values[0].type = GIMP_PDB_STATUS;
    reply.values[0].data.d_status = reply.status;
    if (reply.status != GIMP_PDB_SUCCESS) {
        error = reply.error;
        reply.values[1].type = GIMP_PDB_STRING;
        reply.values[1].data.d_string = const_cast<gchar*>(error.c_str());
        reply.count = 2;
        if (params[0].data.d_int32 == GIMP_RUN_INTERACTIVE) gimp_message(error.c_str());
    }
    *nreturn_vals = reply.count;
    *return_vals = reply.values;
}

const GimpPlugInInfo PLUG_IN_INFO = {nullptr, nullptr, query, run};

}  // namespace

MAIN()
