#include "settings.h"

#include <libgimp/gimp.h>

#include <cstdlib>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "io/embedding_files.h"
#include "io/folder_files.h"
#include "status.h"
#include "upscalers.h"
#include "wire.h"

namespace sdgimp::plugin {

nlohmann::json model_header(const Settings& s, const std::string& model_path, const std::string& prediction) {
    nlohmann::json m = {{"path", model_path}, {"vocab", s.vocab}, {"precision", s.precision}, {"device", s.device}, {"vae", s.vae}};
    if (!prediction.empty()) m["prediction"] = prediction;
    nlohmann::json loras = nlohmann::json::array();
    for (const auto& dir : model_folders()) loras.push_back(dir + "/Lora");
    m["lora_dirs"] = loras;
    nlohmann::json embeddings = nlohmann::json::array();
    for (const auto& dir : model_folders()) embeddings.push_back(dir + "/embeddings");
    m["embedding_dirs"] = embeddings;
    nlohmann::json upscalers = nlohmann::json::array();
    for (const auto& dir : model_folders())
        for (const char* sub : {"/ESRGAN", "/RealESRGAN"}) upscalers.push_back(dir + sub);
    m["upscaler_dirs"] = upscalers;
    m["face_restoration_dirs"] = face_model_dirs(s);
    nlohmann::json hypernetworks = nlohmann::json::array();
    for (const auto& dir : model_folders()) hypernetworks.push_back(dir + "/hypernetworks");
    m["hypernetwork_dirs"] = hypernetworks;
    nlohmann::json taesd = nlohmann::json::array();
    for (const auto& dir : model_folders()) taesd.push_back(dir + "/VAE-taesd");
    m["taesd_dirs"] = taesd;
    nlohmann::json approx = nlohmann::json::array();
    for (const auto& dir : model_folders()) approx.push_back(dir + "/VAE-approx");
    m["vae_approx_dirs"] = approx;
    return m;
}

std::string settings_path() { return std::string(gimp_directory()) + "/gimp-diffusion.json"; }

Settings load_settings() {
    Settings s;
    std::ifstream f(settings_path());
    if (!f) return s;
    std::stringstream ss;
    ss << f.rdbuf();
    const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
    if (!j.is_object()) return s;  // a damaged file only loses the remembered values
    try {
        if (j.contains("request")) s.last = wire::request_from_json(j["request"]);
    } catch (const Error&) {
    }
    if (j.contains("model") && j["model"].is_string()) s.model = j["model"];
    if (j.contains("vocab") && j["vocab"].is_string()) s.vocab = j["vocab"];
    if (j.contains("precision") && j["precision"].is_string()) s.precision = j["precision"];
    if (j.contains("vae") && j["vae"].is_string()) s.vae = j["vae"];
    if (j.contains("device") && j["device"].is_string()) s.device = j["device"];
    if (j.contains("tools") && j["tools"].is_object())
        for (const auto& [proc, fields] : j["tools"].items())
            if (fields.is_object())
                for (const auto& [k, v] : fields.items())
                    if (v.is_string()) s.tools[proc][k] = v.get<std::string>();
    return s;
}

void save_settings(const Settings& s) {
    const nlohmann::json j = {{"request", wire::request_to_json(s.last)}, {"model", s.model}, {"vocab", s.vocab},
                              {"precision", s.precision}, {"device", s.device}, {"vae", s.vae}, {"tools", s.tools}};
    const std::string tmp = settings_path() + ".tmp";
    {
        std::ofstream f(tmp);
        f << j.dump(2) << "\n";
    }
    std::rename(tmp.c_str(), settings_path().c_str());
}

std::vector<std::string> model_folders() {
    std::vector<std::string> out = {std::string(gimp_directory()) + "/diffusion-models"};
    if (const char* home = std::getenv("HOME")) out.push_back(std::string(home) + "/.local/share/gimp-diffusion/models");
    return out;
}

namespace {

bool exists(const std::string& p) { return ::access(p.c_str(), R_OK) == 0; }

bool is_checkpoint(const std::string& n) {
    for (const char* ext : {".safetensors", ".ckpt"}) {
        const std::string e = ext;
        if (n.size() > e.size() && n.compare(n.size() - e.size(), e.size(), e) == 0) return true;
    }
    return false;
}

}  // namespace

std::string resolve_model(const std::string& explicit_path, const Settings& s) {
    if (!explicit_path.empty()) {
        if (!exists(explicit_path)) throw Error(ErrorCode::kModelNotFound, "The model file " + explicit_path + " does not exist or cannot be read.");
        return explicit_path;
    }
    if (!s.model.empty() && exists(s.model)) return s.model;
    if (const char* e = std::getenv("GIMP_DIFFUSION_MODEL"); e && *e && exists(e)) return e;
    for (const auto& dir : model_folders()) {
        std::vector<std::string> found;
        if (DIR* d = opendir(dir.c_str())) {
            while (dirent* e = readdir(d))
                if (is_checkpoint(e->d_name)) found.push_back(dir + "/" + e->d_name);
            closedir(d);
        }
        std::sort(found.begin(), found.end());
        if (!found.empty()) return found.front();
    }
    throw Error(ErrorCode::kModelNotFound,
                "No Stable Diffusion checkpoint found; put one (e.g. v2-1_768-ema-pruned.safetensors) in " +
                    model_folders().back() + " or choose it with Filters > Diffusion > Load Model.");
}

std::string engine_program() {
    if (const char* e = std::getenv("GIMP_DIFFUSION_CLI"); e && *e) return e;
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        std::string dir(self, static_cast<size_t>(n));
        dir = dir.substr(0, dir.find_last_of('/'));
        if (::access((dir + "/gimp-diffusion-cli").c_str(), X_OK) == 0) return dir + "/gimp-diffusion-cli";
    }
    if (const char* path = std::getenv("PATH")) {
        std::stringstream ss(path);
        std::string d;
        while (std::getline(ss, d, ':'))
            if (!d.empty() && ::access((d + "/gimp-diffusion-cli").c_str(), X_OK) == 0) return d + "/gimp-diffusion-cli";
    }
    return "gimp-diffusion-cli";
}

namespace {

bool is_vae_file(const std::string& name) {
    for (const char* ext : {".vae.safetensors", ".vae.ckpt", ".vae.pt"})
        if (g_str_has_suffix(name.c_str(), ext)) return true;
    return false;
}

}  // namespace

std::vector<std::string> model_choices(const Settings& s) {
    std::vector<std::string> out;
    if (!s.model.empty()) out.push_back(s.model);
    for (const auto& dir : model_folders()) {
        GDir* d = g_dir_open(dir.c_str(), 0, nullptr);
        if (!d) continue;
        while (const gchar* n = g_dir_read_name(d)) {
            const std::string f = n;
            if ((g_str_has_suffix(n, ".safetensors") || g_str_has_suffix(n, ".ckpt")) && !is_vae_file(f) &&
                std::find(out.begin(), out.end(), dir + "/" + f) == out.end())
                out.push_back(dir + "/" + f);
        }
        g_dir_close(d);
    }
    return out;
}

std::vector<std::string> vae_choices(const Settings& s) {
    std::vector<std::string> out = {"Automatic", "None"};
    auto add = [&](const std::string& p) {
        if (std::find(out.begin(), out.end(), p) == out.end()) out.push_back(p);
    };
    if (!s.vae.empty()) add(s.vae);
    for (const auto& dir : model_folders()) {
        for (const bool vae_dir : {false, true}) {
            const std::string d = vae_dir ? dir + "/VAE" : dir;
            GDir* g = g_dir_open(d.c_str(), 0, nullptr);
            if (!g) continue;
            while (const gchar* n = g_dir_read_name(g))
                if (vae_dir ? g_str_has_suffix(n, ".safetensors") || g_str_has_suffix(n, ".ckpt") || g_str_has_suffix(n, ".pt")
                            : is_vae_file(n))
                    add(d + "/" + n);
            g_dir_close(g);
        }
    }
    return out;
}

std::vector<std::string> lora_names() {
    std::vector<std::string> out;
    static const std::vector<std::string> kEndings = {".safetensors", ".pt", ".ckpt"};
    for (const auto& dir : model_folders())
        for (const auto& path : io::files_under(dir + "/Lora", kEndings)) out.push_back(io::name_without(path, kEndings));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::vector<std::string> hypernetwork_names() {
    std::vector<std::string> out;
    for (const auto& dir : model_folders())
        for (const auto& path : io::files_under(dir + "/hypernetworks", {".pt"}))
            if (io::name_without(path, {".pt"}) != "None") out.push_back(io::name_without(path, {".pt"}));
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

std::vector<text::PromptStyle> prompt_styles(const std::string& model, std::vector<std::string>* problems) {
    std::vector<std::string> files;
    if (!model.empty()) {
        const std::string dir = model.substr(0, model.find_last_of('/') == std::string::npos ? 0 : model.find_last_of('/'));
        files.push_back(dir + "/../../styles.csv");
    }
    for (const auto& dir : model_folders()) {
        files.push_back(dir + "/../styles.csv");
        files.push_back(dir + "/styles.csv");
    }
    if (const char* env = std::getenv("GIMP_DIFFUSION_STYLES")) {
        std::string list = env;
        size_t from = 0;
        while (from <= list.size()) {
            const size_t to = std::min(list.find(':', from), list.size());
            if (to > from) files.push_back(list.substr(from, to - from));
            from = to + 1;
        }
    }
    std::vector<text::PromptStyle> out;
    std::vector<std::string> seen;
    for (const auto& f : files) {
        char* real = ::realpath(f.c_str(), nullptr);
        if (!real) continue;  // not there
        const std::string key = real;
        std::free(real);
        if (std::find(seen.begin(), seen.end(), key) != seen.end()) continue;
        seen.push_back(key);
        try {
            for (auto& st : text::read_styles_csv(key)) {
                auto it = std::find_if(out.begin(), out.end(), [&](const text::PromptStyle& o) { return o.name == st.name; });
                if (it != out.end()) *it = st;
                else out.push_back(st);
            }
        } catch (const Error& e) {
            if (problems) problems->push_back(e.what());
        }
    }
    return out;
}

std::vector<std::pair<std::string, int>> embedding_counts(const std::string& model) {
    std::vector<std::string> dirs;
    for (const auto& dir : model_folders()) dirs.push_back(dir + "/embeddings");
    std::vector<std::pair<std::string, int>> out;
    for (const auto& e : io::list_embeddings(io::search_dirs(dirs, model, "embeddings", {"/", "/../", "/../../"}, "GIMP_DIFFUSION_EMBEDDINGS_DIR")))
        out.emplace_back(e.name, static_cast<int>(e.vectors));
    return out;
}

std::vector<std::string> upscaler_names(const Settings& s) {
    std::vector<std::string> dirs;
    for (const auto& dir : model_folders())
        for (const char* sub : {"/ESRGAN", "/RealESRGAN"}) dirs.push_back(dir + sub);
    return upscaler_file_names(upscaler_file_dirs(dirs, s.model));
}

std::vector<std::string> face_model_dirs(const Settings& s) {
    std::vector<std::string> dirs;
    for (const auto& dir : model_folders())
        for (const char* sub : {"/GFPGAN", "/Codeformer"}) dirs.push_back(dir + sub);
    if (s.model.find('/') != std::string::npos)
        for (const char* sub : {"/../GFPGAN", "/../Codeformer"}) dirs.push_back(s.model.substr(0, s.model.find_last_of('/')) + sub);
    return dirs;
}

text::DeepBooruOptions deepbooru_options(const Settings& s) {
    text::DeepBooruOptions o;
    const auto saved = s.tools.find("plug-in-diffusion-interrogate-deepbooru");
    if (saved == s.tools.end()) return o;
    auto value = [&](const char* key) -> const std::string* {
        const auto it = saved->second.find(key);
        return it == saved->second.end() ? nullptr : &it->second;
    };
    if (const auto* v = value("threshold")) o.threshold = std::atof(v->c_str());
    if (const auto* v = value("sort_alpha")) o.sort_alpha = *v == "1";
    if (const auto* v = value("use_spaces")) o.use_spaces = *v == "1";
    if (const auto* v = value("escape")) o.escape = *v == "1";
    if (const auto* v = value("include_ranks")) o.include_ranks = *v == "1";
    if (const auto* v = value("filter_tags")) o.filter_tags = *v;
    return o;
}

std::vector<std::string> deepbooru_model_dirs(const Settings& s) {
    std::vector<std::string> dirs;
    for (const auto& dir : model_folders()) dirs.push_back(dir + "/DeepDanbooru");
    if (s.model.find('/') != std::string::npos) dirs.push_back(s.model.substr(0, s.model.find_last_of('/')) + "/../DeepDanbooru");
    return dirs;
}

}  // namespace sdgimp::plugin
