// A1111's "Loopback" img2img script (1.10): each loop redraws the previous loop's result, the seed
// going up by one per image and the denoising strength moving from the run's own towards a final
// one along a curve. Which images it keeps, their seeds and strengths, and the keys it adds to
// every image's parameters text; the plug-in runs the img2img calls.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sdgimp {

struct LoopbackSettings {
    int loops = 4;                          // A1111's default
    double final_denoising_strength = 0.5;  // A1111's default
    std::string curve = "Linear";           // "Aggressive", "Linear" or "Lazy"
    int batch_count = 1;                    // each batch starts again from the original image
    // "Append interrogated prompt at each iteration": "None" or "DeepBooru" (the loop's input image
    // tagged and the tags put after the prompt). A1111's "CLIP" is refused: no CLIP interrogator here.
    std::string append_interrogation = "None";
};

struct LoopbackStep {
    int batch = 0, loop = 0;
    int64_t seed = 0;
    double denoising_strength = 0;
    bool first_of_batch = false;  // starts from the original image, not the previous loop's result
    bool kept = false;            // shown: every loop's image for one batch, else each batch's last
};

// Throws sdgimp::Error with one sentence for a curve, loop count or strength out of range.
void validate_loopback(const LoopbackSettings& s);

// The prompt of a loop whose input image was interrogated: A1111's f"{original_prompt}, " (when
// there is one) followed by the interrogation's text.
std::string loopback_prompt(const std::string& original, const std::string& interrogated);

// A1111's calculate_denoising_strength for `loop` (0-based) of `loops`.
double loopback_strength(double initial, const LoopbackSettings& s, int loop);

// Every img2img call in A1111's order. `seed` is the run's resolved seed (not -1).
std::vector<LoopbackStep> loopback_steps(int64_t seed, double initial_strength, const LoopbackSettings& s);

// The keys A1111's script adds to every image's text (its extra_generation_params), in order:
// "Final denoising strength" (a whole number as an int, as its slider hands it over) and "Denoising curve".
std::vector<std::pair<std::string, std::string>> loopback_info(const LoopbackSettings& s);

}  // namespace sdgimp
