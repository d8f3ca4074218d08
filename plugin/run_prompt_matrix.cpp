// Prompt Matrix (A1111's script): one txt2img per subset of the prompt's '|'-separated variable
// parts, laid out as A1111's grid in a new image, each layer named after its prompt.
#include "engine_call.h"
#include "gimp_pixels.h"
#include "procedures.h"
#include "settings.h"
#include "status.h"
#include "text/prompt_matrix.h"

namespace sdgimp::plugin {

void run_prompt_matrix(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 18) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-prompt-matrix takes 18 arguments.");
        auto str = [&](int k) { return std::string(params[k].data.d_string ? params[k].data.d_string : ""); };
        Settings s = load_settings();
        GenerateRequest base = generation_args(params, s.last);
        base.width = params[10].data.d_int32;
        base.height = params[11].data.d_int32;
        base.batch_size = base.batch_count = 1;
        const std::string type = str(12);
        if (type != "positive" && type != "negative")
            throw Error(ErrorCode::kInvalidRequest, "The prompt matrix varies the \"positive\" or the \"negative\" prompt, not \"" + type + "\".");
        const bool negative = type == "negative";
        const bool different_seeds = params[14].data.d_int32 != 0;
        const int margin = params[16].data.d_int32;
        if (margin < 0 || margin > 500) throw Error(ErrorCode::kInvalidRequest, "The grid margin must be between 0 and 500 pixels.");
        const text::PromptMatrix pm = text::prompt_matrix(negative ? base.negative_prompt : base.prompt, params[13].data.d_int32 != 0, str(15));
        // A1111's fix_seed, then every image at that seed (or seed + i) and variation seed + i.
        if (base.seed < 0) base.seed = static_cast<int64_t>(g_random_int_range(0, G_MAXINT32));
        if (base.subseed < 0) base.subseed = static_cast<int64_t>(g_random_int_range(0, G_MAXINT32));
        validate(base);
        const std::string model = resolve_model(str(17), s);
        const size_t count = pm.prompts.size();
        std::vector<wire::Message> cells(count);
        for (size_t i = 0; i < count; ++i) {
            GenerateRequest r = base;
            (negative ? r.negative_prompt : r.prompt) = pm.prompts[i];
            r.seed = base.seed + (different_seeds ? static_cast<int64_t>(i) : 0);
            r.subseed = base.subseed + static_cast<int64_t>(i);
            validate(r);
            wire::Message req;
            req.header = {{"op", "txt2img"}, {"request", wire::request_to_json(r)}, {"model", model_header(s, model)}};
            const Status st = call_engine(req, "Prompt Matrix " + std::to_string(i + 1) + "/" + std::to_string(count), &cells[i]);
            if (!st.ok) throw Error(st.code, st.message);
        }
        // Everything generated: the grid in one go, cells at their images' size (the hires size with
        // Text to Image's Hires. fix on) with A1111's margin between them.
        const Image first = wire::image_from(cells.front().header["images"][0], cells.front());
        const int cw = first.width, ch = first.height;
        const gint32 img = gimp_image_new(pm.cols * cw + (pm.cols - 1) * margin, pm.rows * ch + (pm.rows - 1) * margin, GIMP_RGB);
        gimp_image_undo_disable(img);
        for (size_t k = 0; k < count; ++k) {
            const auto& d = cells[k].header["images"][0];
            const int i = static_cast<int>(k) % pm.cols, j = static_cast<int>(k) / pm.cols;
            const gint32 layer = add_layer(img, 0, 0, pm.prompts[k], wire::image_from(d, cells[k]), i * (cw + margin), j * (ch + margin));
            attach_parameters(layer, d["infotext"]);
        }
        set_image_comment(img, std::string("Prompt matrix: ") + (negative ? base.negative_prompt : base.prompt));
        gimp_image_undo_enable(img);
        if (params[0].data.d_int32 == GIMP_RUN_INTERACTIVE) gimp_display_new(img);
        s.model = model;
        save_settings(s);
        reply->values[1].type = GIMP_PDB_IMAGE;
        reply->values[1].data.d_image = img;
        reply->count = 2;
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
