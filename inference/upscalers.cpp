#include "upscalers.h"

#include <algorithm>
#include <cstdlib>
#include <unistd.h>

#include "io/folder_files.h"
#include "status.h"

namespace sdgimp {

std::string upscalers_dir() {
    if (const char* e = std::getenv("GIMP_DIFFUSION_UPSCALERS"); e && *e) return e;
    std::string data;
    if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) data = x;
    else data = std::string(std::getenv("HOME") ? std::getenv("HOME") : ".") + "/.local/share";
    return data + "/gimp-diffusion/upscalers";
}

std::string upscaler_model_path(const std::string& family, int scale) {
    if (family != "esrgan-thick" && family != "esrgan-medium" && family != "esrgan-slim")
        throw Error(ErrorCode::kInvalidRequest, "Unknown learned upscaler \"" + family + "\"; use esrgan-thick, esrgan-medium or esrgan-slim.");
    if (scale != 2 && scale != 3 && scale != 4 && scale != 8)
        throw Error(ErrorCode::kInvalidRequest, "The learned upscalers come in x2, x3, x4 and x8; pick one of those scales.");
    const std::string p = upscalers_dir() + "/node_modules/@upscalerjs/" + family + "/models/x" + std::to_string(scale) + "/model.json";
    if (::access(p.c_str(), R_OK) != 0)
        throw Error(ErrorCode::kModelNotFound, "The upscaler @upscalerjs/" + family + " is not installed; run install/setup.sh (it installs it with npm).");
    return p;
}

std::vector<UpscalerChoice> installed_upscalers() {
    std::vector<UpscalerChoice> out;
    for (const char* fam : {"esrgan-thick", "esrgan-medium", "esrgan-slim"})
        for (int s : {2, 3, 4, 8}) {
            try {
                const std::string p = upscaler_model_path(fam, s);
                std::string nice = std::string("ESRGAN ") + (fam + 7) + " " + std::to_string(s) + "x";
                out.push_back({nice, p, s});
            } catch (const Error&) {
            }
        }
    return out;
}

namespace {

const std::vector<std::string> kUpscalerEndings = {".pth", ".safetensors"};
// A1111's menu names of the Real-ESRGAN files it knows, by file name (the compact models first).
const std::vector<std::pair<std::string, std::string>> kMenuNames = {
    {"R-ESRGAN General 4xV3", "realesr-general-x4v3"}, {"R-ESRGAN General WDN 4xV3", "realesr-general-wdn-x4v3"},
    {"R-ESRGAN AnimeVideo", "realesr-animevideov3"}, {"R-ESRGAN 4x+", "RealESRGAN_x4plus"},
    {"R-ESRGAN 4x+ Anime6B", "RealESRGAN_x4plus_anime_6B"}, {"R-ESRGAN 2x+", "RealESRGAN_x2plus"},
    // A1111 saves its SwinIR download under this name in models/SwinIR.
    {"SwinIR 4x", "SwinIR_4x"},
    // ScuNET's releases (A1111's two denoisers).
    {"ScuNET GAN", "scunet_color_real_gan"}, {"ScuNET PSNR", "scunet_color_real_psnr"},
    // A1111's DAT downloads (models/DAT).
    {"DAT x2", "DAT_x2"}, {"DAT x3", "DAT_x3"}, {"DAT x4", "DAT_x4"}};

// A1111 keeps LDSR as model.safetensors or model.ckpt (project.yaml beside it) in models/LDSR.
bool is_ldsr_file(const std::string& path) {
    for (const char* f : {"/LDSR/model.safetensors", "/LDSR/model.ckpt", "/LDSR/model.pth"}) {
        const std::string e = f;
        if (path.size() >= e.size() && path.compare(path.size() - e.size(), e.size(), e) == 0) return true;
    }
    return false;
}

}  // namespace

std::string find_ldsr_file(const std::vector<std::string>& dirs) {
    for (const auto& dir : dirs) {
        const bool is_ldsr_dir = dir.size() >= 4 && dir.compare(dir.size() - 4, 4, "LDSR") == 0 &&
                                 (dir.size() == 4 || dir[dir.size() - 5] == '/');
        // A1111 prefers the .safetensors; model.pth is the name it renames to model.ckpt.
        for (const char* name : {"model.safetensors", "model.ckpt", "model.pth"}) {
            const std::string path = is_ldsr_dir ? dir + "/" + name : dir + "/LDSR/" + name;
            if (::access(path.c_str(), R_OK) == 0) return path;
        }
    }
    return "";
}

std::vector<std::string> upscaler_file_names(const std::vector<std::string>& dirs) {
    std::vector<std::string> out;
    if (!find_ldsr_file(dirs).empty()) out.push_back("LDSR");
    for (const auto& dir : dirs)
        for (const auto& path : io::files_under(dir, kUpscalerEndings)) {
            if (is_ldsr_file(path)) continue;
            std::string name = io::name_without(path, kUpscalerEndings);
            for (const auto& [menu, file] : kMenuNames)
                if (name == file) name = menu;
            if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
        }
    std::sort(out.begin(), out.end());
    return out;
}

std::string find_upscaler_file(const std::string& name, const std::vector<std::string>& dirs) {
    if (name == "LDSR") return find_ldsr_file(dirs);
    const auto& kEndings = kUpscalerEndings;
    std::string stem = name;
    for (const auto& [menu, file] : kMenuNames)
        if (name == menu) stem = file;
    if (stem.empty()) return "";
    for (const auto& dir : dirs)
        for (const auto& path : io::files_under(dir, kEndings))
            if (io::name_without(path, kEndings) == stem && !is_ldsr_file(path)) return path;
    return "";
}

std::vector<std::string> upscaler_file_dirs(const std::vector<std::string>& requested, const std::string& checkpoint) {
    std::vector<std::string> dirs;
    if (!checkpoint.empty()) {
        for (const auto& d : io::search_dirs(requested, checkpoint, "ESRGAN", {"/../"}, "GIMP_DIFFUSION_ESRGAN_DIR")) dirs.push_back(d);
        for (const auto& d : io::search_dirs({}, checkpoint, "RealESRGAN", {"/../"}, "GIMP_DIFFUSION_ESRGAN_DIR")) dirs.push_back(d);
        for (const char* sub : {"SwinIR", "ScuNET", "DAT", "LDSR"})
            for (const auto& d : io::search_dirs({}, checkpoint, sub, {"/../"}, "GIMP_DIFFUSION_ESRGAN_DIR")) dirs.push_back(d);
    } else {
        for (const auto& d : io::search_dirs(requested, "", "ESRGAN", {}, "GIMP_DIFFUSION_ESRGAN_DIR")) dirs.push_back(d);
        for (const auto& d : io::search_dirs({}, "", "RealESRGAN", {}, "GIMP_DIFFUSION_ESRGAN_DIR")) dirs.push_back(d);
        for (const char* sub : {"SwinIR", "ScuNET", "DAT", "LDSR"})
            for (const auto& d : io::search_dirs({}, "", sub, {}, "GIMP_DIFFUSION_ESRGAN_DIR")) dirs.push_back(d);
    }
    std::vector<std::string> unique;
    for (auto& d : dirs)
        if (std::find(unique.begin(), unique.end(), d) == unique.end()) unique.push_back(std::move(d));
    return unique;
}

}  // namespace sdgimp
