#include "schedules.h"

#include <cmath>
#include <map>

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

torch::Tensor ModelSchedule::sigma_to_t(const torch::Tensor& sigma) const {
    auto log_sigma = sigma.log();
    auto dists = log_sigma - log_sigmas.unsqueeze(1);
    auto low_idx = dists.ge(0).cumsum(0).argmax(0).clamp_max(log_sigmas.size(0) - 2);
    auto high_idx = low_idx + 1;
    auto low = log_sigmas.index({low_idx}), high = log_sigmas.index({high_idx});
    auto w = ((low - log_sigma) / (low - high)).clamp(0, 1);
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

torch::Tensor make_sigmas(ScheduleKind kind, int steps, const ModelSchedule& model) {
    if (steps < 1) throw Error(ErrorCode::kInvalidRequest, "Steps must be at least 1.");
    switch (kind) {
        case ScheduleKind::kAutomatic:
        case ScheduleKind::kUniform: {
            const double t_max = static_cast<double>(model.sigmas.size(0) - 1);
            return append_zero(model.t_to_sigma(torch::linspace(t_max, 0, steps, torch::kFloat)));
        }
        case ScheduleKind::kKarras: return karras_sigmas(steps, model.sigma_min(), model.sigma_max());
        case ScheduleKind::kExponential: return exponential_sigmas(steps, model.sigma_min(), model.sigma_max());
        default:
            throw Error(ErrorCode::kInvalidRequest, std::string("The '") + schedule_name(kind) +
                                                        "' schedule is not available yet; choose Automatic, Uniform, Karras or Exponential.");
    }
}

}  // namespace sdgimp::sampling
