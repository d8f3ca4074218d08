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

// A1111's names for the upscaler files of its model folders: a model by its file name
// ("4x-UltraSharp" is ESRGAN/4x-UltraSharp.pth) and the Real-ESRGAN menu names ("R-ESRGAN 4x+" is
// RealESRGAN_x4plus.pth, "R-ESRGAN 4x+ Anime6B" RealESRGAN_x4plus_anime_6B.pth, "R-ESRGAN 2x+"
// RealESRGAN_x2plus.pth), looked for in `dirs` and their subfolders (.pth, .safetensors).
// Returns the file, or "" when no folder has one.
std::string find_upscaler_file(const std::string& name, const std::vector<std::string>& dirs);

// A1111's LDSR model: model.safetensors, model.ckpt (or the model.pth it renames) in one of `dirs`
// that is an LDSR folder, or in an LDSR folder inside one; "" when none is there.
std::string find_ldsr_file(const std::vector<std::string>& dirs);

// The A1111 names of the upscaler files in `dirs` (file names; Real-ESRGAN's files by its menu
// names), sorted, for the dialogs' menus.
std::vector<std::string> upscaler_file_names(const std::vector<std::string>& dirs);

// Where those files are looked for: `requested`, ../ESRGAN and ../RealESRGAN beside the checkpoint
// (A1111's models/ folders; none without one), $GIMP_DIFFUSION_ESRGAN_DIR (':'-separated) and
// ~/.local/share/gimp-diffusion/models/ESRGAN and RealESRGAN.
std::vector<std::string> upscaler_file_dirs(const std::vector<std::string>& requested, const std::string& checkpoint);

}  // namespace sdgimp
