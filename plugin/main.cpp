// GIMP Diffusion: the GIMP 2.10 plug-in. It links libgimp only (no gimpui, no torch): pixels go to
// the resident engine process and come back as layers.
#include <libgimp/gimp.h>

#include <cstring>
#include <string>

#include "procedures.h"

namespace {

void query() { sdgimp::plugin::register_procedures(); }

void run(const gchar* name, gint nparams, const GimpParam* params, gint* nreturn_vals, GimpParam** return_vals) {
    static sdgimp::plugin::Reply reply;
    static std::string error;
    reply = {};
    gegl_init(nullptr, nullptr);
    using namespace sdgimp::plugin;
    const std::string proc = name;
    if (proc == "plug-in-diffusion-txt2img") run_txt2img(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-img2img") run_img2img(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-inpaint") run_inpaint(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-remove-object") run_remove_object(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-xy-plot") run_xy_plot(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-sd-upscale") run_sd_upscale(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-upscale") run_upscale(params, nparams, &reply);
    else if (proc == "plug-in-diffusion-load-model") run_load_model(params, nparams, &reply);
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
