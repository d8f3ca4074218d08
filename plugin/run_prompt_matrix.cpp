// Prompt Matrix (A1111's script): one txt2img (or img2img of the active layer) per subset of the
// prompt's '|'-separated variable parts, laid out as A1111's grid in a new image, each layer named
// after its prompt.
#include "engine_call.h"
#include "grid_image.h"
#include "procedures.h"
#include "script_source.h"
#include "settings.h"
#include "status.h"
#include "text/prompt_matrix.h"

namespace sdgimp::plugin {

void run_prompt_matrix(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 20) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-prompt-matrix takes 20 arguments.");
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
        const ScriptSource src = script_source(params, 18);
        if (src.img2img) base.denoising_strength = src.denoising_strength;
        validate(base);
        const std::string model = resolve_model(str(17), s);
        const size_t count = pm.prompts.size();
        std::vector<wire::Message> cells(count);
        Target region;  // an img2img run's region: the cells show it at its own size
        for (size_t i = 0; i < count; ++i) {
            GenerateRequest r = base;
            (negative ? r.negative_prompt : r.prompt) = pm.prompts[i];
            r.seed = base.seed + (different_seeds ? static_cast<int64_t>(i) : 0);
            r.subseed = base.subseed + static_cast<int64_t>(i);
            const wire::Message req = prepare(src.mode(), params[1].data.d_image, params[2].data.d_drawable, &r, model, s, &region);
            const Status st = call_engine(req, "Prompt Matrix " + std::to_string(i + 1) + "/" + std::to_string(count), &cells[i]);
            if (!st.ok) throw Error(st.code, st.message);
        }
        // Everything generated: the grid in one go, with A1111's margin between the cells.
        std::vector<std::pair<std::string, wire::Message>> named;
        for (size_t k = 0; k < count; ++k) named.emplace_back(pm.prompts[k], std::move(cells[k]));
        reply_grid_image(named, pm.cols, pm.rows, margin, std::string("Prompt matrix: ") + (negative ? base.negative_prompt : base.prompt),
                         params, &s, model, reply, src.img2img ? region.rect.w : 0, src.img2img ? region.rect.h : 0);
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
