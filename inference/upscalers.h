// Where the learned upscalers live and what they are called: the UpscalerJS packages the set-up
// installs with npm ($GIMP_DIFFUSION_UPSCALERS, else ~/.local/share/gimp-diffusion/upscalers).
#pragma once

#include <string>
#include <vector>

namespace sdgimp {

std::string upscalers_dir();

struct UpscalerChoice {
    std::string name;        // "ESRGAN thick 4x"
    std::string model_json;  // path
    int scale = 4;
};

// "ESRGAN thick" / "ESRGAN medium" / "ESRGAN slim" at x2, x3, x4, x8, when installed.
std::vector<UpscalerChoice> installed_upscalers();

// The model.json for an upscaler family ("esrgan-thick", ...) at a scale; throws sdgimp::Error
// naming the package to install when it is missing.
std::string upscaler_model_path(const std::string& family, int scale);

}  // namespace sdgimp
