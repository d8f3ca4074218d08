// X/Y Plot and X/Y/Z Plot (A1111's X/Y/Z plot script): one txt2img (or img2img of the active layer)
// per combination of the values of two or three fields (xy_plot.h lists them), laid out as grids of
// layers in a new image, each named after its values; a Z axis gives one grid (a layer group) per
// value, side by side.
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
namespace {

struct PlotOptions {
    bool vary_x = false, vary_y = false, vary_z = false;  // A1111's "Vary seeds for X/Y/Z"
    bool keep_minus_one = false;                          // A1111's "Keep -1 for seeds"
    int margin = 0;                                       // A1111's "Grid margins (px)"
};

struct AxisText {
    std::string field, values;
};

void run_plot(const GimpParam* params, GenerateRequest base, const ScriptSource& src, const std::string& model_arg,
              const AxisText& x, const AxisText& y, const AxisText& z, const PlotOptions& opt, Reply* reply) {
    Settings s = load_settings();
    // From the img2img tab the cells redraw the layer at its size, or resized to a Size axis value
    // (as A1111 resizes its init image to the tab's size).
    std::pair<int, int> natural{0, 0};
    if (src.img2img) {
        base.denoising_strength = src.denoising_strength;  // so a "Denoising" axis sweeps it
        natural = img2img_size(params[1].data.d_image, params[2].data.d_drawable);
        base.width = natural.first;
        base.height = natural.second;
    }
    std::vector<std::string> style_problems;
    const bool any_styles = x.field == "Styles" || y.field == "Styles" || z.field == "Styles";
    const std::vector<text::PromptStyle> styles =
        any_styles ? prompt_styles(resolve_model(model_arg, s), &style_problems) : std::vector<text::PromptStyle>{};
    if (styles.empty() && !style_problems.empty()) throw Error(ErrorCode::kBadFile, style_problems.front());
    XYAxis xs = parse_xy_axis(x.field, x.values, base, styles), ys = parse_xy_axis(y.field, y.values, base, styles),
           zs = parse_xy_axis(z.field, z.values, base, styles);
    if (src.img2img) check_xy_axis_for_img2img(xs), check_xy_axis_for_img2img(ys), check_xy_axis_for_img2img(zs);
    // A1111 fixes the seed (and a seed axis's -1 values) once, so the cells differ only by the
    // plotted fields, unless "Keep -1 for seeds" asks for a new random seed in every cell.
    auto random_seed = [] { return static_cast<int64_t>(g_random_int_range(0, G_MAXINT32)); };
    if (!opt.keep_minus_one) {
        if (base.seed < 0) base.seed = random_seed();
        for (XYAxis* a : {&xs, &ys, &zs}) fix_xy_axis_seeds(a, random_seed);
    }
    const std::string model = resolve_model(model_arg, s);
    validate(base);
    const int nx = static_cast<int>(xs.values.size()), ny = static_cast<int>(ys.values.size()), nz = static_cast<int>(zs.values.size());
    // Checkpoints and VAEs named on an axis are found before any cell runs.
    const std::vector<std::string> choices = model_choices(s), vaes = vae_choices(s);
    std::vector<CheckpointNames> names;  // read once, and only for a checkpoint axis
    if (xs.field == "Checkpoint name" || ys.field == "Checkpoint name" || zs.field == "Checkpoint name")
        for (const auto& path : choices) names.push_back(checkpoint_names(path));
    std::vector<std::vector<std::string>> axis_models(3);
    const XYAxis* axes[3] = {&xs, &ys, &zs};
    for (int a = 0; a < 3; ++a)
        for (size_t i = 0; i < axes[a]->values.size(); ++i) {
            axis_models[static_cast<size_t>(a)].push_back(xy_checkpoint(*axes[a], i, names));
            (void)xy_vae(*axes[a], i, vaes);
        }
    const int total = nx * ny * nz;
    std::vector<std::pair<std::string, wire::Message>> cells(static_cast<size_t>(total));
    Target region;  // an img2img run's region: the cells show it at its own size
    int done = 0;
    // The costliest axis outermost, so each checkpoint (refiner, FP8 mode, VAE) change happens once per value.
    for (const auto& cell : xyz_cell_order(xs, ys, zs)) {
        const int ix = cell[0], iy = cell[1], iz = cell[2];
        GenerateRequest r = base;
        const size_t idx[3] = {static_cast<size_t>(ix), static_cast<size_t>(iy), static_cast<size_t>(iz)};
        for (int a = 0; a < 3; ++a) apply_xy_value(&r, *axes[a], idx[a]);
        for (int a = 0; a < 3; ++a) apply_xy_styles(&r, *axes[a], idx[a]);
        // As A1111 adds it, to a kept -1 as well (-1 + 1 is seed 0 there too).
        r.seed += xyz_seed_offset(ix, iy, iz, nx, ny, opt.vary_x, opt.vary_y, opt.vary_z);
        // A refiner named as A1111 names it: that file of the model folders when it is one.
        if (const std::string p = checkpoint_named(choices, r.refiner_checkpoint); !p.empty()) r.refiner_checkpoint = p;
        r.resize_init_image = src.img2img && (r.width != natural.first || r.height != natural.second);
        validate(r);
        std::string cell_model = model;
        for (int a = 0; a < 3; ++a)
            if (!axis_models[static_cast<size_t>(a)][idx[a]].empty()) cell_model = axis_models[static_cast<size_t>(a)][idx[a]];
        wire::Message req = prepare(src.mode(), params[1].data.d_image, params[2].data.d_drawable, &r, cell_model, s, &region);
        for (int a = 0; a < 3; ++a)
            if (const auto vae = xy_vae(*axes[a], idx[a], vaes)) req.header["model"]["vae"] = *vae;
        wire::Message res;
        // A1111's "Nothing" axis adds no label.
        std::string label;
        for (int a = 0; a < 3; ++a)
            if (axes[a]->field != "Nothing") label += (label.empty() ? "" : ", ") + axes[a]->field + ": " + axes[a]->values[idx[a]];
        if (label.empty()) label = "X/Y plot";
        const Status st = call_engine(req, "Plot " + std::to_string(++done) + "/" + std::to_string(total), &res);
        if (!st.ok) throw Error(st.code, st.message);
        cells[static_cast<size_t>((iz * ny + iy) * nx + ix)] = {label, std::move(res)};
    }
    // Everything generated: now build the image in one go, a layer group per Z value when there is a Z axis.
    std::vector<std::string> groups;
    if (zs.field != "Nothing")
        for (const auto& v : zs.values) groups.push_back(zs.field + ": " + v);
    std::string comment = "X/Y plot: " + xs.field + " × " + ys.field;
    if (!groups.empty()) comment = "X/Y/Z plot: " + xs.field + " × " + ys.field + " × " + zs.field;
    // Cells of the layer's size are cut back to the region; resized ones stay whole.
    const bool sized = xs.field == "Size" || ys.field == "Size" || zs.field == "Size";
    const bool crop = src.img2img && !sized;
    reply_grid_image(cells, nx, ny, opt.margin, comment, params, &s, model, reply, crop ? region.rect.w : 0, crop ? region.rect.h : 0, groups);
}

std::string text_arg(const GimpParam* params, int k) { return params[k].data.d_string ? params[k].data.d_string : ""; }

}  // namespace

void run_xy_plot(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 19) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-xy-plot takes 19 arguments.");
        GenerateRequest base = generation_args(params, load_settings().last);
        base.width = params[10].data.d_int32;
        base.height = params[11].data.d_int32;
        base.batch_size = base.batch_count = 1;
        run_plot(params, base, script_source(params, 17), text_arg(params, 16), {text_arg(params, 12), text_arg(params, 13)},
                 {text_arg(params, 14), text_arg(params, 15)}, {"Nothing", ""}, PlotOptions{}, reply);
    } catch (const Error& e) {
        fail(reply, e);
    }
}

void run_xyz_plot(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 26) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-xyz-plot takes 26 arguments.");
        GenerateRequest base = generation_args(params, load_settings().last);
        base.width = params[10].data.d_int32;
        base.height = params[11].data.d_int32;
        base.batch_size = base.batch_count = 1;
        PlotOptions opt;
        opt.vary_x = params[21].data.d_int32 != 0;
        opt.vary_y = params[22].data.d_int32 != 0;
        opt.vary_z = params[23].data.d_int32 != 0;
        opt.keep_minus_one = params[24].data.d_int32 != 0;
        opt.margin = params[25].data.d_int32;
        if (opt.margin < 0 || opt.margin > 500) throw Error(ErrorCode::kInvalidRequest, "Grid margins must be between 0 and 500 pixels.");
        run_plot(params, base, script_source(params, 19), text_arg(params, 18), {text_arg(params, 12), text_arg(params, 13)},
                 {text_arg(params, 14), text_arg(params, 15)}, {text_arg(params, 16), text_arg(params, 17)}, opt, reply);
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
