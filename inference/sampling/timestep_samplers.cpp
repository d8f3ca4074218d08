#include "timestep_samplers.h"

#include <cmath>

namespace sdgimp::sampling {

torch::Tensor ddim_timesteps(int steps, int64_t T) {
    std::vector<int64_t> ts;
    for (int64_t t = 0; t < T; t += std::max<int64_t>(1, T / steps)) ts.push_back(std::min<int64_t>(t + 1, T - 1));
    return torch::tensor(ts, torch::kLong);
}

torch::Tensor alphas_dtype_arith(const torch::Tensor& alphas_cumprod, const torch::Tensor& result) {
    return alphas_cumprod.scalar_type() == torch::kHalf ? result.to(torch::kHalf).to(torch::kFloat) : result;
}

InnerDenoiser timestep_eps(ModelFn model, const torch::Tensor& alphas_cumprod, Prediction pred) {
    // A1111's CompVisTimestepsVDenoiser: sqrt(alphas_cumprod) and sqrt(1 - alphas_cumprod) in its dtype.
    const auto ac = alphas_cumprod.to(torch::kFloat);
    const auto sqrt_a = alphas_dtype_arith(alphas_cumprod, torch::sqrt(ac));
    const auto sqrt_1ma = alphas_dtype_arith(alphas_cumprod, torch::sqrt(alphas_dtype_arith(alphas_cumprod, 1 - ac)));
    return [model = std::move(model), sqrt_a, sqrt_1ma, pred](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& cond) {
        auto out = model(x, t, cond);
        if (pred != Prediction::kV) return out;
        const auto idx = t.to(torch::kLong);
        return sqrt_a.index({idx}).view({-1, 1, 1, 1}) * out + sqrt_1ma.index({idx}).view({-1, 1, 1, 1}) * x;
    };
}

namespace {

torch::Tensor ddim_loop(const Denoiser& eps, const std::shared_ptr<torch::Tensor>& last_uncond, torch::Tensor x,
                        const torch::Tensor& timesteps, const torch::Tensor& alphas_cumprod, double eta,
                        const NoiseFn& noise, const StepCallback& cb) {
    const int64_t n = timesteps.size(0);
    const auto in_dtype = [&](const torch::Tensor& t) { return alphas_dtype_arith(alphas_cumprod, t); };
    const auto alphas = alphas_cumprod.index({timesteps}).to(torch::kFloat);
    auto prev_idx = torch::cat({torch::zeros({1}, torch::kLong), timesteps.slice(0, 0, n - 1)});
    const auto alphas_prev = alphas_cumprod.index({prev_idx}).to(torch::kDouble);
    const auto sqrt_one_minus = in_dtype(torch::sqrt(in_dtype(1 - alphas)));
    const auto a64 = alphas.to(torch::kDouble);
    // A1111: eta * np.sqrt((1 - alphas_prev) / (1 - alphas) * (1 - alphas / alphas_prev)) with
    // alphas_prev a float64 array and alphas a tensor: the division is the tensor's
    // reciprocal (in its dtype) times the array, the rest float64.
    const auto recip = in_dtype(1.0 / in_dtype(1 - alphas)).to(torch::kDouble);
    const auto sigmas = eta * torch::sqrt(recip * (1 - alphas_prev) * (1 - a64 / alphas_prev));
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
        auto dir_xt = (1.0 - A_prev - S_t.pow(2)).sqrt() * (last_uncond ? *last_uncond : e_t);
        auto nz = S_t * noise();
        x = A_prev.sqrt() * pred_x0 + dir_xt + nz;
        if (cb) cb(static_cast<int>(i), static_cast<int>(n - 1), pred_x0);
    }
    return x;
}

}  // namespace

torch::Tensor sample_ddim(const Denoiser& eps, torch::Tensor x, const torch::Tensor& timesteps,
                          const torch::Tensor& alphas_cumprod, double eta, const NoiseFn& noise, const StepCallback& cb) {
    return ddim_loop(eps, nullptr, std::move(x), timesteps, alphas_cumprod, eta, noise, cb);
}

torch::Tensor sample_ddim_cfgpp(const Denoiser& eps, const std::shared_ptr<torch::Tensor>& last_uncond, torch::Tensor x,
                                const torch::Tensor& timesteps, const torch::Tensor& alphas_cumprod, double eta,
                                const NoiseFn& noise, const StepCallback& cb) {
    return ddim_loop(eps, last_uncond, std::move(x), timesteps, alphas_cumprod, eta, noise, cb);
}

torch::Tensor sample_plms(const Denoiser& eps, torch::Tensor x, const torch::Tensor& timesteps,
                          const torch::Tensor& alphas_cumprod, const StepCallback& cb) {
    const int64_t n = timesteps.size(0);
    const auto alphas = alphas_cumprod.index({timesteps}).to(torch::kFloat);
    auto prev_idx = torch::cat({torch::zeros({1}, torch::kLong), timesteps.slice(0, 0, n - 1)});
    const auto alphas_prev = alphas_cumprod.index({prev_idx}).to(torch::kDouble);
    const auto sqrt_one_minus = alphas_dtype_arith(alphas_cumprod, torch::sqrt(alphas_dtype_arith(alphas_cumprod, 1 - alphas)));
    const int64_t b = x.size(0);
    const auto ones = torch::ones({b, 1, 1, 1});
    std::vector<torch::Tensor> old_eps;
    auto x_prev_of = [&](const torch::Tensor& xx, const torch::Tensor& e_t, int64_t index) {
        const auto a_t = alphas[index].item<float>() * ones;
        const auto a_prev = static_cast<float>(alphas_prev[index].item<double>()) * ones;
        const auto s1m = sqrt_one_minus[index].item<float>() * ones;
        auto pred_x0 = (xx - s1m * e_t) / a_t.sqrt();
        auto dir_xt = (1.0 - a_prev).sqrt() * e_t;
        return std::make_pair(a_prev.sqrt() * pred_x0 + dir_xt, pred_x0);
    };
    for (int64_t i = 0; i < n - 1; ++i) {
        const int64_t index = n - 1 - i;
        const auto ts = torch::full({b}, static_cast<float>(timesteps[index].item<int64_t>()));
        const auto t_next = torch::full({b}, static_cast<float>(timesteps[std::max<int64_t>(index - 1, 0)].item<int64_t>()));
        const auto e_t = eps(x, ts);
        torch::Tensor e_prime;
        if (old_eps.empty()) {
            auto [x_prev, pred] = x_prev_of(x, e_t, index);
            (void)pred;
            const auto e_next = eps(x_prev, t_next);
            e_prime = (e_t + e_next) / 2;
        } else if (old_eps.size() == 1) {
            e_prime = (3 * e_t - old_eps.back()) / 2;
        } else if (old_eps.size() == 2) {
            e_prime = (23 * e_t - 16 * old_eps[old_eps.size() - 1] + 5 * old_eps[old_eps.size() - 2]) / 12;
        } else {
            e_prime = (55 * e_t - 59 * old_eps[old_eps.size() - 1] + 37 * old_eps[old_eps.size() - 2] -
                       9 * old_eps[old_eps.size() - 3]) / 24;
        }
        auto [x_prev, pred_x0] = x_prev_of(x, e_prime, index);
        old_eps.push_back(e_t);
        if (old_eps.size() >= 4) old_eps.erase(old_eps.begin());
        x = x_prev;
        if (cb) cb(static_cast<int>(i), static_cast<int>(n - 1), pred_x0);
    }
    return x;
}

}  // namespace sdgimp::sampling
