#include "timestep_samplers.h"

#include <cmath>

namespace sdgimp::sampling {

torch::Tensor ddim_timesteps(int steps, int64_t T) {
    std::vector<int64_t> ts;
    for (int64_t t = 0; t < T; t += std::max<int64_t>(1, T / steps)) ts.push_back(std::min<int64_t>(t + 1, T - 1));
    return torch::tensor(ts, torch::kLong);
}

InnerDenoiser timestep_eps(ModelFn model, const torch::Tensor& alphas_cumprod, Prediction pred) {
    return [model = std::move(model), ac = alphas_cumprod, pred](const torch::Tensor& x, const torch::Tensor& t,
                                                                 const torch::Tensor& cond) {
        auto out = model(x, t, cond);
        if (pred != Prediction::kV) return out;
        auto a = ac.index({t.to(torch::kLong)}).view({-1, 1, 1, 1});
        return torch::sqrt(a) * out + torch::sqrt(1 - a) * x;
    };
}

torch::Tensor sample_ddim(const Denoiser& eps, torch::Tensor x, const torch::Tensor& timesteps,
                          const torch::Tensor& alphas_cumprod, double eta, const NoiseFn& noise, const StepCallback& cb) {
    const int64_t n = timesteps.size(0);
    const auto alphas = alphas_cumprod.index({timesteps});
    auto prev_idx = torch::cat({torch::zeros({1}, torch::kLong), timesteps.slice(0, 0, n - 1)});
    const auto alphas_prev = alphas_cumprod.index({prev_idx}).to(torch::kDouble);
    const auto sqrt_one_minus = torch::sqrt(1 - alphas);
    const auto a64 = alphas.to(torch::kDouble);
    const auto sigmas = eta * torch::sqrt((1 - alphas_prev) / (1 - a64) * (1 - a64 / alphas_prev));
    const int64_t b = x.size(0);
    for (int64_t i = 0; i < n - 1; ++i) {
        const int64_t index = n - 1 - i;
        const auto t = torch::full({b}, static_cast<float>(timesteps[index].item<int64_t>()));
        const auto e_t = eps(x, t);
        const float a_t = alphas[index].item<float>();
        const float a_prev = static_cast<float>(alphas_prev[index].item<double>());
        const float sigma_t = static_cast<float>(sigmas[index].item<double>());
        const float s1m = sqrt_one_minus[index].item<float>();
        auto ones = torch::ones({b, 1, 1, 1});
        auto A_t = a_t * ones, A_prev = a_prev * ones, S_t = sigma_t * ones, S1m = s1m * ones;
        auto pred_x0 = (x - S1m * e_t) / A_t.sqrt();
        auto dir_xt = (1.0 - A_prev - S_t.pow(2)).sqrt() * e_t;
        auto nz = S_t * noise();
        x = A_prev.sqrt() * pred_x0 + dir_xt + nz;
        if (cb) cb(static_cast<int>(i), static_cast<int>(n - 1), pred_x0);
    }
    return x;
}

}  // namespace sdgimp::sampling
