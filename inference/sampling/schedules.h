// Noise schedules: the model's own sigma table (ldm "linear" betas) and the sigma lists A1111
// hands its samplers for each schedule type.
#pragma once

#include <optional>
#include <string>
#include <torch/torch.h>

namespace sdgimp::sampling {

// alphas_cumprod computed in float64 and rounded to float32 once; sigmas in float32, as ldm and
// k-diffusion do. Index = timestep.
struct ModelSchedule {
    torch::Tensor alphas_cumprod, sigmas, log_sigmas;  // float32 [T]
    // The table was computed in float16 (A1111's "Downcast alphas_cumprod", what its half-precision
    // models did before 1.7): sigma_to_t's step between two entries is then a float16 difference.
    bool half_table = false;
    // k-diffusion's DiscreteSchedule quantize (A1111's "Enable quantization in K samplers"):
    // sigma_to_t answers the nearest table index instead of interpolating between two.
    bool quantize = false;
    static ModelSchedule linear(double linear_start, double linear_end, int timesteps);
    // A1111's apply_alpha_schedule_override: alphas_cumprod cast to float16 when `downcast`, then
    // with `zero_terminal_snr` sqrt(alphas_cumprod) shifted to end at zero and scaled back to its
    // first value, the last entry set to 4.8973451890853435e-08 so the final sigma stays finite; all
    // in the table's precision, and the sigmas computed from it in that precision, as k-diffusion
    // computes them from the model's buffer.
    ModelSchedule alpha_override(bool downcast, bool zero_terminal_snr) const;
    ModelSchedule zero_terminal_snr() const { return alpha_override(false, true); }
    double sigma_min() const { return sigmas[0].item<double>(); }
    double sigma_max() const { return sigmas[-1].item<double>(); }
    // k-diffusion's continuous conversions (log-linear interpolation of the table; whole indices,
    // as float, when quantize is set).
    torch::Tensor sigma_to_t(const torch::Tensor& sigma) const;
    torch::Tensor t_to_sigma(const torch::Tensor& t) const;
};

struct LcmSchedule;

enum class ScheduleKind { kAutomatic, kUniform, kKarras, kExponential, kPolyexponential, kSGMUniform,
                          kKLOptimal, kAlignYourSteps, kSimple, kNormal, kDDIM, kBeta };

// A1111 names: "Automatic", "Uniform", "Karras", ...
std::optional<ScheduleKind> parse_schedule(const std::string& name);
const char* schedule_name(ScheduleKind k);

// A1111's schedule settings (Settings > Sampler parameters): the noise range the schedule types
// span (0 = the model's own), Karras's and Polyexponential's rho (0 = theirs: 7 and 1) and the Beta
// schedule's distribution. The types that ignore them (Uniform, Simple, DDIM, Align Your Steps)
// ignore them here too.
struct ScheduleOverrides {
    double sigma_min = 0, sigma_max = 0, rho = 0;
    double beta_alpha = 0.6, beta_beta = 0.6;
    bool old_karras_range = false;  // A1111's compatibility setting: 0.1 to 10 where no range is given
};

// The full sigma list (steps + 1 entries ending in 0) for a k-diffusion sampler.
torch::Tensor make_sigmas(ScheduleKind kind, int steps, const ModelSchedule& model, const ScheduleOverrides& o = {});

// A1111's LCM denoiser: 50 of the 1000 timesteps (t = 19, 39, ..., 999) as its own sigma table,
// integer timesteps, and its own "Uniform" discretisation.
struct LcmSchedule {
    ModelSchedule table;
    static LcmSchedule from(const ModelSchedule& m);
    torch::Tensor sigma_to_t(const torch::Tensor& sigma) const;  // int64: argmin|log s - log table| * 20 + 19
    torch::Tensor sigmas(ScheduleKind kind, int steps, const ScheduleOverrides& o = {}) const;
};

torch::Tensor karras_sigmas(int n, double sigma_min, double sigma_max, double rho = 7.0);
torch::Tensor exponential_sigmas(int n, double sigma_min, double sigma_max);
torch::Tensor polyexponential_sigmas(int n, double sigma_min, double sigma_max, double rho = 1.0);
// scipy.stats.beta.ppf for the Beta schedule.
double beta_ppf(double q, double a, double b);

}  // namespace sdgimp::sampling
