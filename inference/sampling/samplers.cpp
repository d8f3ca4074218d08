#include "samplers.h"

#include <cmath>
#include <limits>
#include <map>
#include <memory>

#include "brownian_tree.h"

#include "schedules.h"

#include "../status.h"

namespace sdgimp::sampling {
namespace {

// Python-like 0-dim float32 arithmetic: sigmas stay tensors so rounding matches k-diffusion.
using T = torch::Tensor;

T to_d(const T& x, const T& sigma, const T& denoised) { return (x - denoised) / sigma; }

std::pair<T, T> ancestral_step(const T& from, const T& to, double eta) {
    if (eta == 0) return {to, torch::zeros_like(to)};
    auto up = torch::minimum(to, eta * (to.pow(2) * (from.pow(2) - to.pow(2)) / from.pow(2)).pow(0.5));
    auto down = (to.pow(2) - up.pow(2)).pow(0.5);
    return {down, up};
}

bool is_zero(const T& s) { return s.item<float>() == 0.0f; }

// k-diffusion's linear multistep coefficient: the integral over [t_i, t_i+1] of the Lagrange basis
// polynomial j through t_i, t_i-1, ... (degree < 4, so 5-point Gauss-Legendre is exact).
double lms_coeff(int order, const std::vector<double>& t, int i, int j) {
    auto fn = [&](double tau) {
        double prod = 1.0;
        for (int k = 0; k < order; ++k) {
            if (j == k) continue;
            prod *= (tau - t[static_cast<size_t>(i - k)]) / (t[static_cast<size_t>(i - j)] - t[static_cast<size_t>(i - k)]);
        }
        return prod;
    };
    static const double xs[5] = {-0.9061798459386640, -0.5384693101056831, 0.0, 0.5384693101056831, 0.9061798459386640};
    static const double ws[5] = {0.2369268850561891, 0.4786286704993665, 0.5688888888888889, 0.4786286704993665, 0.2369268850561891};
    const double a = t[static_cast<size_t>(i)], b = t[static_cast<size_t>(i + 1)];
    double sum = 0;
    for (int k = 0; k < 5; ++k) sum += ws[k] * fn(0.5 * (b - a) * xs[k] + 0.5 * (a + b));
    return 0.5 * (b - a) * sum;
}

struct Loop {
    const Denoiser& model;
    const T& sigmas;
    const StepCallback& cb;
    int64_t batch;
    T call(const T& x, const T& sigma) { return model(x, sigma.expand({batch}).contiguous()); }
    void step_done(int i, const T& denoised) { if (cb) cb(i, static_cast<int>(sigmas.size(0) - 1), denoised); }
};

}  // namespace

const std::vector<SamplerInfo>& sampler_table() {
    static const std::vector<SamplerInfo> t = {
        {SamplerKind::kDPMPP2M, "DPM++ 2M", "Karras", false, false},
        {SamplerKind::kDPMPPSDE, "DPM++ SDE", "Karras", true, false, false, true},
        {SamplerKind::kDPMPP2MSDE, "DPM++ 2M SDE", "Exponential", false, false, false, true, 2},
        {SamplerKind::kDPMPP2MSDEHeun, "DPM++ 2M SDE Heun", "Exponential", false, false, false, true, 2},
        {SamplerKind::kDPMPP2SA, "DPM++ 2S a", "Karras", true, false},
        {SamplerKind::kDPMPP3MSDE, "DPM++ 3M SDE", "Exponential", false, true, false, true, 2},
        {SamplerKind::kEulerA, "Euler a", "Uniform", false, false},
        {SamplerKind::kEuler, "Euler", "Uniform", false, false},
        {SamplerKind::kLMS, "LMS", "Uniform", false, false},
        {SamplerKind::kHeun, "Heun", "Uniform", true, false},
        {SamplerKind::kDPM2, "DPM2", "Karras", true, true},
        {SamplerKind::kDPM2A, "DPM2 a", "Karras", true, true},
        {SamplerKind::kDPMFast, "DPM fast", "Uniform", false, false},
        {SamplerKind::kDPMAdaptive, "DPM adaptive", "Uniform", false, false},
        {SamplerKind::kRestart, "Restart", "Karras", true, false},
        {SamplerKind::kDDIM, "DDIM", "Uniform", false, false, true},
        {SamplerKind::kDDIMCFGPP, "DDIM CFG++", "Uniform", false, false, true},
        {SamplerKind::kPLMS, "PLMS", "Uniform", false, false, true},
        {SamplerKind::kUniPC, "UniPC", "Uniform", false, false, true},
        {SamplerKind::kLCM, "LCM", "Uniform", false, false},
    };
    return t;
}

const SamplerInfo& find_sampler_kind(SamplerKind kind) {
    for (const auto& s : sampler_table())
        if (s.kind == kind) return s;
    return sampler_table().front();
}

std::optional<SamplerInfo> find_sampler(const std::string& name) {
    for (const auto& s : sampler_table())
        if (name == s.name) return s;
    return std::nullopt;
}

namespace {

// A1111's Restart sampler (Restart Sampling, 2023): Heun steps on a Karras schedule shortened by the
// restart steps, with the segment down to sigma ~0.1 repeated after re-noising back up to sigma ~2.
T restart(const Denoiser& model, T x, T sigmas, const NoiseFn& noise, const StepCallback& cb, double s_noise) {
    const int64_t b = x.size(0);
    const int steps = static_cast<int>(sigmas.size(0)) - 1;
    struct Restart { int steps, times; double max_sigma; };
    std::map<int, Restart> plan;
    if (steps >= 20) {
        int restart_steps = 9, restart_times = 1;
        if (steps >= 36) {
            restart_steps = steps / 4;
            restart_times = 2;
        }
        sigmas = karras_sigmas(steps - restart_steps * restart_times, sigmas[-2].item<float>(), sigmas[0].item<float>());
        const int at = static_cast<int>((sigmas - 0.1).abs().argmin(0).item<int64_t>());
        plan[at] = {restart_steps + 1, restart_times, 2.0};
    }
    std::vector<std::pair<T, T>> step_list;
    for (int64_t i = 0; i + 1 < sigmas.size(0); ++i) {
        step_list.emplace_back(sigmas[i], sigmas[i + 1]);
        auto it = plan.find(static_cast<int>(i + 1));
        if (it == plan.end()) continue;
        const int min_idx = static_cast<int>(i + 1);
        const int max_idx = static_cast<int>((sigmas - it->second.max_sigma).abs().argmin(0).item<int64_t>());
        if (max_idx < min_idx) {
            auto sr = karras_sigmas(it->second.steps, sigmas[min_idx].item<float>(), sigmas[max_idx].item<float>());
            sr = sr.slice(0, 0, sr.size(0) - 1);
            for (int t = 0; t < it->second.times; ++t)
                for (int64_t k = 0; k + 1 < sr.size(0); ++k) step_list.emplace_back(sr[k], sr[k + 1]);
        }
    }
    T last_sigma;
    int step_id = 0;
    auto call = [&](const T& xx, const T& s) { return model(xx, s.expand({b}).contiguous()); };
    for (const auto& [old_sigma, new_sigma] : step_list) {
        if (!last_sigma.defined()) {
            last_sigma = old_sigma;
        } else if (last_sigma.item<float>() < old_sigma.item<float>()) {
            x = x + noise() * s_noise * (old_sigma.pow(2) - last_sigma.pow(2)).pow(0.5);
        }
        const T denoised = call(x, old_sigma);
        const T d = to_d(x, old_sigma, denoised);
        if (cb) cb(step_id, static_cast<int>(step_list.size()), denoised);
        const T dt = new_sigma - old_sigma;
        if (is_zero(new_sigma)) {
            x = x + d * dt;
        } else {
            const T x2 = x + d * dt;
            const T d2 = to_d(x2, new_sigma, call(x2, new_sigma));
            x = x + ((d + d2) / 2) * dt;
        }
        ++step_id;
        last_sigma = new_sigma;
    }
    return x;
}

// k-diffusion's DPM-Solver steps in t = -log sigma; eps is the noise estimate at t, eps_r1 is shared
// between a step pair (DPM adaptive compares a 2nd- and a 3rd-order step from the same evaluations).
struct DpmSolver {
    const Denoiser& model;
    int64_t batch;
    static T sigma(const T& t) { return t.neg().exp(); }
    static T t_of(const T& s) { return s.log().neg(); }
    T eps(const T& x, const T& t) const { return (x - model(x, sigma(t).expand({batch}).contiguous())) / sigma(t); }
    T step1(const T& x, const T& t, const T& t_next, const T& e) const { return x - sigma(t_next) * (t_next - t).expm1() * e; }
    T u1(const T& x, const T& t, const T& h, double r1, const T& e) const { return x - sigma(t + r1 * h) * (r1 * h).expm1() * e; }
    T step2(const T& x, const T& t, const T& t_next, double r1, const T& e, const T& e_r1) const {
        const T h = t_next - t;
        return x - sigma(t_next) * h.expm1() * e - sigma(t_next) / (2 * r1) * h.expm1() * (e_r1 - e);
    }
    T step3(const T& x, const T& t, const T& t_next, const T& e, const T& e_r1, T* e_r2_out = nullptr) const {
        const double r1 = 1.0 / 3, r2 = 2.0 / 3;
        const T h = t_next - t;
        const T s2 = t + r2 * h;
        const T u2 = x - sigma(s2) * (r2 * h).expm1() * e - sigma(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (e_r1 - e);
        const T e_r2 = eps(u2, s2);
        if (e_r2_out) *e_r2_out = e_r2;
        return x - sigma(t_next) * h.expm1() * e - sigma(t_next) / r2 * (h.expm1() / h - 1) * (e_r2 - e);
    }
};

// k-diffusion's DPM-Solver "fast": orders 3,3,...,(2,1) over nfe model calls, from sigma_max to
// sigma_min, with eta noise.
T dpm_fast(const Denoiser& model, T x, const T& sigma_min, const T& sigma_max, int nfe, double eta, double s_noise,
           const NoiseFn& noise, const StepCallback& cb) {
    const DpmSolver dpm{model, x.size(0)};
    const T t_start = DpmSolver::t_of(sigma_max), t_end = DpmSolver::t_of(sigma_min);
    const int m = nfe / 3 + 1;
    const T ts = torch::linspace(t_start.item<float>(), t_end.item<float>(), m + 1, torch::kFloat);
    std::vector<int> orders;
    if (nfe % 3 == 0) {
        for (int i = 0; i < m - 2; ++i) orders.push_back(3);
        orders.push_back(2);
        orders.push_back(1);
    } else {
        for (int i = 0; i < m - 1; ++i) orders.push_back(3);
        orders.push_back(nfe % 3);
    }
    for (size_t i = 0; i < orders.size(); ++i) {
        const T t = ts[static_cast<int64_t>(i)], t_next = ts[static_cast<int64_t>(i) + 1];
        T t_next_ = t_next, su = torch::zeros({});
        if (eta != 0) {
            auto [sd, up] = ancestral_step(DpmSolver::sigma(t), DpmSolver::sigma(t_next), eta);
            (void)up;
            t_next_ = torch::minimum(t_end, DpmSolver::t_of(sd));
            su = (DpmSolver::sigma(t_next).pow(2) - DpmSolver::sigma(t_next_).pow(2)).pow(0.5);
        }
        const T e = dpm.eps(x, t);
        if (cb) cb(static_cast<int>(i), static_cast<int>(orders.size()), x - DpmSolver::sigma(t) * e);
        const T h = t_next_ - t;
        if (orders[i] == 1) {
            x = dpm.step1(x, t, t_next_, e);
        } else if (orders[i] == 2) {
            const T e_r1 = dpm.eps(dpm.u1(x, t, h, 0.5, e), t + 0.5 * h);
            x = dpm.step2(x, t, t_next_, 0.5, e, e_r1);
        } else {
            const double r1 = 1.0 / 3;
            const T e_r1 = dpm.eps(dpm.u1(x, t, h, r1, e), t + r1 * h);
            x = dpm.step3(x, t, t_next_, e, e_r1);
        }
        x = x + su * s_noise * noise();
    }
    return x;
}

// k-diffusion's DPM-Solver-23 with adaptive step size (a PID controller on the difference between the
// 2nd- and 3rd-order solutions); with eta the accepted steps get ancestral noise. `steps_hint` only
// sizes the progress report: the step count is the controller's.
T dpm_adaptive(const Denoiser& model, T x, const T& sigma_min, const T& sigma_max, double eta, double s_noise,
               const NoiseFn& noise, const StepCallback& cb, int steps_hint) {
    const DpmSolver dpm{model, x.size(0)};
    const T t_start = DpmSolver::t_of(sigma_max), t_end = DpmSolver::t_of(sigma_min);
    const T atol = torch::tensor(0.0078f), rtol = torch::tensor(0.05f);
    const double order = eta != 0 ? 1.5 : 3.0, accept_safety = 0.81;
    const double b1 = 1.0 / order, b2 = -0.0 / order, b3 = 0.0 / order;  // pcoeff 0, icoeff 1, dcoeff 0
    double h = 0.05;
    std::vector<double> errs;
    T s = t_start, x_prev = x;
    const double sqrt_n = std::sqrt(static_cast<double>(x.numel()));
    int attempt = 0, accepted = 0;
    constexpr int kMaxAttempts = 100000;  // the controller always converges; this only guards a NaN model
    while ((s < t_end - 1e-5).item<bool>()) {
        if (++attempt > kMaxAttempts) throw Error(ErrorCode::kInternal, "DPM adaptive did not converge; try another sampler.");
        const T t = torch::minimum(t_end, s + h);
        T t_ = t, su = torch::zeros({});
        if (eta != 0) {
            auto [sd, up] = ancestral_step(DpmSolver::sigma(s), DpmSolver::sigma(t), eta);
            (void)up;
            t_ = torch::minimum(t_end, DpmSolver::t_of(sd));
            su = (DpmSolver::sigma(t).pow(2) - DpmSolver::sigma(t_).pow(2)).pow(0.5);
        }
        const T e = dpm.eps(x, s);
        const T denoised = x - DpmSolver::sigma(s) * e;
        const double r1 = 1.0 / 3;
        const T hh = t_ - s;
        const T e_r1 = dpm.eps(dpm.u1(x, s, hh, r1, e), s + r1 * hh);
        const T x_low = dpm.step2(x, s, t_, r1, e, e_r1);
        const T x_high = dpm.step3(x, s, t_, e, e_r1);
        const T delta = torch::maximum(atol, rtol * torch::maximum(x_low.abs(), x_prev.abs()));
        const float norm = torch::linalg_vector_norm((x_low - x_high) / delta, 2, c10::nullopt, false, c10::nullopt).item<float>();
        const float error = norm / static_cast<float>(sqrt_n);
        const double inv_error = 1 / (static_cast<double>(error) + 1e-8);
        if (errs.empty()) errs = {inv_error, inv_error, inv_error};
        errs[0] = inv_error;
        double factor = std::pow(errs[0], b1) * std::pow(errs[1], b2) * std::pow(errs[2], b3);
        factor = 1 + std::atan(factor - 1);
        const bool accept = factor >= accept_safety;
        if (accept) {
            errs[2] = errs[1];
            errs[1] = errs[0];
        }
        h *= factor;
        if (accept) {
            x_prev = x_low;
            x = x_high + su * s_noise * noise();
            s = t;
            if (cb) cb(accepted, std::max(steps_hint, accepted + 1), denoised);
            ++accepted;
        }
    }
    return x;
}

}  // namespace

T sample(SamplerKind kind, const Denoiser& model, T x, const T& sigmas, const NoiseFn& noise,
         const StepCallback& cb, const SamplerOptions& opt) {
    const SamplerInfo& info = find_sampler_kind(kind);
    if (sigmas.size(0) - 1 < info.min_steps)
        throw Error(ErrorCode::kInvalidRequest, std::string(info.name) + " needs at least " + std::to_string(info.min_steps) +
                                                    " steps; raise the step count or pick another sampler.");
    if (kind == SamplerKind::kRestart) return restart(model, std::move(x), sigmas, noise, cb, opt.s_noise);
    const T range_min = opt.sigma_min > 0 ? torch::tensor(static_cast<float>(opt.sigma_min)) : sigmas[sigmas.size(0) - 2];
    const T range_max = opt.sigma_max > 0 ? torch::tensor(static_cast<float>(opt.sigma_max)) : sigmas[0];
    if ((kind == SamplerKind::kDPMFast || kind == SamplerKind::kDPMAdaptive) && !(range_min.item<float>() < range_max.item<float>()))
        throw Error(ErrorCode::kInvalidRequest, std::string(info.name) + " needs a sigma range to integrate over; raise the step count or the denoising strength.");
    if (kind == SamplerKind::kDPMFast)
        return dpm_fast(model, std::move(x), range_min, range_max, static_cast<int>(sigmas.size(0)) - 1, opt.eta, opt.s_noise, noise, cb);
    if (kind == SamplerKind::kDPMAdaptive)
        return dpm_adaptive(model, std::move(x), range_min, range_max, opt.eta, opt.s_noise, noise, cb,
                            static_cast<int>(sigmas.size(0)) - 1);
    std::unique_ptr<BrownianNoise> brownian;
    if (info.brownian) {
        if (opt.seeds.size() != static_cast<size_t>(x.size(0)))
            throw Error(ErrorCode::kInternal, "The SDE samplers need one seed per image.");
        const T positive = sigmas.masked_select(sigmas > 0);
        brownian = std::make_unique<BrownianNoise>(opt.source, opt.seeds, positive.min(), sigmas.max(),
                                                   std::vector<int64_t>(x.sizes().begin() + 1, x.sizes().end()));
    }
    Loop L{model, sigmas, cb, x.size(0)};
    const int n = static_cast<int>(sigmas.size(0)) - 1;
    auto t_fn = [](const T& s) { return s.log().neg(); };
    auto sigma_fn = [](const T& t) { return t.neg().exp(); };
    T old_denoised, h_last;                // DPM++ 2M (SDE) history
    T denoised_1, denoised_2, h_1, h_2;    // DPM++ 3M SDE history
    std::vector<T> ds;  // LMS history, newest last
    std::vector<double> sig_d;
    if (kind == SamplerKind::kLMS) {
        auto sc = sigmas.to(torch::kFloat).contiguous();
        for (int64_t k = 0; k < sc.size(0); ++k) sig_d.push_back(static_cast<double>(sc[k].item<float>()));
    }
    for (int i = 0; i < n; ++i) {
        const T s = sigmas[i], s_next = sigmas[i + 1];
        // Karras "churn" (Euler, Heun, DPM2): noise up to s_hat first. A1111 draws the noise on every
        // step, churn or not, so the image generators advance as they do there.
        T s_hat = s;
        if (kind == SamplerKind::kEuler || kind == SamplerKind::kHeun || kind == SamplerKind::kDPM2) {
            const T eps = noise() * opt.s_noise;
            const float sv = s.item<float>();
            double gamma = 0;
            if (static_cast<float>(opt.s_tmin) <= sv && sv <= static_cast<float>(opt.s_tmax))
                gamma = std::min(opt.s_churn / n, std::sqrt(2.0) - 1);
            s_hat = s * (gamma + 1);
            if (gamma > 0) x = x + eps * (s_hat.pow(2) - s.pow(2)).pow(0.5);
        }
        T denoised = L.call(x, s_hat);
        switch (kind) {
            case SamplerKind::kEulerA: {
                auto [down, up] = ancestral_step(s, s_next, opt.eta);
                x = x + to_d(x, s, denoised) * (down - s);
                if (s_next.item<float>() > 0) x = x + noise() * opt.s_noise * up;
                break;
            }
            case SamplerKind::kEuler:
                x = x + to_d(x, s_hat, denoised) * (s_next - s_hat);
                break;
            case SamplerKind::kLCM:
                x = denoised;
                if (s_next.item<float>() > 0) x = x + s_next * noise();
                break;
            case SamplerKind::kLMS: {
                constexpr int kOrder = 4;
                ds.push_back(to_d(x, s, denoised));
                if (static_cast<int>(ds.size()) > kOrder) ds.erase(ds.begin());
                const int cur = std::min(i + 1, kOrder);
                T step;
                for (int j = 0; j < cur; ++j) {
                    const T term = ds[ds.size() - 1 - static_cast<size_t>(j)] * lms_coeff(cur, sig_d, i, j);
                    step = j == 0 ? term : step + term;
                }
                x = x + step;
                break;
            }
            case SamplerKind::kHeun: {
                auto d = to_d(x, s_hat, denoised);
                auto dt = s_next - s_hat;
                if (is_zero(s_next)) { x = x + d * dt; break; }
                auto x2 = x + d * dt;
                auto d2 = to_d(x2, s_next, L.call(x2, s_next));
                x = x + ((d + d2) / 2) * dt;
                break;
            }
            case SamplerKind::kDPM2: {
                auto d = to_d(x, s_hat, denoised);
                if (is_zero(s_next)) { x = x + d * (s_next - s_hat); break; }
                auto mid = s_hat.log().lerp(s_next.log(), 0.5).exp();
                auto x2 = x + d * (mid - s_hat);
                auto d2 = to_d(x2, mid, L.call(x2, mid));
                x = x + d2 * (s_next - s_hat);
                break;
            }
            case SamplerKind::kDPM2A: {
                auto [down, up] = ancestral_step(s, s_next, opt.eta);
                auto d = to_d(x, s, denoised);
                if (is_zero(down)) { x = x + d * (down - s); break; }
                auto mid = s.log().lerp(down.log(), 0.5).exp();
                auto x2 = x + d * (mid - s);
                auto d2 = to_d(x2, mid, L.call(x2, mid));
                x = x + d2 * (down - s);
                x = x + noise() * opt.s_noise * up;
                break;
            }
            case SamplerKind::kDPMPP2SA: {
                auto [down, up] = ancestral_step(s, s_next, opt.eta);
                if (is_zero(down)) {
                    x = x + to_d(x, s, denoised) * (down - s);
                } else {
                    auto t = t_fn(s), t_next = t_fn(down);
                    auto h = t_next - t;
                    auto sm = t + 0.5 * h;
                    auto x2 = (sigma_fn(sm) / sigma_fn(t)) * x - (-h * 0.5).expm1() * denoised;
                    auto d2 = L.call(x2, sigma_fn(sm));
                    x = (sigma_fn(t_next) / sigma_fn(t)) * x - (-h).expm1() * d2;
                }
                if (s_next.item<float>() > 0) x = x + noise() * opt.s_noise * up;
                break;
            }
            case SamplerKind::kDPMPPSDE: {
                if (is_zero(s_next)) {
                    x = x + to_d(x, s, denoised) * (s_next - s);
                    break;
                }
                const double r = 0.5, fac = 1 / (2 * r);
                const T t = t_fn(s), t_next = t_fn(s_next);
                const T h = t_next - t;
                const T sm = t + h * r;
                auto [sd, su] = ancestral_step(sigma_fn(t), sigma_fn(sm), opt.eta);
                const T s_ = t_fn(sd);
                T x2 = (sigma_fn(s_) / sigma_fn(t)) * x - (t - s_).expm1() * denoised;
                x2 = x2 + (*brownian)(sigma_fn(t), sigma_fn(sm)) * opt.s_noise * su;
                const T denoised2 = L.call(x2, sigma_fn(sm));
                auto [sd2, su2] = ancestral_step(sigma_fn(t), sigma_fn(t_next), opt.eta);
                const T t_next_ = t_fn(sd2);
                const T dd = (1 - fac) * denoised + fac * denoised2;
                x = (sigma_fn(t_next_) / sigma_fn(t)) * x - (t - t_next_).expm1() * dd;
                x = x + (*brownian)(sigma_fn(t), sigma_fn(t_next)) * opt.s_noise * su2;
                break;
            }
            case SamplerKind::kDPMPP2MSDE:
            case SamplerKind::kDPMPP2MSDEHeun: {
                if (is_zero(s_next)) {
                    x = denoised;
                } else {
                    const T t = s.log().neg(), t_next = s_next.log().neg();
                    const T h = t_next - t;
                    const T eta_h = opt.eta * h;
                    x = s_next / s * (-eta_h).exp() * x + (-h - eta_h).expm1().neg() * denoised;
                    if (old_denoised.defined()) {
                        const T r = h_last / h;
                        if (kind == SamplerKind::kDPMPP2MSDEHeun)
                            x = x + ((-h - eta_h).expm1().neg() / (-h - eta_h) + 1) * (1 / r) * (denoised - old_denoised);
                        else
                            x = x + 0.5 * (-h - eta_h).expm1().neg() * (1 / r) * (denoised - old_denoised);
                    }
                    if (opt.eta != 0)
                        x = x + (*brownian)(s, s_next) * s_next * (-2 * eta_h).expm1().neg().sqrt() * opt.s_noise;
                    h_last = h;
                }
                old_denoised = denoised;
                break;
            }
            case SamplerKind::kDPMPP3MSDE: {
                if (is_zero(s_next)) {
                    x = denoised;
                } else {
                    const T t = s.log().neg(), t_next = s_next.log().neg();
                    const T h = t_next - t;
                    const T h_eta = h * (opt.eta + 1);
                    x = torch::exp(-h_eta) * x + (-h_eta).expm1().neg() * denoised;
                    if (h_2.defined()) {
                        const T r0 = h_1 / h, r1 = h_2 / h;
                        const T d1_0 = (denoised - denoised_1) / r0;
                        const T d1_1 = (denoised_1 - denoised_2) / r1;
                        const T d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1);
                        const T d2 = (d1_0 - d1_1) / (r0 + r1);
                        const T phi_2 = h_eta.neg().expm1() / h_eta + 1;
                        const T phi_3 = phi_2 / h_eta - 0.5;
                        x = x + phi_2 * d1 - phi_3 * d2;
                    } else if (h_1.defined()) {
                        const T r = h_1 / h;
                        const T d = (denoised - denoised_1) / r;
                        const T phi_2 = h_eta.neg().expm1() / h_eta + 1;
                        x = x + phi_2 * d;
                    }
                    if (opt.eta != 0)
                        x = x + (*brownian)(s, s_next) * s_next * (-2 * h * opt.eta).expm1().neg().sqrt() * opt.s_noise;
                    h_2 = h_1;
                    h_1 = h;
                }
                denoised_2 = denoised_1;
                denoised_1 = denoised;
                break;
            }
            case SamplerKind::kRestart:
            case SamplerKind::kDPMFast:
            case SamplerKind::kDPMAdaptive:
            case SamplerKind::kUniPC:
            case SamplerKind::kDDIM:
            case SamplerKind::kDDIMCFGPP:
            case SamplerKind::kPLMS:
                throw Error(ErrorCode::kInternal, "Timestep samplers run over timesteps, not through sample().");
            case SamplerKind::kDPMPP2M: {
                auto t = t_fn(s), t_next = t_fn(s_next);
                auto h = t_next - t;
                if (!old_denoised.defined() || is_zero(s_next)) {
                    x = (sigma_fn(t_next) / sigma_fn(t)) * x - (-h).expm1() * denoised;
                } else {
                    auto h_last = t - t_fn(sigmas[i - 1]);
                    auto r = h_last / h;
                    auto dd = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised;
                    x = (sigma_fn(t_next) / sigma_fn(t)) * x - (-h).expm1() * dd;
                }
                old_denoised = denoised;
                break;
            }
        }
        L.step_done(i, denoised);
    }
    return x;
}

}  // namespace sdgimp::sampling
