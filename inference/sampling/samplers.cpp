#include "samplers.h"

#include <map>

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
        {SamplerKind::kEulerA, "Euler a", "Uniform", false, false},
        {SamplerKind::kEuler, "Euler", "Uniform", false, false},
        {SamplerKind::kLMS, "LMS", "Uniform", false, false},
        {SamplerKind::kHeun, "Heun", "Uniform", true, false},
        {SamplerKind::kDPM2, "DPM2", "Karras", true, true},
        {SamplerKind::kDPM2A, "DPM2 a", "Karras", true, true},
        {SamplerKind::kDPMPP2SA, "DPM++ 2S a", "Karras", true, false},
        {SamplerKind::kDPMPP2M, "DPM++ 2M", "Karras", false, false},
        {SamplerKind::kLCM, "LCM", "Uniform", false, false},
        {SamplerKind::kRestart, "Restart", "Karras", true, false},
        {SamplerKind::kDPMFast, "DPM fast", "Uniform", false, false},
        {SamplerKind::kDDIM, "DDIM", "Uniform", false, false, true},
        {SamplerKind::kDDIMCFGPP, "DDIM CFG++", "Uniform", false, false, true},
        {SamplerKind::kPLMS, "PLMS", "Uniform", false, false, true},
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

// k-diffusion's DPM-Solver "fast": orders 3,3,...,(2,1) over nfe model calls in t = -log sigma,
// between sigma_max and sigma_min (A1111 passes sigmas[0] and sigmas[-2]), with eta noise.
T dpm_fast(const Denoiser& model, T x, const T& sigma_min, const T& sigma_max, int nfe, double eta, double s_noise,
           const NoiseFn& noise, const StepCallback& cb) {
    const int64_t b = x.size(0);
    auto sigma = [](const T& t) { return t.neg().exp(); };
    auto t_of = [](const T& s) { return s.log().neg(); };
    auto eps_at = [&](const T& xx, const T& t) {
        return (xx - model(xx, sigma(t).expand({b}).contiguous())) / sigma(t);
    };
    const T t_start = t_of(sigma_max), t_end = t_of(sigma_min);
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
            auto [sd, up] = ancestral_step(sigma(t), sigma(t_next), eta);
            (void)up;
            t_next_ = torch::minimum(t_end, t_of(sd));
            su = (sigma(t_next).pow(2) - sigma(t_next_).pow(2)).pow(0.5);
        }
        const T eps = eps_at(x, t);
        if (cb) cb(static_cast<int>(i), static_cast<int>(orders.size()), x - sigma(t) * eps);
        const T h = t_next_ - t;
        if (orders[i] == 1) {
            x = x - sigma(t_next_) * h.expm1() * eps;
        } else if (orders[i] == 2) {
            const double r1 = 0.5;
            const T s1 = t + r1 * h;
            const T u1 = x - sigma(s1) * (r1 * h).expm1() * eps;
            const T eps_r1 = eps_at(u1, s1);
            x = x - sigma(t_next_) * h.expm1() * eps - sigma(t_next_) / (2 * r1) * h.expm1() * (eps_r1 - eps);
        } else {
            const double r1 = 1.0 / 3, r2 = 2.0 / 3;
            const T s1 = t + r1 * h, s2 = t + r2 * h;
            const T u1 = x - sigma(s1) * (r1 * h).expm1() * eps;
            const T eps_r1 = eps_at(u1, s1);
            const T u2 = x - sigma(s2) * (r2 * h).expm1() * eps - sigma(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (eps_r1 - eps);
            const T eps_r2 = eps_at(u2, s2);
            x = x - sigma(t_next_) * h.expm1() * eps - sigma(t_next_) / r2 * (h.expm1() / h - 1) * (eps_r2 - eps);
        }
        x = x + su * s_noise * noise();
    }
    return x;
}

}  // namespace

T sample(SamplerKind kind, const Denoiser& model, T x, const T& sigmas, const NoiseFn& noise,
         const StepCallback& cb, const SamplerOptions& opt) {
    if (kind == SamplerKind::kRestart) return restart(model, std::move(x), sigmas, noise, cb, opt.s_noise);
    if (kind == SamplerKind::kDPMFast && sigmas.size(0) < 3)
        throw Error(ErrorCode::kInvalidRequest, "DPM fast needs at least 2 steps; raise the step count.");
    if (kind == SamplerKind::kDPMFast)
        return dpm_fast(model, std::move(x), sigmas[sigmas.size(0) - 2], sigmas[0], static_cast<int>(sigmas.size(0)) - 1,
                        opt.eta, opt.s_noise, noise, cb);
    Loop L{model, sigmas, cb, x.size(0)};
    const int n = static_cast<int>(sigmas.size(0)) - 1;
    auto t_fn = [](const T& s) { return s.log().neg(); };
    auto sigma_fn = [](const T& t) { return t.neg().exp(); };
    T old_denoised;
    std::vector<T> ds;  // LMS history, newest last
    std::vector<double> sig_d;
    if (kind == SamplerKind::kLMS) {
        auto sc = sigmas.to(torch::kFloat).contiguous();
        for (int64_t k = 0; k < sc.size(0); ++k) sig_d.push_back(static_cast<double>(sc[k].item<float>()));
    }
    for (int i = 0; i < n; ++i) {
        const T s = sigmas[i], s_next = sigmas[i + 1];
        T denoised = L.call(x, s);
        switch (kind) {
            case SamplerKind::kEulerA: {
                auto [down, up] = ancestral_step(s, s_next, opt.eta);
                x = x + to_d(x, s, denoised) * (down - s);
                if (s_next.item<float>() > 0) x = x + noise() * opt.s_noise * up;
                break;
            }
            case SamplerKind::kEuler:
                x = x + to_d(x, s, denoised) * (s_next - s);
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
                auto d = to_d(x, s, denoised);
                auto dt = s_next - s;
                if (is_zero(s_next)) { x = x + d * dt; break; }
                auto x2 = x + d * dt;
                auto d2 = to_d(x2, s_next, L.call(x2, s_next));
                x = x + ((d + d2) / 2) * dt;
                break;
            }
            case SamplerKind::kDPM2: {
                auto d = to_d(x, s, denoised);
                if (is_zero(s_next)) { x = x + d * (s_next - s); break; }
                auto mid = s.log().lerp(s_next.log(), 0.5).exp();
                auto x2 = x + d * (mid - s);
                auto d2 = to_d(x2, mid, L.call(x2, mid));
                x = x + d2 * (s_next - s);
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
            case SamplerKind::kRestart:
            case SamplerKind::kDPMFast:
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
