// Interrogate DeepBooru: A1111's img2img button of that name over the active layer (or its selected
// part), run in the engine process: the layer's DeepDanbooru tags as prompt text. A menu run makes
// them the prompt of the next run, as A1111's button fills its prompt box.
#include <cstdio>

#include "engine_call.h"
#include "generate_jobs.h"
#include "gimp_pixels.h"
#include "procedures.h"
#include "settings.h"
#include "status.h"

namespace sdgimp::plugin {

std::string deepbooru_tags(const Image& picture, const Settings& s, const text::DeepBooruOptions& options) {
    wire::Message req, res;
    req.header = {{"op", "interrogate-deepbooru"}, {"model_dirs", deepbooru_model_dirs(s)}};
    wire::put_deepbooru_options(&req.header, options);
    req.header["image"] = wire::attach_image(&req, picture);
    const Status st = call_engine(req, "Interrogate DeepBooru", &res);
    if (!st.ok) throw Error(st.code, st.message);
    return res.header.value("tags", std::string());
}

void run_interrogate_deepbooru(const GimpParam* params, int n, Reply* reply) {
    static std::string tags;  // the PDB return value points here
    try {
        if (n != 9) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-interrogate-deepbooru takes 9 arguments.");
        text::DeepBooruOptions options;
        options.threshold = params[3].data.d_float;
        options.sort_alpha = params[4].data.d_int32 != 0;
        options.use_spaces = params[5].data.d_int32 != 0;
        options.escape = params[6].data.d_int32 != 0;
        options.include_ranks = params[7].data.d_int32 != 0;
        options.filter_tags = params[8].data.d_string ? params[8].data.d_string : "";
        text::validate_deepbooru_options(options);
        const gint32 drawable = params[2].data.d_drawable;
        if (gimp_item_is_group(drawable))
            throw Error(ErrorCode::kInvalidRequest, "A layer group has no pixels of its own; select a normal layer.");
        Settings s = load_settings();
        tags = deepbooru_tags(read_rgba(drawable, img2img_rect(drawable)), s, options);
        if (params[0].data.d_int32 != GIMP_RUN_NONINTERACTIVE) {
            if (tags.empty()) {
                char threshold[32];
                std::snprintf(threshold, sizeof threshold, "%g", options.threshold);
                gimp_message(("DeepBooru found no tag scoring " + std::string(threshold) + " or more in the layer; the prompt stays as it was.").c_str());
            } else {
                s.last.prompt = tags;
                save_settings(s);
                gimp_message(("DeepBooru: " + tags + "\n\nThis is now the prompt of the next run.").c_str());
            }
        }
        reply->values[1].type = GIMP_PDB_STRING;
        reply->values[1].data.d_string = const_cast<gchar*>(tags.c_str());
        reply->count = 2;
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
