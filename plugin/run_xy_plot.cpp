// X/Y Plot: one txt2img (or img2img of the active layer) per (x, y) pair of values of two fields
// (CFG scale x steps by default; xy_plot.h lists them), laid out as a grid of layers in a new
// image, each named after its values.
#include <cstdlib>
#include <sstream>

#include "engine_call.h"
#include "grid_image.h"
#include "procedures.h"
#include "script_source.h"
#include "settings.h"
#include "status.h"
#include "xy_plot.h"

namespace sdgimp::plugin {

void run_xy_plot(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 19) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-xy-plot takes 19 arguments.");
        auto str = [&](int k) { return std::string(params[k].data.d_string ? params[k].data.d_string : ""); };
        Settings s = load_settings();
        GenerateRequest base = generation_args(params, s.last);
        base.width = params[10].data.d_int32;
        base.height = params[11].data.d_int32;
        base.batch_size = base.batch_count = 1;
        // From A1111's img2img tab: its strength first, so a "Denoising" axis sweeps it.
        const ScriptSource src = script_source(params, 17);
        if (src.img2img) base.denoising_strength = src.denoising_strength;
        std::vector<std::string> style_problems;
        const std::vector<text::PromptStyle> styles =
            str(12) == "Styles" || str(14) == "Styles" ? prompt_styles(resolve_model(str(16), s), &style_problems) : std::vector<text::PromptStyle>{};
        if (styles.empty() && !style_problems.empty()) throw Error(ErrorCode::kBadFile, style_problems.front());
        const XYAxis xs = parse_xy_axis(str(12), str(13), base, styles), ys = parse_xy_axis(str(14), str(15), base, styles);
        if (src.img2img) check_xy_axis_for_img2img(xs), check_xy_axis_for_img2img(ys);
        // A fixed seed for every cell, so the cells differ only by the plotted fields.
        if (base.seed < 0) base.seed = static_cast<int64_t>(g_random_int_range(0, G_MAXINT32));
        const std::string model = resolve_model(str(16), s);
        validate(base);
        const int cols = static_cast<int>(xs.values.size()), rows = static_cast<int>(ys.values.size());
        // Checkpoints named on an axis are checked before any cell runs, and that axis is walked
        // outermost so each checkpoint loads once (as A1111's script orders it).
        const std::vector<std::string> choices = model_choices(s), vaes = vae_choices(s);
        // The files' names and hashes are read once, and only for a checkpoint axis.
        std::vector<CheckpointNames> names;
        if (xs.field == "Checkpoint name" || ys.field == "Checkpoint name")
            for (const auto& path : choices) names.push_back(checkpoint_names(path));
        std::vector<std::string> x_models(static_cast<size_t>(cols)), y_models(static_cast<size_t>(rows));
        for (size_t i = 0; i < xs.values.size(); ++i) x_models[i] = xy_checkpoint(xs, i, names), (void)xy_vae(xs, i, vaes);
        for (size_t j = 0; j < ys.values.size(); ++j) y_models[j] = xy_checkpoint(ys, j, names), (void)xy_vae(ys, j, vaes);
        // Likewise the other slow changes (A1111 walks the costlier axis outermost).
        const bool x_outer = xy_axis_cost(xs.field) > xy_axis_cost(ys.field);
        std::vector<std::pair<std::string, wire::Message>> cells(static_cast<size_t>(cols * rows));
        Target region;  // an img2img run's region: the cells show it at its own size
        int done = 0;
        for (int a = 0; a < (x_outer ? cols : rows); ++a)
            for (int b = 0; b < (x_outer ? rows : cols); ++b) {
                const int i = x_outer ? a : b, j = x_outer ? b : a;
                GenerateRequest r = base;
                apply_xy_value(&r, xs, static_cast<size_t>(i));
                apply_xy_value(&r, ys, static_cast<size_t>(j));
                apply_xy_styles(&r, xs, static_cast<size_t>(i));
                apply_xy_styles(&r, ys, static_cast<size_t>(j));
                // A refiner named as A1111 names it: that file of the model folders when it is one.
                if (const std::string p = checkpoint_named(choices, r.refiner_checkpoint); !p.empty()) r.refiner_checkpoint = p;
                validate(r);
                std::string cell_model = model;
                for (const std::string& m : {x_models[static_cast<size_t>(i)], y_models[static_cast<size_t>(j)]})
                    if (!m.empty()) cell_model = m;
                wire::Message req = prepare(src.mode(), params[1].data.d_image, params[2].data.d_drawable, &r, cell_model, s, &region);
                for (const auto& vae : {xy_vae(xs, static_cast<size_t>(i), vaes), xy_vae(ys, static_cast<size_t>(j), vaes)})
                    if (vae) req.header["model"]["vae"] = *vae;
                wire::Message res;
                // A1111's "Nothing" axis adds no label.
                std::string label;
                for (const auto& [axis, k] : {std::pair{&xs, i}, std::pair{&ys, j}})
                    if (axis->field != "Nothing")
                        label += (label.empty() ? "" : ", ") + axis->field + ": " + axis->values[static_cast<size_t>(k)];
                if (label.empty()) label = "X/Y plot";
                const Status st = call_engine(req, "X/Y Plot " + std::to_string(++done) + "/" + std::to_string(cols * rows), &res);
                if (!st.ok) throw Error(st.code, st.message);
                cells[static_cast<size_t>(j * cols + i)] = {label, std::move(res)};
            }
        // Everything generated: now build the grid image in one go.
        reply_grid_image(cells, cols, rows, 0, "X/Y plot: " + xs.field + " × " + ys.field, params, &s, model, reply,
                         src.img2img ? region.rect.w : 0, src.img2img ? region.rect.h : 0);
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
