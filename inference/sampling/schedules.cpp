#include "schedules.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "../status.h"

namespace sdgimp::sampling {
namespace {

torch::Tensor append_zero(const torch::Tensor& s) { return torch::cat({s, torch::zeros({1}, s.options())}); }

const std::map<std::string, ScheduleKind>& names() {
    static const std::map<std::string, ScheduleKind> m = {
        {"Automatic", ScheduleKind::kAutomatic}, {"Uniform", ScheduleKind::kUniform},
        {"Karras", ScheduleKind::kKarras}, {"Exponential", ScheduleKind::kExponential},
        {"Polyexponential", ScheduleKind::kPolyexponential}, {"SGM Uniform", ScheduleKind::kSGMUniform},
        {"KL Optimal", ScheduleKind::kKLOptimal}, {"Align Your Steps", ScheduleKind::kAlignYourSteps},
        {"Simple", ScheduleKind::kSimple}, {"Normal", ScheduleKind::kNormal}, {"DDIM", ScheduleKind::kDDIM},
        {"Beta", ScheduleKind::kBeta}};
    return m;
}

}  // namespace

ModelSchedule ModelSchedule::linear(double start, double end, int timesteps) {
    auto opts = torch::TensorOptions().dtype(torch::kDouble);
    auto betas = torch::linspace(std::sqrt(start), std::sqrt(end), timesteps, opts).pow(2);
    ModelSchedule s;
    s.alphas_cumprod = torch::cumprod(1.0 - betas, 0).to(torch::kFloat);
    s.sigmas = ((1 - s.alphas_cumprod) / s.alphas_cumprod).pow(0.5);
    s.log_sigmas = s.sigmas.log();
    return s;
}

ModelSchedule ModelSchedule::alpha_override(bool downcast, bool zero_terminal_snr) const {
    // float16 arithmetic as the GPU does it: each operation in float32, its result rounded to float16
    // (LibTorch's CPU kernels lack some float16 operations).
    const auto round = [downcast](const torch::Tensor& t) { return downcast ? t.to(torch::kHalf).to(torch::kFloat) : t; };
    torch::Tensor ac = round(alphas_cumprod);
    if (zero_terminal_snr) {
        auto root = round(ac.sqrt());
        const auto first = root[0].clone(), last = root[-1].clone();
        root = round(root - last);
        root = round(root * round(first / round(first - last)));
        ac = round(root.pow(2));
        ac[-1] = 4.8973451890853435e-08;
        ac = round(ac);
    }
    const auto sig = round(round(round(1 - ac) / ac).pow(0.5));
    ModelSchedule s;
    s.alphas_cumprod = ac;
    s.sigmas = sig;
    s.log_sigmas = round(sig.log());
    s.half_table = downcast;
    return s;
}

torch::Tensor ModelSchedule::sigma_to_t(const torch::Tensor& sigma) const {
    auto log_sigma = sigma.log();
    auto dists = log_sigma - log_sigmas.unsqueeze(1);
    if (quantize) return dists.abs().argmin(0).view(sigma.sizes()).to(torch::kFloat);
    auto low_idx = dists.ge(0).cumsum(0).argmax(0).clamp_max(log_sigmas.size(0) - 2);
    auto high_idx = low_idx + 1;
    auto low = log_sigmas.index({low_idx}), high = log_sigmas.index({high_idx});
    auto step = low - high;
    if (half_table) step = step.to(torch::kHalf).to(torch::kFloat);
    auto w = ((low - log_sigma) / step).clamp(0, 1);
    return ((1 - w) * low_idx + w * high_idx).view(sigma.sizes());
}

torch::Tensor ModelSchedule::t_to_sigma(const torch::Tensor& t_in) const {
    auto t = t_in.to(torch::kFloat);
    auto low_idx = t.floor().to(torch::kLong), high_idx = t.ceil().to(torch::kLong);
    auto w = t.frac();
    auto log_sigma = (1 - w) * log_sigmas.index({low_idx}) + w * log_sigmas.index({high_idx});
    return log_sigma.exp();
}

std::optional<ScheduleKind> parse_schedule(const std::string& name) {
    auto it = names().find(name);
    if (it != names().end()) return it->second;
    for (const auto& kv : names()) {
        std::string a = kv.first, b = name;
        for (auto& c : a) c = static_cast<char>(std::tolower(c));
        for (auto& c : b) c = static_cast<char>(std::tolower(c));
        if (a == b) return kv.second;
    }
    return std::nullopt;
}

const char* schedule_name(ScheduleKind k) {
    for (const auto& kv : names())
        if (kv.second == k) return kv.first.c_str();
    return "Automatic";
}

torch::Tensor karras_sigmas(int n, double sigma_min, double sigma_max, double rho) {
    auto ramp = torch::linspace(0, 1, n, torch::kFloat);
    const double min_inv_rho = std::pow(sigma_min, 1.0 / rho), max_inv_rho = std::pow(sigma_max, 1.0 / rho);
    return append_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)).pow(rho));
}

torch::Tensor exponential_sigmas(int n, double sigma_min, double sigma_max) {
    return append_zero(torch::linspace(std::log(sigma_max), std::log(sigma_min), n, torch::kFloat).exp());
}

torch::Tensor polyexponential_sigmas(int n, double sigma_min, double sigma_max, double rho) {
    auto ramp = torch::linspace(1, 0, n, torch::kFloat).pow(rho);
    return append_zero(torch::exp(ramp * (std::log(sigma_max) - std::log(sigma_min)) + std::log(sigma_min)));
}

namespace {

// Regularised incomplete beta I_x(a, b) by its continued fraction (Lentz), for the Beta schedule's
// inverse CDF (scipy.stats.beta.ppf).
double incomplete_beta(double x, double a, double b) {
    if (x <= 0) return 0;
    if (x >= 1) return 1;
    const double lbeta = std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b);
    const double front = std::exp(lbeta + a * std::log(x) + b * std::log1p(-x));
    auto cf = [](double xx, double aa, double bb) {
        const double tiny = 1e-300;
        double f = 1, c = 1, d = 1 - (aa + bb) * xx / (aa + 1);
        d = std::fabs(d) < tiny ? tiny : d;
        d = 1 / d;
        f = d;
        for (int m = 1; m < 500; ++m) {
            for (int half = 0; half < 2; ++half) {
                const double num = half == 0 ? m * (bb - m) * xx / ((aa + 2 * m - 1) * (aa + 2 * m))
                                             : -(aa + m) * (aa + bb + m) * xx / ((aa + 2 * m) * (aa + 2 * m + 1));
                d = 1 + num * d;
                d = std::fabs(d) < tiny ? tiny : d;
                c = 1 + num / c;
                c = std::fabs(c) < tiny ? tiny : c;
                d = 1 / d;
                f *= c * d;
            }
            if (std::fabs(c * d - 1) < 1e-16) break;
        }
        return f;
    };
    if (x < (a + 1) / (a + b + 2)) return front * cf(x, a, b) / a;
    return 1 - std::exp(lbeta + b * std::log1p(-x) + a * std::log(x)) * cf(1 - x, b, a) / b;
}

torch::Tensor to_f32(const std::vector<double>& v) { return torch::tensor(v, torch::kDouble).to(torch::kFloat); }

}  // namespace

double beta_ppf(double q, double a, double b) {
    if (q <= 0) return 0;
    if (q >= 1) return 1;
    double lo = 0, hi = 1;
    for (int i = 0; i < 200; ++i) {
        const double mid = 0.5 * (lo + hi);
        (incomplete_beta(mid, a, b) < q ? lo : hi) = mid;
    }
    return 0.5 * (lo + hi);
}

LcmSchedule LcmSchedule::from(const ModelSchedule& m) {
    LcmSchedule l;
    const int64_t T = m.alphas_cumprod.size(0), skip = T / 50;
    auto idx = torch::arange(0, 50, torch::kLong) * skip + (skip - 1);
    l.table.alphas_cumprod = m.alphas_cumprod.index({idx});
    l.table.sigmas = ((1 - l.table.alphas_cumprod) / l.table.alphas_cumprod).pow(0.5);
    l.table.log_sigmas = l.table.sigmas.log();
    return l;
}

torch::Tensor LcmSchedule::sigma_to_t(const torch::Tensor& sigma) const {
    auto dists = sigma.log() - table.log_sigmas.unsqueeze(1);
    return dists.abs().argmin(0).view(sigma.sizes()) * 20 + 19;
}

torch::Tensor LcmSchedule::sigmas(ScheduleKind kind, int steps, const ScheduleOverrides& o) const {
    if (kind == ScheduleKind::kAutomatic || kind == ScheduleKind::kUniform) {
        auto t = torch::linspace(999, 19, steps, torch::kFloat);
        auto idx = ((t - 19) / 20).clamp(0, table.sigmas.size(0) - 1);
        return torch::cat({table.t_to_sigma(idx), torch::zeros({1})});
    }
    if (kind == ScheduleKind::kSGMUniform || kind == ScheduleKind::kNormal) {
        // These walk the denoiser's own timesteps: LCM's are 19, 39, ..., 999, mapped back onto
        // its 50-entry table by (t - 19) / 20.
        const float smax = o.sigma_max > 0 ? static_cast<float>(o.sigma_max) : o.old_karras_range ? 10.0f : table.sigmas[-1].item<float>();
        const float smin = o.sigma_min > 0 ? static_cast<float>(o.sigma_min) : o.old_karras_range ? 0.1f : table.sigmas[0].item<float>();
        const float start = sigma_to_t(torch::tensor(smax)).item<int64_t>(), end = sigma_to_t(torch::tensor(smin)).item<int64_t>();
        const bool sgm = kind == ScheduleKind::kSGMUniform;
        auto ts = torch::linspace(start, end, sgm ? steps + 1 : steps, torch::kFloat);
        if (sgm) ts = ts.slice(0, 0, steps);
        std::vector<double> sigs;
        for (int64_t i = 0; i < ts.size(0); ++i) sigs.push_back(table.t_to_sigma((ts[i] - 19) / 20).item<float>());
        sigs.push_back(0.0);
        return to_f32(sigs);
    }
    return make_sigmas(kind, steps, table, o);
}

torch::Tensor make_sigmas(ScheduleKind kind, int steps, const ModelSchedule& model, const ScheduleOverrides& o) {
    if (steps < 1) throw Error(ErrorCode::kInvalidRequest, "Steps must be at least 1.");
    const int n = steps;
    // A1111 takes the bounds as Python floats from the float32 table, unless its settings name others.
    const double smin = o.sigma_min > 0 ? o.sigma_min : o.old_karras_range ? 0.1 : model.sigma_min();
    const double smax = o.sigma_max > 0 ? o.sigma_max : o.old_karras_range ? 10.0 : model.sigma_max();
    const bool spans_range = kind == ScheduleKind::kKarras || kind == ScheduleKind::kExponential ||
                             kind == ScheduleKind::kPolyexponential || kind == ScheduleKind::kSGMUniform ||
                             kind == ScheduleKind::kNormal || kind == ScheduleKind::kKLOptimal || kind == ScheduleKind::kBeta;
    if (spans_range && !(smin < smax))
        throw Error(ErrorCode::kInvalidRequest, "The schedule's min sigma (" + std::to_string(smin) + ") must be below its max sigma (" +
                                                    std::to_string(smax) + "); change Schedule min sigma or Schedule max sigma.");
    const int64_t T = model.sigmas.size(0);
    switch (kind) {
        case ScheduleKind::kAutomatic:
        case ScheduleKind::kUniform: {
            const double t_max = static_cast<double>(T - 1);
            return append_zero(model.t_to_sigma(torch::linspace(t_max, 0, steps, torch::kFloat)));
        }
        case ScheduleKind::kKarras: return karras_sigmas(steps, smin, smax, o.rho > 0 ? o.rho : 7.0);
        case ScheduleKind::kExponential: return exponential_sigmas(steps, smin, smax);
        case ScheduleKind::kPolyexponential: return polyexponential_sigmas(steps, smin, smax, o.rho > 0 ? o.rho : 1.0);
        case ScheduleKind::kSGMUniform:
        case ScheduleKind::kNormal: {
            const auto start = model.sigma_to_t(torch::tensor(static_cast<float>(smax)));
            const auto end = model.sigma_to_t(torch::tensor(static_cast<float>(smin)));
            const bool sgm = kind == ScheduleKind::kSGMUniform;
            auto ts = torch::linspace(start.item<float>(), end.item<float>(), sgm ? n + 1 : n, torch::kFloat);
            if (sgm) ts = ts.slice(0, 0, n);
            std::vector<double> sigs;
            for (int64_t i = 0; i < ts.size(0); ++i) sigs.push_back(model.t_to_sigma(ts[i]).item<float>());
            sigs.push_back(0.0);
            return to_f32(sigs);
        }
        case ScheduleKind::kKLOptimal: {
            const auto amin = torch::atan(torch::tensor(static_cast<float>(smin)));
            const auto amax = torch::atan(torch::tensor(static_cast<float>(smax)));
            const auto idx = torch::arange(n + 1, torch::kLong);
            const auto frac = idx / static_cast<double>(n);
            return torch::tan(frac * amin + (1.0 - frac) * amax).to(torch::kFloat);
        }
        case ScheduleKind::kAlignYourSteps: {
            // NVIDIA's published SD 1.5 schedule, log-linearly resampled to the step count.
            std::vector<double> ays = {14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029};
            if (n != static_cast<int>(ays.size())) {
                const size_t m = ays.size();
                std::vector<double> ys(m);
                for (size_t i = 0; i < m; ++i) ys[i] = std::log(ays[m - 1 - i]);
                std::vector<double> out(static_cast<size_t>(n));
                for (int k = 0; k < n; ++k) {
                    const double x = n == 1 ? 0.0 : static_cast<double>(k) / (n - 1);
                    const double pos = x * static_cast<double>(m - 1);
                    const size_t i0 = std::min(static_cast<size_t>(pos), m - 2);
                    const double t = pos - static_cast<double>(i0);
                    const double xi0 = static_cast<double>(i0) / static_cast<double>(m - 1);
                    const double xi1 = static_cast<double>(i0 + 1) / static_cast<double>(m - 1);
                    const double y = ys[i0] + (x - xi0) * (ys[i0 + 1] - ys[i0]) / (xi1 - xi0);
                    (void)t;
                    out[static_cast<size_t>(n - 1 - k)] = std::exp(y);
                }
                ays = out;
            }
            ays.push_back(0.0);
            return to_f32(ays);
        }
        case ScheduleKind::kSimple: {
            std::vector<double> sigs;
            const double ss = static_cast<double>(T) / n;
            for (int x = 0; x < n; ++x) sigs.push_back(model.sigmas[T - 1 - static_cast<int64_t>(x * ss)].item<float>());
            sigs.push_back(0.0);
            return to_f32(sigs);
        }
        case ScheduleKind::kDDIM: {
            std::vector<double> sigs;
            const int64_t ss = std::max<int64_t>(T / n, 1);
            for (int64_t x = 1; x < T; x += ss) sigs.push_back(model.sigmas[x].item<float>());
            std::reverse(sigs.begin(), sigs.end());
            sigs.push_back(0.0);
            return to_f32(sigs);
        }
        case ScheduleKind::kBeta: {
            const double a = o.beta_alpha, b = o.beta_beta;
            std::vector<double> sigs;
            for (int k = 0; k < n; ++k) {
                const double t = 1.0 - (n == 1 ? 0.0 : static_cast<double>(k) / (n - 1));
                sigs.push_back(smin + beta_ppf(t, a, b) * (smax - smin));
            }
            sigs.push_back(0.0);
            return to_f32(sigs);
        }
    }
    throw Error(ErrorCode::kInvalidRequest, "Unknown schedule type.");
}

}  // namespace sdgimp::sampling
