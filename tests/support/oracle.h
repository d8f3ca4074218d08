// Where the golden data lives ($GIMP_DIFFUSION_ORACLE, default ../shared/oracle beside the
// repository) and helpers to discover cases from the files themselves.
#pragma once

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include <dirent.h>
#include <sys/stat.h>

namespace sdgimp::test {

inline std::string oracle_dir() {
    if (const char* e = std::getenv("GIMP_DIFFUSION_ORACLE"); e && *e) return e;
    return std::string(SDGIMP_SOURCE_DIR) + "/../shared/oracle";
}

inline bool is_dir(const std::string& p) {
    struct stat st {};
    return stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

inline bool file_exists(const std::string& p) {
    struct stat st {};
    return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

inline std::vector<std::string> list_dir(const std::string& dir) {
    std::vector<std::string> out;
    if (DIR* d = opendir(dir.c_str())) {
        while (dirent* e = readdir(d)) {
            std::string n = e->d_name;
            if (n != "." && n != "..") out.push_back(n);
        }
        closedir(d);
    }
    std::sort(out.begin(), out.end());
    return out;
}

inline bool ends_with(const std::string& s, const std::string& suf) {
    return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

inline std::string read_text(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

inline nlohmann::json read_json(const std::string& path) { return nlohmann::json::parse(read_text(path)); }

// Model folders under nets/: every sub-folder that holds a "<name>.keys.tsv".
struct OracleModel {
    std::string dir, name;
    std::vector<std::string> checkpoints;  // full paths
};

inline std::vector<OracleModel> oracle_models() {
    std::vector<OracleModel> out;
    const std::string nets = oracle_dir() + "/nets";
    for (const std::string& sub : list_dir(nets)) {
        const std::string dir = nets + "/" + sub;
        if (!is_dir(dir)) continue;
        OracleModel m;
        m.dir = dir;
        for (const std::string& f : list_dir(dir)) {
            if (ends_with(f, ".keys.tsv")) m.name = f.substr(0, f.size() - 9);
            const bool weights = ends_with(f, ".safetensors") || ends_with(f, ".ckpt") || ends_with(f, ".pt") || ends_with(f, ".pth");
            if (weights && f.rfind("ref_", 0) != 0) m.checkpoints.push_back(dir + "/" + f);
        }
        if (!m.name.empty()) out.push_back(m);
    }
    return out;
}

// The first SD 1.x model of the oracle that is not an inpainting one, or nullptr.
inline const OracleModel* plain_sd1_model() {
    static const auto models = oracle_models();
    for (const auto& m : models)
        if (m.name.find("sd1") != std::string::npos && m.name.find("inpaint") == std::string::npos) return &m;
    return nullptr;
}

}  // namespace sdgimp::test
