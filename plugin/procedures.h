// The PDB procedures the plug-in registers (names, typed parameters mirroring A1111's fields,
// menu entries) and the run function of each.
#pragma once

#include <libgimp/gimp.h>

#include <string>

#include "request.h"
#include "status.h"

namespace sdgimp::plugin {

void register_procedures();

// Fills return values; the first is the status, the second an error message when it failed.
struct Reply {
    GimpPDBStatusType status = GIMP_PDB_SUCCESS;
    std::string error;
    GimpParam values[4];
    int count = 1;
};

// The reply of a procedure that made a new image (and its top layer): the two return values.
void reply_image_layer(Reply* reply, gint32 image, gint32 layer);

// The reply of a procedure that failed: a calling error for bad arguments, else an execution error,
// with the error's sentence.
void fail(Reply* reply, const Error& e);

// The last request with the generation arguments most procedures share (3-9: prompt, negative
// prompt, steps, sampler, schedule, CFG scale, seed) put in.
GenerateRequest generation_args(const GimpParam* params, const GenerateRequest& last);

void run_txt2img(const GimpParam* params, int n, Reply* reply);
void run_img2img(const GimpParam* params, int n, Reply* reply);
void run_inpaint(const GimpParam* params, int n, Reply* reply);
void run_load_model(const GimpParam* params, int n, Reply* reply);
void run_unload_model(const GimpParam* params, int n, Reply* reply);
void run_paste_parameters(const GimpParam* params, int n, Reply* reply);
void run_upscale(const GimpParam* params, int n, Reply* reply);
void run_extras_upscale(const GimpParam* params, int n, Reply* reply);
void run_restore_faces(const GimpParam* params, int n, Reply* reply);
void run_interrogate_deepbooru(const GimpParam* params, int n, Reply* reply);
void run_export_png(const GimpParam* params, int n, Reply* reply);
void run_merge_checkpoints(const GimpParam* params, int n, Reply* reply);
void run_remove_object(const GimpParam* params, int n, Reply* reply);
void run_xy_plot(const GimpParam* params, int n, Reply* reply);
void run_xyz_plot(const GimpParam* params, int n, Reply* reply);
void run_prompt_matrix(const GimpParam* params, int n, Reply* reply);
void run_prompts_from_file(const GimpParam* params, int n, Reply* reply);
void run_sd_upscale(const GimpParam* params, int n, Reply* reply);
void run_loopback(const GimpParam* params, int n, Reply* reply);
void run_outpaint(const GimpParam* params, int n, Reply* reply);
void run_outpaint_mk2(const GimpParam* params, int n, Reply* reply);

}  // namespace sdgimp::plugin
