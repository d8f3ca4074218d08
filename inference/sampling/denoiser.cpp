#include "denoiser.h"

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

Denoiser make_cfg_denoiser(ModelFn model, const ModelSchedule& sched, Prediction pred, Guidance g) {
    return [model = std::move(model), &sched, pred, g = std::move(g)](const torch::Tensor& x, const torch::Tensor& sigma) {
        const int64_t b = x.size(0);
        std::vector<torch::Tensor> xs, ss;
        for (int64_t i = 0; i < b; ++i)
            for (size_t k = 0; k < g.conds_list[i].size(); ++k) { xs.push_back(x[i]); ss.push_back(sigma[i]); }
        auto x_in = torch::cat({torch::stack(xs), x});
        auto sigma_in = torch::cat({torch::stack(ss), sigma});
        auto cond_in = torch::cat({g.cond, g.uncond});
        auto out = compvis_denoise(model, sched, pred, x_in, sigma_in, cond_in);
        if (!torch::isfinite(out).all().item<bool>())
            throw Error(ErrorCode::kInternal,
                        "A tensor with NaNs was produced in the UNet; the model or its precision cannot handle this request (try full precision or another model).");
        auto uncond = out.slice(0, out.size(0) - b);
        auto denoised = uncond.clone();
        for (int64_t i = 0; i < b; ++i)
            for (const auto& [row, w] : g.conds_list[i])
                denoised[i] += (out[row] - uncond[i]) * (w * g.cfg_scale);
        return denoised;
    };
}

}  // namespace sdgimp::sampling
