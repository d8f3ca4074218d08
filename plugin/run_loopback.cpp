// Loopback (A1111's img2img script of that name): the active layer (or its selected part) redrawn,
// then the result redrawn again, loop after loop, the denoising strength moving towards a final one;
// the images in one layer group.
#include "engine_call.h"
#include "generate_jobs.h"
#include "loopback.h"
#include "procedures.h"
#include "settings.h"
#include "status.h"

namespace sdgimp::plugin {

void run_loopback(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 17) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-loopback takes 17 arguments.");
        auto str = [&](int k) { return std::string(params[k].data.d_string ? params[k].data.d_string : ""); };
        const gint32 image = params[1].data.d_image, drawable = params[2].data.d_drawable;
        Settings s = load_settings();
        GenerateRequest base = generation_args(params, s.last);
        base.denoising_strength = params[10].data.d_float;
        LoopbackSettings loop;
        loop.loops = params[11].data.d_int32;
        loop.final_denoising_strength = params[12].data.d_float;
        loop.curve = str(13);
        loop.batch_count = params[14].data.d_int32;
        loop.append_interrogation = str(16).empty() ? "None" : str(16);
        validate_loopback(loop);
        const std::string model = resolve_model(str(15), s);
        // A1111's fix_seed, then one image per call.
        if (base.seed < 0) base.seed = static_cast<int64_t>(g_random_int_range(0, G_MAXINT32));
        if (base.subseed < 0) base.subseed = static_cast<int64_t>(g_random_int_range(0, G_MAXINT32));
        base.batch_size = base.batch_count = 1;
        base.script_info = loopback_info(loop);
        const auto steps = loopback_steps(base.seed, base.denoising_strength, loop);
        std::vector<std::pair<GenerateRequest, wire::Message>> runs;
        Target region;
        Image previous, original;
        for (size_t i = 0; i < steps.size(); ++i) {
            GenerateRequest r = base;
            r.seed = steps[i].seed;
            r.denoising_strength = steps[i].denoising_strength;
            wire::Message req = prepare(GenMode::kImg2Img, image, drawable, &r, model, s, &region);
            if (i == 0) original = wire::image_from(req.header["image"], req);
            if (loop.append_interrogation == "DeepBooru") {
                // A1111 tags the loop's input: the layer's region, or the previous loop's image.
                r.prompt = loopback_prompt(base.prompt, deepbooru_tags(steps[i].first_of_batch ? region.src : previous, s, deepbooru_options(s)));
                req.header["request"]["prompt"] = r.prompt;
            }
            // A1111's script matches every loop's colours to the original image, not the loop's input.
            if (r.img2img_color_correction) req.header["color_reference"] = wire::attach_image(&req, original);
            if (!steps[i].first_of_batch) {
                // The previous loop's image (RGB at the region's padded size, as the engine returns it) in place of the layer's.
                auto& desc = req.header["image"];
                if (previous.width != desc["width"].get<int>() || previous.height != desc["height"].get<int>())
                    throw Error(ErrorCode::kInternal, "Loopback got an image of another size back from the engine; run it again.");
                req.payloads.at(desc["payload"].get<size_t>()) = previous.pixels;
                desc["channels"] = previous.channels;
            }
            wire::Message res;
            const Status st = call_engine(req, "Loopback " + std::to_string(i + 1) + "/" + std::to_string(steps.size()), &res);
            if (!st.ok) throw Error(st.code, st.message);
            previous = wire::image_from(res.header["images"].at(0), res);
            if (steps[i].kept) runs.emplace_back(r, std::move(res));
        }
        const gint32 group = apply_runs(image, "Loopback ×" + std::to_string(runs.size()), runs, &region);
        s.model = model;
        save_settings(s);
        reply->values[1].type = GIMP_PDB_LAYER;
        reply->values[1].data.d_layer = group;
        reply->count = 2;
    } catch (const Error& e) {
        fail(reply, e);
    }
}

}  // namespace sdgimp::plugin
