#include "denoiser.h"

#include <optional>

#include <memory>

#include "../status.h"

namespace sdgimp::sampling {

torch::Tensor compvis_denoise(const ModelFn& model, const ModelSchedule& sched, Prediction pred,
                              const torch::Tensor& x, const torch::Tensor& sigma, const torch::Tensor& cond) {
    auto s = sigma.view({-1, 1, 1, 1});
    auto denom = (s.pow(2) + 1.0).pow(0.5);
    auto c_in = 1 / denom;
    auto t = sched.sigma_to_t(sigma);
    auto out = model(x * c_in, t, cond);
    if (pred == Prediction::kV) {
        auto c_skip = 1.0 / (s.pow(2) + 1.0);
        auto c_out = -s * 1.0 / denom;
        return out * c_out + x * c_skip;
    }
    return x + out * (-s);
}

Guidance simple_guidance(const torch::Tensor& cond, const torch::Tensor& uncond, double cfg_scale) {
    Guidance g;
    g.cond = cond;
    g.uncond = uncond;
    g.cfg_scale = cfg_scale;
    for (int64_t i = 0; i < cond.size(0); ++i) g.conds_list.push_back({{static_cast<int>(i), 1.0}});
    return g;
}

torch::Tensor lcm_denoise(const ModelFn& model, const LcmSchedule& lcm, const torch::Tensor& x, const torch::Tensor& sigma,
                          const torch::Tensor& cond) {
    auto s = sigma.view({-1, 1, 1, 1});
    auto c_in = 1 / (s.pow(2) + 1.0).pow(0.5);
    auto t = lcm.sigma_to_t(sigma);
    auto den = x + model(x * c_in, t, cond) * (-s);
    auto st = (t.to(torch::kFloat) * 10.0).view({-1, 1, 1, 1});
    auto c_skip = 0.25 / (st.pow(2) + 0.25);
    auto c_out = st / (st.pow(2) + 0.25).pow(0.5);
    return c_out * den + c_skip * x;
}

Denoiser make_cfg_denoiser(ModelFn model, const ModelSchedule& sched, Prediction pred, GuidanceAt guidance) {
    return make_cfg_denoiser(
        [model = std::move(model), &sched, pred](const torch::Tensor& x, const torch::Tensor& sigma, const torch::Tensor& cond) {
            return compvis_denoise(model, sched, pred, x, sigma, cond);
        },
        std::move(guidance));
}

Denoiser make_cfg_denoiser(InnerDenoiser inner, GuidanceAt guidance, std::shared_ptr<torch::Tensor> last_uncond) {
    auto calls = std::make_shared<int>(0);
    // What earlier passes left in the shared "padded" flag, read at this pass's first call.
    auto padded_before = std::make_shared<std::optional<bool>>();
    auto require_finite = [](const torch::Tensor& out) {
        if (!torch::isfinite(out).all().item<bool>())
            throw Error(ErrorCode::kInternal,
                        "A tensor with NaNs was produced in the UNet; the model or its precision cannot handle this request (try full precision or another model).");
    };
    return [inner = std::move(inner), guidance = std::move(guidance), calls, padded_before, last_uncond, require_finite](const torch::Tensor& x,
                                                                                                         const torch::Tensor& sigma) {
        const int call = (*calls)++;
        const Guidance g = guidance(call);
        const int64_t b = x.size(0);
        std::vector<torch::Tensor> xs, ss;
        for (int64_t i = 0; i < b; ++i)
            for (size_t k = 0; k < g.conds_list[i].size(); ++k) { xs.push_back(x[i]); ss.push_back(sigma[i]); }
        auto x_c = torch::stack(xs), s_c = torch::stack(ss);
        const bool skip_early = g.skip_early_cond > 0 && g.total_steps > 0 &&
                                static_cast<double>(call) / g.total_steps <= g.skip_early_cond;
        const bool skip_ngms = ((call % 2) == 1 || g.s_min_uncond_all) && g.s_min_uncond > 0 &&
                               sigma[0].item<float>() < static_cast<float>(g.s_min_uncond);
        // Padding comes after the skips are decided and applies even when the uncond pass is skipped
        // (then only a padded prompt matters), as in A1111.
        torch::Tensor cond = g.cond, uncond_rows = g.uncond;
        bool padded = false;
        if (cond.size(1) != uncond_rows.size(1) && g.pad == Guidance::Pad::kV0) {
            const int64_t diff = cond.size(1) - uncond_rows.size(1);
            uncond_rows = diff > 0 ? torch::cat({uncond_rows, uncond_rows.slice(1, -1).repeat({1, diff, 1})}, 1)
                                   : uncond_rows.slice(1, 0, cond.size(1));
            padded = true;
        } else if (cond.size(1) != uncond_rows.size(1) && g.pad == Guidance::Pad::kEmpty && g.empty.defined()) {
            const int64_t diff = cond.size(1) - uncond_rows.size(1), len = g.empty.size(0);
            const int64_t repeats = diff >= 0 ? diff / len : -((-diff + len - 1) / len);  // Python's floor division
            const auto empty = g.empty.unsqueeze(0).to(cond.dtype());
            if (repeats < 0) cond = torch::cat({cond, empty.repeat({cond.size(0), -repeats, 1})}, 1);
            if (repeats > 0) uncond_rows = torch::cat({uncond_rows, empty.repeat({uncond_rows.size(0), repeats, 1})}, 1);
            padded = repeats != 0;
        }
        // A1111 resets its flag at every call and reads it when the pass ends: a pass notes "Pad
        // conds" when its last call padded (an earlier pass's note stays).
        if (g.padded) {
            if (!padded_before->has_value()) *padded_before = *g.padded;
            *g.padded = **padded_before || padded;
        }
        torch::Tensor out;
        if (g.edit) {
            // A1111 allows neither AND prompts nor a skipped uncond pass here, and runs prompts of
            // different lengths apart in a way that leaves the image rows empty.
            for (const auto& c : g.conds_list)
                if (c.size() != 1)
                    throw Error(ErrorCode::kInvalidRequest, "AND is not supported for InstructPix2Pix models unless the Image CFG scale is 1.");
            if (skip_early)
                throw Error(ErrorCode::kInvalidRequest, "Skip Early CFG cannot run with an InstructPix2Pix model whose Image CFG scale is not 1; set one of them back.");
            if (cond.size(1) != uncond_rows.size(1))
                throw Error(ErrorCode::kInvalidRequest, "With an Image CFG scale other than 1 the prompt and negative prompt must have the same number "
                                                        "of 75-token chunks; turn Pad prompt/negative prompt on or add BREAK to the shorter one.");
            std::vector<int64_t> rows;
            for (int64_t i = 0; i < b; ++i) rows.push_back(g.conds_list[i][0].first);
            const auto c = cond.index_select(0, torch::tensor(rows));
            const auto o = inner(torch::cat({x, x, x}), torch::cat({sigma, sigma, sigma}), torch::cat({c, uncond_rows, uncond_rows}));
            require_finite(o);
            const auto out_cond = o.slice(0, 0, b), out_img = o.slice(0, b, 2 * b), out_uncond = o.slice(0, 2 * b);
            if (last_uncond) *last_uncond = out_uncond.clone();
            return out_uncond + g.cfg_scale * (out_cond - out_img) + g.image_cfg_scale * (out_img - out_uncond);
        }
        // A1111 tests NGMS only where Skip Early CFG does not apply, and never for edit models.
        if (skip_ngms && !skip_early && g.ngms_skipped) *g.ngms_skipped = true;
        if (skip_early || skip_ngms) {
            // No uncond pass: each image's first cond row stands in for it, and the scale is 1.
            out = inner(x_c, s_c, cond);
            std::vector<torch::Tensor> fake;
            for (int64_t i = 0; i < b; ++i) fake.push_back(out[g.conds_list[i][0].first]);
            out = torch::cat({out, torch::stack(fake)});
        } else if (cond.size(1) == uncond_rows.size(1)) {
            out = inner(torch::cat({x_c, x}), torch::cat({s_c, sigma}), torch::cat({cond, uncond_rows}));
        } else {
            // Prompts of different lengths cannot share a batch: A1111 runs cond and uncond apart.
            out = torch::cat({inner(x_c, s_c, cond), inner(x, sigma, uncond_rows)});
        }
        require_finite(out);
        auto uncond = out.slice(0, out.size(0) - b);
        if (last_uncond) *last_uncond = uncond.clone();
        auto denoised = uncond.clone();
        const double scale = skip_early || skip_ngms ? 1.0 : g.cfg_scale;
        for (int64_t i = 0; i < b; ++i)
            for (const auto& [row, w] : g.conds_list[i])
                denoised[i] += (out[row] - uncond[i]) * (w * scale);
        return denoised;
    };
}

Denoiser make_cfg_denoiser(ModelFn model, const ModelSchedule& sched, Prediction pred, Guidance g) {
    return make_cfg_denoiser(std::move(model), sched, pred, GuidanceAt([g = std::move(g)](int) { return g; }));
}

}  // namespace sdgimp::sampling
