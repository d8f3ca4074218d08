#include "folder_files.h"

#include <algorithm>
#include <cstdlib>

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>

namespace sdgimp::io {
namespace {

bool ends_with(const std::string& s, const std::string& e) {
    return s.size() > e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
}

void walk(const std::string& dir, const std::vector<std::string>& endings, int depth, std::vector<std::string>* out) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
        const std::string n = e->d_name;
        if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    std::vector<std::string> subdirs;
    for (const auto& n : names) {
        const std::string p = dir + "/" + n;
        struct stat st {};
        if (::stat(p.c_str(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) subdirs.push_back(p);
        else if (std::any_of(endings.begin(), endings.end(), [&](const std::string& e) { return ends_with(n, e); })) out->push_back(p);
    }
    if (depth < 0) return;
    for (const auto& s : subdirs) walk(s, endings, depth - 1, out);
}

}  // namespace

std::vector<std::string> files_under(const std::string& dir, const std::vector<std::string>& endings, int max_depth) {
    std::vector<std::string> out;
    walk(dir, endings, max_depth - 1, &out);
    return out;
}

std::string name_without(const std::string& path, const std::vector<std::string>& endings) {
    const std::string base = path.substr(path.find_last_of('/') + 1);
    for (const auto& e : endings)
        if (ends_with(base, e)) return base.substr(0, base.size() - e.size());
    return "";
}

std::vector<std::string> search_dirs(const std::vector<std::string>& requested, const std::string& checkpoint,
                                     const std::string& sub, std::initializer_list<const char*> relative, const char* env_var) {
    std::vector<std::string> dirs = requested;
    const std::string dir = checkpoint.find('/') == std::string::npos ? "." : checkpoint.substr(0, checkpoint.find_last_of('/'));
    for (const char* rel : relative) dirs.push_back(dir + rel + sub);
    if (const char* env = std::getenv(env_var)) {
        const std::string list = env;
        for (size_t start = 0; start <= list.size();) {
            const size_t end = std::min(list.find(':', start), list.size());
            if (end > start) dirs.push_back(list.substr(start, end - start));
            start = end + 1;
        }
    }
    if (const char* home = std::getenv("HOME")) dirs.push_back(std::string(home) + "/.local/share/gimp-diffusion/models/" + sub);
    return dirs;
}

}  // namespace sdgimp::io
