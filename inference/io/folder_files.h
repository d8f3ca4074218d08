// The files of a folder tree the user fills (LoRA, embeddings folders), found by name ending.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

namespace sdgimp::io {

// Paths of the files under `dir` whose names end in one of `endings`: a folder's own files first
// (by name), then its subfolders' (by name), at most `max_depth` folders down. Empty for a folder
// that cannot be read.
std::vector<std::string> files_under(const std::string& dir, const std::vector<std::string>& endings, int max_depth = 3);

// "name" of ".../name.ext" for the first of `endings` that path ends in; "" when none.
std::string name_without(const std::string& path, const std::vector<std::string>& endings);

// The folders a kind of user file (`sub`: "Lora", "embeddings") is looked for in: `requested`,
// `sub` at the given places relative to the checkpoint's folder (A1111's layout: "/", "/../"), then
// the environment variable's (':'-separated) and ~/.local/share/gimp-diffusion/models/<sub>.
std::vector<std::string> search_dirs(const std::vector<std::string>& requested, const std::string& checkpoint,
                                     const std::string& sub, std::initializer_list<const char*> relative, const char* env_var);

}  // namespace sdgimp::io
