#include "checkpoint_match.h"

#include "io/hash_cache.h"
#include "io/mapped_file.h"
#include "io/model_hash.h"
#include "status.h"

namespace sdgimp {

namespace {

std::string without_extension(const std::string& name) {
    const size_t dot = name.rfind('.');
    return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

std::string shorthash(const CheckpointNames& c) { return c.sha256.substr(0, 10); }

// A1111's re_strip_checksum, r"\s*\[[^]]+]\s*$": a trailing bracketed checksum and the blanks around it.
std::string strip_checksum(const std::string& s) {
    auto blank = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
    size_t end = s.size();
    while (end > 0 && blank(s[end - 1])) --end;
    if (end == 0 || s[end - 1] != ']') return s;
    const size_t open = s.rfind('[', end - 1);
    // [^]]+ : at least one character, none of them ']'.
    if (open == std::string::npos || open + 1 >= end - 1 || s.find(']', open + 1) != end - 1) return s;
    size_t begin = open;
    while (begin > 0 && blank(s[begin - 1])) --begin;
    return s.substr(0, begin);
}

}  // namespace

std::string CheckpointNames::title() const { return sha256.empty() ? name : name + " [" + shorthash(*this) + "]"; }

std::vector<std::string> CheckpointNames::ids() const {
    const std::string stem = without_extension(name);
    std::vector<std::string> ids = {old_hash, stem, title(), name, stem, name + " [" + old_hash + "]"};
    if (!sha256.empty()) {
        const std::string s = shorthash(*this);
        for (const std::string& id : {s, sha256, name + " [" + s + "]", stem + " [" + s + "]"}) ids.push_back(id);
    }
    return ids;
}

CheckpointNames checkpoint_names(const std::string& path) {
    CheckpointNames c;
    c.path = path;
    c.name = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
    try {
        c.old_hash = io::old_model_hash(*io::MappedFile::open(path));
    } catch (const Error&) {
    }
    c.sha256 = io::remembered_sha256(path);
    return c;
}

std::string closest_checkpoint(const std::vector<CheckpointNames>& files, const std::string& search) {
    if (search.empty()) return "";
    // checkpoint_aliases: later files' names win over earlier ones, as a dict filled in order.
    std::string exact;
    for (const auto& f : files)
        for (const auto& id : f.ids())
            if (!id.empty() && id == search) exact = f.path;
    if (!exact.empty()) return exact;
    for (const std::string& text : {search, strip_checksum(search)}) {
        const CheckpointNames* best = nullptr;
        for (const auto& f : files)
            if (f.title().find(text) != std::string::npos && (!best || f.title().size() < best->title().size())) best = &f;
        if (best) return best->path;
    }
    return "";
}

std::string closest_checkpoint(const std::vector<std::string>& paths, const std::string& search) {
    std::vector<CheckpointNames> files;
    for (const auto& p : paths) files.push_back(checkpoint_names(p));
    return closest_checkpoint(files, search);
}

}  // namespace sdgimp
