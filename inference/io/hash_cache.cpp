#include "hash_cache.h"

#include <sys/stat.h>  // mkdir
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "sha256.h"

namespace sdgimp::io {

namespace {

std::string absolute(const std::string& path) {
    char* r = ::realpath(path.c_str(), nullptr);
    if (!r) return path;
    std::string out(r);
    std::free(r);
    return out;
}

nlohmann::json read_cache(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return nlohmann::json::object();
    std::stringstream ss;
    ss << in.rdbuf();
    auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    return j.is_object() ? j : nlohmann::json::object();
}

void make_dirs(const std::string& dir) {
    for (size_t i = 1; i <= dir.size(); ++i)
        if (i == dir.size() || dir[i] == '/') ::mkdir(dir.substr(0, i).c_str(), 0755);
}

bool is_hex64(const std::string& s) {
    return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

std::string hash_cache_path() {
    std::string dir;
    if (const char* c = std::getenv("GIMP_DIFFUSION_CACHE"); c && *c) {
        dir = c;
    } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
        dir = std::string(x) + "/gimp-diffusion";
    } else {
        const char* home = std::getenv("HOME");
        dir = std::string(home && *home ? home : "/tmp") + "/.cache/gimp-diffusion";
    }
    return dir + "/hashes.json";
}

namespace {

std::string entry_sha256(const nlohmann::json& j, const std::string& key, const std::string& now) {
    if (now.empty() || !j.contains(key) || !j[key].is_object()) return "";
    const auto& e = j[key];
    if (e.value("stamp", "") == now && e.contains("sha256") && e["sha256"].is_string() && is_hex64(e["sha256"]))
        return e["sha256"].get<std::string>();
    return "";
}

}  // namespace

std::string remembered_sha256(const std::string& path) {
    return entry_sha256(read_cache(hash_cache_path()), absolute(path), file_stamp(path));
}

std::string cached_sha256(const MappedFile& file) {
    const std::string key = absolute(file.path()), now = file_stamp(file.path()), cache = hash_cache_path();
    nlohmann::json j = read_cache(cache);
    if (std::string known = entry_sha256(j, key, now); !known.empty()) return known;
    const std::string sha = sha256_hex(file.data(), file.size());
    if (now.empty()) return sha;
    j[key] = {{"stamp", now}, {"sha256", sha}};
    // Written beside and renamed over, so a reader never sees half a file.
    make_dirs(cache.substr(0, cache.rfind('/')));
    const std::string tmp = cache + ".tmp" + std::to_string(::getpid());
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << j.dump(1);
        if (!out) {
            ::unlink(tmp.c_str());
            return sha;
        }
    }
    if (::rename(tmp.c_str(), cache.c_str()) != 0) ::unlink(tmp.c_str());
    return sha;
}

}  // namespace sdgimp::io
