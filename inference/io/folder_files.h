// The files of a folder tree the user fills (LoRA, embeddings folders), found by name ending.
#pragma once

#include <string>
#include <vector>

namespace sdgimp::io {

// Paths of the files under `dir` whose names end in one of `endings`: a folder's own files first
// (by name), then its subfolders' (by name), at most `max_depth` folders down. Empty for a folder
// that cannot be read.
std::vector<std::string> files_under(const std::string& dir, const std::vector<std::string>& endings, int max_depth = 3);

// "name" of ".../name.ext" for the first of `endings` that path ends in; "" when none.
std::string name_without(const std::string& path, const std::vector<std::string>& endings);

}  // namespace sdgimp::io
