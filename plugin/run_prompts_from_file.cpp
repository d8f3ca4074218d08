// Prompts from File (A1111's "Prompts from file or textbox" script): one Text to Image (or Image to
// Image) run per line of a list (a prompt, or "--prompt ... --steps 30 ..." options), the images in
// one layer group.
#include <algorithm>
#include <fstream>
#include <sstream>

#include "checkpoint_match.h"
#include "engine_call.h"
#include "generate_jobs.h"
#include "procedures.h"
#include "prompts_from_file.h"
#include "script_source.h"
#include "settings.h"
#include "status.h"

namespace sdgimp::plugin {

void run_prompts_from_file(const GimpParam* params, int n, Reply* reply) {
    try {
        if (n != 22) throw Error(ErrorCode::kInvalidRequest, "plug-in-diffusion-prompts-from-file takes 22 arguments.");
        auto str = [&](int k) { return std::string(params[k].data.d_string ? params[k].data.d_string : ""); };
        const gint32 image = params[1].data.d_image, drawable = params[2].data.d_drawable;
        Settings s = load_settings();
        GenerateRequest base = generation_args(params, s.last);
        base.width = params[10].data.d_int32;
        base.height = params[11].data.d_int32;
        base.batch_size = params[12].data.d_int32;
        base.batch_count = params[13].data.d_int32;
        std::string text = str(14);
        if (const std::string file = str(15); !file.empty()) {
            std::ifstream f(file, std::ios::binary);
            if (!f) throw Error(ErrorCode::kBadFile, "The prompt list " + file + " cannot be read; choose another file or paste the prompts.");
            std::stringstream ss;
            ss << f.rdbuf();
            text = ss.str();
        }
        const bool iterate = params[16].data.d_int32 != 0, same = params[17].data.d_int32 != 0;
        const std::string position = str(18);
        const std::string model = resolve_model(str(19), s);
        const ScriptSource src = script_source(params, 20);
        // From the img2img tab a line's --width / --height resize the layer's pixels to that size (as
        // A1111 resizes its init image); lines without them keep the layer's size.
        std::pair<int, int> natural{0, 0};
        if (src.img2img) {
            base.denoising_strength = src.denoising_strength;
            natural = img2img_size(image, drawable);
            base.width = natural.first;
            base.height = natural.second;
        }
        // --sd_model as A1111's get_closet_checkpoint_match reads it.
        std::vector<CheckpointNames> choices;
        for (const auto& path : model_choices(s)) choices.push_back(checkpoint_names(path));
        const auto lines = prompt_lines(text, [&](const std::string& name) { return !closest_checkpoint(choices, name).empty(); });
        if (lines.empty()) throw Error(ErrorCode::kInvalidRequest, "The prompt list is empty; give one prompt (or --options) per line.");
        // A1111 fixes a random seed once when it iterates or keeps it for all lines; else each line
        // draws its own.
        if ((iterate || same) && base.seed == -1) base.seed = static_cast<int64_t>(g_random_int_range(0, G_MAXINT32));
        // Every line's request first, so a bad one is refused before any image is made.
        std::vector<std::pair<GenerateRequest, std::string>> jobs;
        int64_t seed = base.seed;
        for (const auto& line : lines) {
            GenerateRequest b = base;
            b.seed = seed;
            std::string checkpoint;
            std::vector<std::string> unused;
            GenerateRequest r = prompt_line_request(b, line, position, &checkpoint, &unused);
            r.resize_init_image = src.img2img && (r.width != natural.first || r.height != natural.second);
            if (!line.why_whole.empty()) g_printerr("gimp-diffusion: the line \"%s\" runs as a prompt (%s)\n", line.text.c_str(), line.why_whole.c_str());
            if (std::find(unused.begin(), unused.end(), "sampler_name") != unused.end())
                g_printerr("gimp-diffusion: the line \"%s\" names no sampler A1111 knows; it runs with DPM++ 2M, as in A1111\n", line.text.c_str());
            validate(r);
            jobs.emplace_back(r, checkpoint.empty() ? model : closest_checkpoint(choices, checkpoint));
            if (iterate) seed += static_cast<int64_t>(base.batch_size) * base.batch_count;
        }
        std::vector<std::pair<GenerateRequest, wire::Message>> runs;
        Target region;
        auto run = [&](GenerateRequest r, const std::string& checkpoint, const std::string& what) {
            const wire::Message req = prepare(src.mode(), image, drawable, &r, checkpoint, s, &region);
            wire::Message res;
            const Status st = call_engine(req, what, &res);
            if (!st.ok) throw Error(st.code, st.message);
            runs.emplace_back(r, std::move(res));
        };
        for (size_t i = 0; i < jobs.size(); ++i) {
            const std::string what = "Prompts from file " + std::to_string(i + 1) + "/" + std::to_string(jobs.size());
            GenerateRequest r = jobs[i].first;
            if (!src.img2img) {
                run(r, jobs[i].second, what);
                continue;
            }
            // The engine's Image to Image makes one batch: a line's batch count runs one batch after
            // another, seeds and variation seeds going on by the batch size (A1111's all_seeds).
            if (r.seed < 0) r.seed = static_cast<int64_t>(g_random_int_range(0, G_MAXINT32));
            if (r.subseed < 0) r.subseed = static_cast<int64_t>(g_random_int_range(0, G_MAXINT32));
            for (int k = 0; k < r.batch_count; ++k) {
                GenerateRequest one = r;
                one.batch_count = 1;
                one.seed = r.seed + static_cast<int64_t>(k) * r.batch_size;
                one.subseed = r.subseed + static_cast<int64_t>(k) * r.batch_size;
                run(one, jobs[i].second, what);
            }
        }
        const gint32 group = apply_runs(image, "Prompts from file ×" + std::to_string(lines.size()), runs, src.img2img ? &region : nullptr);
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
