// Load Model, Unload Model and Paste Parameters.
#include <algorithm>

#include "engine_call.h"
#include "gimp_pixels.h"
#include "procedures.h"
#include "settings.h"
#include "status.h"
#include "text/infotext.h"

namespace sdgimp::plugin {
namespace {

std::string str(const GimpParam& p) { return p.data.d_string ? p.data.d_string : ""; }

// PDB string return values must outlive run(); GIMP copies them after it returns.
std::string& slot(int k) {
    static std::string values[4];
    return values[k];
}

}  // namespace

void run_load_model(const GimpParam* params, int n, Reply* reply) {
    Settings s = load_settings();
    try {
        const std::string model = resolve_model(n > 1 ? str(params[1]) : "", s);
        // The VAE stays chosen for the generations after (settings), as A1111's SD VAE setting does.
        if (n > 3) s.vae = str(params[3]) == "Automatic" ? "" : str(params[3]);
        wire::Message req;
        req.header = {{"op", "load"}, {"model", model_header(s, model, n > 2 ? str(params[2]) : "")}};
        wire::Message res;
        const Status st = call_engine(req, "Load Model", &res);
        if (!st.ok) {
            reply->status = GIMP_PDB_EXECUTION_ERROR;
            reply->error = st.message;
            return;
        }
        s.model = model;
        save_settings(s);
        slot(0) = res.header.value("kind", "");
        slot(1) = res.header.value("hash", "");
        reply->values[1].type = GIMP_PDB_STRING;
        reply->values[1].data.d_string = const_cast<gchar*>(slot(0).c_str());
        reply->values[2].type = GIMP_PDB_STRING;
        reply->values[2].data.d_string = const_cast<gchar*>(slot(1).c_str());
        reply->count = 3;
    } catch (const Error& e) {
        fail(reply, e);
    }
}

void run_merge_checkpoints(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 12) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-merge-checkpoints takes 12 arguments.");
        // The engine process does the work (torch stays out of GIMP's); it checks every value.
        wire::Message req;
        req.header = {{"op", "merge-checkpoints"}, {"primary", str(params[1])}, {"secondary", str(params[2])},
                      {"tertiary", str(params[3])}, {"method", str(params[4])}, {"multiplier", params[5].data.d_float},
                      {"save_as_half", params[6].data.d_int32 != 0}, {"custom_name", str(params[7])},
                      {"bake_in_vae", str(params[8])}, {"discard_weights", str(params[9])},
                      {"config_source", str(params[10]).empty() ? std::string("A, B or C") : str(params[10])},
                      {"checkpoint_format", str(params[11]).empty() ? std::string("safetensors") : str(params[11])}};
        wire::Message res;
        const Status st = call_engine(req, "Checkpoint Merger", &res);
        if (!st.ok) throw Error(st.code, st.message);
        slot(0) = res.header.value("path", "");
        if (params[0].data.d_int32 == GIMP_RUN_INTERACTIVE) g_message("Merged into %s", slot(0).c_str());
        reply->values[1].type = GIMP_PDB_STRING;
        reply->values[1].data.d_string = const_cast<gchar*>(slot(0).c_str());
        reply->count = 2;
    } catch (const Error& e) {
        fail(reply, e);
    }
}

void run_unload_model(const GimpParam*, int, Reply* reply) {
    wire::Message req, res;
    req.header = {{"op", "unload"}};
    const Status st = call_engine(req, "Unload Model", &res);
    if (!st.ok) {
        reply->status = GIMP_PDB_EXECUTION_ERROR;
        reply->error = st.message;
    }
}

void run_paste_parameters(const GimpParam* params, int n, Reply* reply) {
    std::string text = n > 3 ? str(params[3]) : "";
    if (text.empty() && n > 2) text = read_parameters(params[2].data.d_drawable);
    if (text.empty() && n > 1) text = image_parameters(params[1].data.d_image);
    if (text.empty()) {
        reply->status = GIMP_PDB_CALLING_ERROR;
        reply->error = "No parameters to paste: give an A1111 parameters text, select a layer made by GIMP Diffusion or open a PNG that A1111 saved.";
        return;
    }
    Settings s = load_settings();
    std::vector<std::string> ignored = apply_parameters(text, &s.last);
    // "VAE: <file name>" chooses that VAE when it is one of the model folders' (A1111 overrides its
    // SD VAE setting the same way); one that is not there stays listed as ignored.
    for (const auto& [key, value] : text::parse_infotext(text)) {
        // "Model: <file name>": the next run uses that checkpoint of the model folders (as A1111
        // switches to it); one that is not there leaves the last one.
        if (key == "Model" && value) {
            const std::string path = checkpoint_named(model_choices(s), value->to_string());
            if (!path.empty()) s.model = path;
            continue;
        }
        // "Hires checkpoint: name [hash]": that checkpoint of the model folders for the second pass.
        if (key == "Hires checkpoint" && value && s.last.enable_hr && !s.last.hr_checkpoint.empty()) {
            const std::string path = checkpoint_named(model_choices(s), value->to_string());
            if (!path.empty()) s.last.hr_checkpoint = path;
            continue;
        }
        // "Refiner: name [hash]": that checkpoint of the model folders (else the name, found beside the model).
        if (key == "Refiner" && value && !s.last.refiner_checkpoint.empty()) {
            const std::string path = checkpoint_named(model_choices(s), value->to_string());
            if (!path.empty()) s.last.refiner_checkpoint = path;
            continue;
        }
        if (key != "VAE" || !value) continue;
        const std::string name = value->to_string();
        for (const auto& path : vae_choices(s))
            if (path.size() > name.size() && path.compare(path.size() - name.size(), name.size(), name) == 0 &&
                path[path.size() - name.size() - 1] == '/') {
                s.vae = path;
                ignored.erase(std::remove_if(ignored.begin(), ignored.end(), [](const std::string& k) { return k == "VAE" || k == "VAE hash"; }),
                              ignored.end());
                break;
            }
    }
    std::string joined;
    for (const auto& k : ignored) joined += (joined.empty() ? "" : ", ") + k;
    save_settings(s);
    if (params[0].data.d_int32 == GIMP_RUN_INTERACTIVE && !joined.empty())
        gimp_message(("Pasted. Fields this plug-in does not use: " + joined + ".").c_str());
    slot(2) = joined;
    reply->values[1].type = GIMP_PDB_STRING;
    reply->values[1].data.d_string = const_cast<gchar*>(slot(2).c_str());
    reply->count = 2;
}

}  // namespace sdgimp::plugin
