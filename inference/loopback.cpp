#include "loopback.h"

#include <cmath>

#include "status.h"
#include "text/infotext.h"

namespace sdgimp {

void validate_loopback(const LoopbackSettings& s) {
    if (s.curve != "Aggressive" && s.curve != "Linear" && s.curve != "Lazy")
        throw Error(ErrorCode::kInvalidRequest, "The denoising curve must be \"Aggressive\", \"Linear\" or \"Lazy\", not \"" + s.curve + "\".");
    if (s.loops < 1 || s.loops > 32) throw Error(ErrorCode::kInvalidRequest, "Loopback runs 1 to 32 loops (A1111's slider).");
    if (!(s.final_denoising_strength >= 0 && s.final_denoising_strength <= 1))
        throw Error(ErrorCode::kInvalidRequest, "The final denoising strength must be between 0 and 1.");
    if (s.batch_count < 1 || s.batch_count > 100) throw Error(ErrorCode::kInvalidRequest, "Batch count must be between 1 and 100.");
    if (s.append_interrogation == "CLIP")
        throw Error(ErrorCode::kInvalidRequest, "Loopback cannot append a CLIP interrogation (GIMP Diffusion has no CLIP interrogator); choose DeepBooru or None.");
    if (s.append_interrogation != "None" && s.append_interrogation != "DeepBooru")
        throw Error(ErrorCode::kInvalidRequest, "Append interrogated prompt must be \"None\" or \"DeepBooru\", not \"" + s.append_interrogation + "\".");
}

std::string loopback_prompt(const std::string& original, const std::string& interrogated) {
    return (original.empty() ? std::string() : original + ", ") + interrogated;
}

double loopback_strength(double initial, const LoopbackSettings& s, int loop) {
    if (s.loops == 1) return initial;
    const double progress = static_cast<double>(loop) / (s.loops - 1);
    const double span = s.final_denoising_strength - initial;
    // Python's float arithmetic in A1111's order; math.sin / math.cos are the C library's.
    if (s.curve == "Linear") return progress * span + initial;
    if (s.curve == "Aggressive") return std::sin(progress * M_PI * 0.5) * span + initial;
    if (s.curve == "Lazy") return (1 - std::cos(progress * M_PI * 0.5)) * span + initial;
    return initial;
}

std::vector<LoopbackStep> loopback_steps(int64_t seed, double initial_strength, const LoopbackSettings& s) {
    validate_loopback(s);
    std::vector<LoopbackStep> steps;
    // The seed never goes back: each image takes the last one's seed + 1, across batches too.
    for (int n = 0; n < s.batch_count; ++n)
        for (int i = 0; i < s.loops; ++i) {
            LoopbackStep st;
            st.batch = n;
            st.loop = i;
            st.seed = seed++;
            st.denoising_strength = i == 0 ? initial_strength : loopback_strength(initial_strength, s, i);
            st.first_of_batch = i == 0;
            st.kept = s.batch_count == 1 || i == s.loops - 1;
            steps.push_back(st);
        }
    return steps;
}

std::vector<std::pair<std::string, std::string>> loopback_info(const LoopbackSettings& s) {
    const double v = s.final_denoising_strength;
    const text::InfoValue final_strength =
        std::floor(v) == v ? text::InfoValue::integer(static_cast<int64_t>(v)) : text::InfoValue::real(v);
    return {{"Final denoising strength", final_strength.to_string()}, {"Denoising curve", s.curve}};
}

}  // namespace sdgimp
