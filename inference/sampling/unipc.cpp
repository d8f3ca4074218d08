#include "unipc.h"

#include <vector>

#include "../status.h"
#include "timestep_samplers.h"

namespace sdgimp::sampling {

namespace {

using T = torch::Tensor;

// Piecewise-linear y(x) through the knots (xp ascending), extended linearly past both ends.
// half_y: yp is a float16 tensor in A1111 (downcast alphas_cumprod), so its knots' difference is
// rounded to float16 before the float32 arithmetic takes it.
T interpolate(const T& x, const T& xp, const T& yp, bool half_y = false) {
    const int64_t k = xp.size(0);
    const T idx = (xp.unsqueeze(0) < x.unsqueeze(1)).sum(1);  // knots strictly below each x
    const T lo = torch::where(idx == 0, torch::zeros_like(idx), torch::where(idx == k, torch::full_like(idx, k - 2), idx - 1));
    const T hi = lo + 1;
    const T sx = xp.index({lo}), ex = xp.index({hi}), sy = yp.index({lo}), ey = yp.index({hi});
    const T dy = half_y ? (ey - sy).to(torch::kHalf).to(torch::kFloat) : ey - sy;
    return sy + (x - sx) * dy / (ex - sx);
}

// NoiseScheduleVP('discrete') over alphas_cumprod: t_n = (n + 1) / N.
// A1111's copy keeps log_alpha in alphas_cumprod's dtype (float16 when downcast).
struct VPSchedule {
    T t_array, log_alpha;
    bool half = false;
    explicit VPSchedule(const T& alphas_cumprod) : half(alphas_cumprod.scalar_type() == torch::kHalf) {
        const int64_t n = alphas_cumprod.size(0);
        log_alpha = alphas_dtype_arith(alphas_cumprod, 0.5 * alphas_dtype_arith(alphas_cumprod, torch::log(alphas_cumprod.to(torch::kFloat))));
        t_array = torch::linspace(0.0, 1.0, n + 1, torch::kFloat).slice(0, 1);
    }
    T log_mean_coeff(const T& t) const { return interpolate(t.reshape({-1}), t_array, log_alpha, half); }
    T alpha(const T& t) const { return torch::exp(log_mean_coeff(t)); }
    T std(const T& t) const { return torch::sqrt(1.0 - torch::exp(2.0 * log_mean_coeff(t))); }
    T lambda(const T& t) const {
        const T lmc = log_mean_coeff(t);
        return lmc - 0.5 * torch::log(1.0 - torch::exp(2.0 * lmc));
    }
    T inverse_lambda(const T& lamb) const {
        const T la = -0.5 * torch::logaddexp(torch::zeros({1}), -2.0 * lamb);
        return interpolate(la.reshape({-1}), log_alpha.flip(0), t_array.flip(0));
    }
};

T bcast(const T& v) { return v.view({-1, 1, 1, 1}); }

struct UniPC {
    const Denoiser& eps;
    VPSchedule ns;
    const UniPCOptions& o;

    T data_prediction(const T& x, const T& t) const {
        const T noise = eps(x, (t - 1.0 / 1000) * 1000.0);
        return (x - bcast(ns.std(t)) * noise) / bcast(ns.alpha(t));
    }

    // multistep_uni_pc_bh_update: returns the new x and, when the corrector ran, the model value at it.
    std::pair<T, T> update(const T& x, const std::vector<T>& model_prev, const std::vector<T>& t_prev, const T& t, int order,
                           bool use_corrector) const {
        const T& t_prev_0 = t_prev.back();
        const T lambda_prev_0 = ns.lambda(t_prev_0), lambda_t = ns.lambda(t);
        const T& model_prev_0 = model_prev.back();
        const T sigma_prev_0 = ns.std(t_prev_0), sigma_t = ns.std(t);
        const T alpha_t = torch::exp(ns.log_mean_coeff(t));
        const T h = lambda_t - lambda_prev_0;
        std::vector<T> rks, d1s;
        for (int i = 1; i < order; ++i) {
            const T& t_prev_i = t_prev[t_prev.size() - 1 - static_cast<size_t>(i)];
            const T& model_prev_i = model_prev[model_prev.size() - 1 - static_cast<size_t>(i)];
            const T rk = ((ns.lambda(t_prev_i) - lambda_prev_0) / h)[0];
            rks.push_back(rk);
            d1s.push_back((model_prev_i - model_prev_0) / rk);
        }
        rks.push_back(torch::tensor(1.0f));
        const T rk_vec = torch::stack(rks);
        const T hh = -h[0];
        const T h_phi_1 = torch::expm1(hh);
        T h_phi_k = h_phi_1 / hh - 1;
        double factorial = 1;
        const T b_h = o.variant == "bh2" ? torch::expm1(hh) : hh;
        std::vector<T> r_rows, b_vals;
        for (int i = 1; i <= order; ++i) {
            r_rows.push_back(torch::pow(rk_vec, i - 1));
            b_vals.push_back(h_phi_k * factorial / b_h);
            factorial *= (i + 1);
            h_phi_k = h_phi_k / hh - 1 / factorial;
        }
        const T R = torch::stack(r_rows), b = torch::stack(b_vals);
        T d1 = d1s.empty() ? T() : torch::stack(d1s, 1);  // (B, K, C, H, W)
        T rhos_p, rhos_c;
        if (d1.defined())
            rhos_p = order == 2 ? torch::tensor({0.5f}) : torch::linalg_solve(R.slice(0, 0, -1).slice(1, 0, -1), b.slice(0, 0, -1));
        if (use_corrector) rhos_c = order == 1 ? torch::tensor({0.5f}) : torch::linalg_solve(R, b);
        auto mix = [&](const T& rhos) { return torch::einsum("k,bkchw->bchw", {rhos, d1}); };
        const T x_t_ = bcast(sigma_t / sigma_prev_0) * x - bcast(alpha_t * h_phi_1) * model_prev_0;
        T x_t = d1.defined() ? x_t_ - bcast(alpha_t * b_h) * mix(rhos_p) : x_t_ - bcast(alpha_t * b_h) * 0;
        T model_t;
        if (use_corrector) {
            model_t = data_prediction(x_t, t);
            const T d1_t = model_t - model_prev_0;
            const T last = rhos_c[rhos_c.size(0) - 1];
            const T corr = d1.defined() ? mix(rhos_c.slice(0, 0, -1)) + last * d1_t : last * d1_t;
            x_t = x_t_ - bcast(alpha_t * b_h) * corr;
        }
        return {x_t, model_t};
    }

    T time_steps(const T& t_T, double t_0, int n) const {
        if (o.skip_type == "logSNR") {
            const T l_T = ns.lambda(t_T.reshape({1})), l_0 = ns.lambda(torch::tensor({static_cast<float>(t_0)}));
            return ns.inverse_lambda(torch::linspace(l_T.item<float>(), l_0.item<float>(), n + 1, torch::kFloat));
        }
        if (o.skip_type == "time_quadratic")
            return torch::linspace(std::sqrt(t_T.item<double>()), std::sqrt(t_0), n + 1, torch::kFloat).pow(2);
        return torch::linspace(t_T.item<double>(), t_0, n + 1, torch::kFloat);
    }
};

}  // namespace

void check_unipc(const UniPCOptions& o, int steps) {
    if (o.variant != "bh1" && o.variant != "bh2")
        throw Error(ErrorCode::kInvalidRequest, "UniPC variant must be bh1 or bh2, not \"" + o.variant + "\".");
    if (o.skip_type != "time_uniform" && o.skip_type != "time_quadratic" && o.skip_type != "logSNR")
        throw Error(ErrorCode::kInvalidRequest, "UniPC skip type must be time_uniform, time_quadratic or logSNR.");
    if (o.order < 1 || o.order > 3) throw Error(ErrorCode::kInvalidRequest, "UniPC order must be 1, 2 or 3.");
    if (steps < o.order)
        throw Error(ErrorCode::kInvalidRequest, "UniPC of order " + std::to_string(o.order) + " needs at least " +
                                                    std::to_string(o.order) + " steps; raise the step count.");
}

T sample_unipc(const Denoiser& eps, T x, int steps, const T& alphas_cumprod, const UniPCOptions& o, const StepCallback& cb,
               std::optional<T> t_start) {
    check_unipc(o, steps);
    const UniPC u{eps, VPSchedule(alphas_cumprod), o};
    const int64_t bsz = x.size(0);
    const double t_0 = 1.0 / static_cast<double>(alphas_cumprod.size(0));
    const T t_T = t_start ? t_start->to(torch::kFloat) : torch::tensor(1.0f);
    const T ts = u.time_steps(t_T, t_0, steps);
    const int order = o.order;
    int reported = 0;
    auto after = [&](const T& xx, const T& model_x) {
        if (cb) cb(reported, steps, model_x.defined() ? model_x : xx);
        ++reported;
    };
    T vec_t = ts[0].expand({bsz});
    std::vector<T> model_prev{u.data_prediction(x, vec_t)}, t_prev{vec_t};
    for (int init = 1; init < order; ++init) {
        vec_t = ts[init].expand({bsz});
        auto [xn, model_x] = u.update(x, model_prev, t_prev, vec_t, init, true);
        x = xn;
        if (!model_x.defined()) model_x = u.data_prediction(x, vec_t);
        after(x, model_x);
        model_prev.push_back(model_x);
        t_prev.push_back(vec_t);
    }
    for (int step = order; step <= steps; ++step) {
        vec_t = ts[step].expand({bsz});
        const int step_order = o.lower_order_final ? std::min(order, steps + 1 - step) : order;
        auto [xn, model_x] = u.update(x, model_prev, t_prev, vec_t, step_order, step != steps);
        x = xn;
        after(x, model_x);
        for (int i = 0; i < order - 1; ++i) {
            t_prev[static_cast<size_t>(i)] = t_prev[static_cast<size_t>(i) + 1];
            model_prev[static_cast<size_t>(i)] = model_prev[static_cast<size_t>(i) + 1];
        }
        t_prev.back() = vec_t;
        if (step < steps) {
            if (!model_x.defined()) model_x = u.data_prediction(x, vec_t);
            model_prev.back() = model_x;
        }
    }
    return x;
}

}  // namespace sdgimp::sampling
